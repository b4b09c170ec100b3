"""Live ingest benchmark against the simulated exchange (run in this process):

N live 1m series, the sim clock at x60 so one bucket closes per second per series, M kline
messages per bucket, K WebSocket subscribers per series. Prints exchange-close → subscriber
receipt latency, server CPU share and RSS, then the time to catch up a 24-hour outage on a
the series (run with --series 50 for the 50-series figure).

Run: .venv/bin/python tests/bench/bench_live.py [--series 200] [--subs 5] [--seconds 20]
"""

from __future__ import annotations

import argparse
import json
import os
import time

import httpx
import trio
import trio_websocket
from benchlib import canvas_process, percentile, rss_mb

from canvas.simexchange import SimConfig
from canvas.simexchange.server import SimExchange

SPEED = 60.0


def cpu_seconds(pid: int) -> float:
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


async def bench(args) -> None:
    symbols = tuple(f"C{i:03d}USDT" for i in range(args.series))
    series_ids = [f"binance:futures:C{i:03d}/USDT:1m" for i in range(args.series)]
    sim = SimExchange(
        SimConfig(symbols=symbols, speed=SPEED, messages_per_bucket=args.messages, extras=False)
    )
    async with trio.open_nursery() as nursery:
        h = await nursery.start(sim.run)
        import tempfile
        from pathlib import Path

        wl = Path(tempfile.mkdtemp()) / "whitelist.json"
        wl.write_text(json.dumps({"series_ids": series_ids}))
        settings = dict(
            enable_ingest="1",
            enable_debug_api="1",
            whitelist_path=str(wl),
            ingest_bootstrap_candles="120",
            binance_futures_base_url=h.futures_rest_base,
            binance_spot_base_url=h.spot_rest_base,
            binance_futures_ws_base_url=h.futures_ws_base,
            binance_spot_ws_base_url=h.spot_ws_base,
        )
        with canvas_process(**settings) as (url, pid):
            port = int(url.rsplit(":", 1)[1])
            latencies: list[float] = []
            measuring = False

            async def subscriber(sid: str) -> None:
                stream = await trio.open_tcp_stream("127.0.0.1", port)
                try:
                    async with trio.open_nursery() as n:
                        ws = await trio_websocket.wrap_client_stream(
                            n, stream, f"127.0.0.1:{port}", "/ws/market"
                        )
                        await ws.send_message(
                            json.dumps(
                                {"type": "subscribe", "series_id": sid, "supports_batch": True}
                            )
                        )
                        while True:
                            text = await ws.get_message()
                            if not text.startswith('{"type":"candle_closed"'):
                                continue
                            i = text.find('"candle_time":')
                            t = int(text[i + 14 : text.index(",", i)])
                            if measuring:
                                late_ms = (sim.clock.now_ms() - (t + 60) * 1000) / SPEED
                                latencies.append(late_ms)
                finally:
                    await trio.aclose_forcefully(stream)

            async with httpx.AsyncClient(base_url=url, timeout=30) as client:
                with trio.fail_after(120):
                    while True:
                        state = (await client.get("/api/market/debug/ingest_state")).json()
                        if sum(j["state"] == "running" for j in state["jobs"]) == args.series:
                            break
                        await trio.sleep(0.5)
                print(f"{args.series} jobs running; subscribing {args.series * args.subs} clients")
                async with trio.open_nursery() as subs:
                    for sid in series_ids:
                        for _ in range(args.subs):
                            subs.start_soon(subscriber, sid)
                    await trio.sleep(3)
                    measuring = True
                    cpu0, t0 = cpu_seconds(pid), time.perf_counter()
                    own0 = cpu_seconds(os.getpid())
                    if args.profile:
                        import subprocess

                        subprocess.Popen(
                            [
                                "py-spy",
                                "record",
                                "-p",
                                str(pid),
                                "-o",
                                args.profile,
                                "-f",
                                "raw",
                                "-d",
                                str(int(args.seconds) - 1),
                            ],
                            stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL,
                        )
                    await trio.sleep(args.seconds)
                    cpu = (cpu_seconds(pid) - cpu0) / (time.perf_counter() - t0)
                    own = (cpu_seconds(os.getpid()) - own0) / (time.perf_counter() - t0)
                    measuring = False
                    print(
                        f"live: {len(latencies)} deliveries; exchange close -> subscriber p50 "
                        f"{percentile(latencies, 50):.0f} ms, p99 {percentile(latencies, 99):.0f} ms; "
                        f"server CPU {cpu * 100:.0f}% of one core (load generator + exchange: "
                        f"{own * 100:.0f}%); RSS {rss_mb(pid):.0f} MB "
                        f"(peak {rss_mb(pid, 'VmHWM'):.0f} MB)"
                    )
                    subs.cancel_scope.cancel()
                stats = sim.statistics()
                print(
                    f"exchange: {stats.open_streams} WebSocket connections carry the "
                    f"{args.series} live streams"
                )
                # A 24-hour outage of the whole exchange (streams and REST) for every series.
                await sim.refuse_connections()
                sim.clock.set_speed(0)
                sim.clock.advance(86_400_000)
                target = (sim.clock.now_ms() // 60_000) * 60 - 60
                t0 = time.perf_counter()
                await sim.accept_connections()
                check = series_ids
                with trio.fail_after(300):
                    for sid in check:
                        while True:
                            r = await client.get(
                                "/api/market/candles", params={"series_id": sid, "limit": 1}
                            )
                            if r.json()["server_head_time"] == target:
                                break
                            await trio.sleep(0.1)
                print(
                    f"outage: 1,440 candles caught up on {len(check)} of {args.series} series "
                    f"in {time.perf_counter() - t0:.1f} s; RSS {rss_mb(pid):.0f} MB "
                    f"(peak {rss_mb(pid, 'VmHWM'):.0f} MB)"
                )
        nursery.cancel_scope.cancel()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--series", type=int, default=200)
    parser.add_argument("--subs", type=int, default=5)
    parser.add_argument("--messages", type=int, default=10)
    parser.add_argument("--seconds", type=float, default=20)
    parser.add_argument("--profile", help="write a py-spy raw profile of the server here")
    trio.run(bench, parser.parse_args())


if __name__ == "__main__":
    main()
