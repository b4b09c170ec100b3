"""WebSocket push benchmark: ack-to-receipt latency, fan-out to many subscribers, slow clients.

Run: .venv/bin/python tests/bench/bench_ws.py [--clients 1000] [--candles 100] [--rate 10]
"""

from __future__ import annotations

import argparse
import json
import os
import time

import httpx
import trio
import trio_websocket
from bench_live import cpu_seconds
from benchlib import canvas_process, percentile, random_walk, rss_mb

SID = "binance:futures:BTC/USDT:1m"


async def connect(nursery, port: int, queue: int = 64):
    stream = await trio.open_tcp_stream("127.0.0.1", port)
    ws = await trio_websocket.wrap_client_stream(
        nursery, stream, f"127.0.0.1:{port}", "/ws/market", message_queue_size=queue
    )
    return ws, stream


async def run(
    url: str, pid: int, clients: int, slow: int, candles: int, rate: float, start: int
) -> dict:
    port = int(url.rsplit(":", 1)[1])
    series = random_walk(candles, start_time=start)
    arrivals: dict[int, list[float]] = {c["candle_time"]: [] for c in series}
    sent_at: dict[int, float] = {}
    acked_at: dict[int, float] = {}
    done = trio.Event()
    remaining = clients * candles

    async def reader(ws):
        nonlocal remaining
        while True:
            text = await ws.get_message()
            now = time.perf_counter()
            # Cheap field extraction: the load generator shares the 2 cores with the server.
            i = text.find('"candle_time":')
            if i < 0 or not text.startswith('{"type":"candle_closed"'):
                continue
            t = int(text[i + 14 : text.index(",", i)])
            arrivals[t].append(now)
            remaining -= 1
            if remaining == 0:
                done.set()

    async with trio.open_nursery() as nursery:
        sockets = []
        for _ in range(clients):
            ws, stream = await connect(nursery, port)
            sockets.append(stream)
            await ws.send_message(
                json.dumps({"type": "subscribe", "series_id": SID, "since": start - 60})
            )
            nursery.start_soon(reader, ws)
        for _ in range(slow):
            ws, stream = await connect(nursery, port, queue=1)
            sockets.append(stream)
            await ws.send_message(
                json.dumps({"type": "subscribe", "series_id": SID, "since": start - 60})
            )
        rss_before = rss_mb(pid)
        cpu0, own0 = cpu_seconds(pid), cpu_seconds(os.getpid())
        async with httpx.AsyncClient(base_url=url, timeout=30) as client:
            t0 = time.perf_counter()
            for i, c in enumerate(series):
                await trio.sleep_until(
                    trio.current_time() + max(0.0, t0 + i / rate - time.perf_counter())
                )
                sent_at[c["candle_time"]] = time.perf_counter()
                r = await client.post(
                    "/api/market/ingest/candle_closed", json={"series_id": SID, "candle": c}
                )
                assert r.status_code == 200, r.text
                acked_at[c["candle_time"]] = time.perf_counter()
            with trio.move_on_after(60):
                await done.wait()
            elapsed = time.perf_counter() - t0
        server_cpu = (cpu_seconds(pid) - cpu0) / elapsed
        client_cpu = (cpu_seconds(os.getpid()) - own0) / elapsed
        rss_after = rss_mb(pid)
        nursery.cancel_scope.cancel()
    for s in sockets:
        await trio.aclose_forcefully(s)
    last = [max(a) - sent_at[t] for t, a in arrivals.items() if len(a) == clients]
    ack_to_first = [min(a) - acked_at[t] for t, a in arrivals.items() if a]
    delivered = sum(len(a) for a in arrivals.values())
    return {
        "deliveries": delivered,
        "expected": clients * candles,
        "deliveries_per_s": delivered / elapsed,
        "p50_last_ms": percentile(last, 50) * 1000,
        "p99_last_ms": percentile(last, 99) * 1000,
        "p50_ack_ms": percentile(ack_to_first, 50) * 1000,
        "p99_ack_ms": percentile(ack_to_first, 99) * 1000,
        "rss_before": rss_before,
        "rss_after": rss_after,
        "server_cpu": server_cpu,
        "client_cpu": client_cpu,
    }


def report(title: str, r: dict) -> None:
    print(
        f"{title}: {r['deliveries']}/{r['expected']} delivered, {r['deliveries_per_s']:,.0f} "
        f"deliveries/s; ingest->last delivery p50 {r['p50_last_ms']:.1f} ms p99 "
        f"{r['p99_last_ms']:.1f} ms; receipt-ack p50 {r['p50_ack_ms']:.2f} ms p99 "
        f"{r['p99_ack_ms']:.2f} ms (negative: the push beat the HTTP ack); "
        f"server RSS {r['rss_before']:.0f} -> {r['rss_after']:.0f} MB; CPU: server "
        f"{r['server_cpu'] * 100:.0f}%, load generator {r['client_cpu'] * 100:.0f}% of a core"
    )


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--clients", type=int, default=1000)
    parser.add_argument("--candles", type=int, default=100)
    parser.add_argument("--rate", type=float, default=10.0, help="ingests per second")
    args = parser.parse_args()
    with canvas_process(ws_slow_consumer_timeout_s="30") as (url, pid):
        report("1 subscriber", trio.run(run, url, pid, 1, 0, 300, 50.0, 60_000_000))
        report(
            f"{args.clients} subscribers",
            trio.run(run, url, pid, args.clients, 0, args.candles, args.rate, 72_000_000),
        )
        report(
            f"{args.clients} subscribers + 10 that never read",
            trio.run(run, url, pid, args.clients, 10, args.candles, args.rate, 84_000_000),
        )
        print(f"server peak RSS {rss_mb(pid, 'VmHWM'):.0f} MB")


if __name__ == "__main__":
    main()
