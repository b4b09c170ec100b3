"""`canvas demo`: the simulated exchange and Canvas pointed at it, offline, in one process."""

from __future__ import annotations

import argparse
import json
import logging
import signal
import sys
from pathlib import Path

import trio

from canvas.server import Server
from canvas.settings import Settings, SettingsError
from canvas.simexchange.config import SimConfig
from canvas.simexchange.server import SimExchange

DEMO_SERIES = (
    "binance:futures:BTC/USDT:1m",
    "binance:futures:ETH/USDT:1m",
    "binance:spot:BTC/USDT:1m",
)


async def _run(settings_overrides: dict[str, object], speed: float) -> None:
    sim = SimExchange(SimConfig(speed=speed, messages_per_bucket=6))
    with trio.open_signal_receiver(signal.SIGINT, signal.SIGTERM) as signals:
        async with trio.open_nursery() as nursery:
            handle = await nursery.start(sim.run)
            settings = Settings.load(
                BINANCE_SPOT_BASE_URL=handle.spot_rest_base,
                BINANCE_FUTURES_BASE_URL=handle.futures_rest_base,
                BINANCE_SPOT_WS_BASE_URL=handle.spot_ws_base,
                BINANCE_FUTURES_WS_BASE_URL=handle.futures_ws_base,
                **settings_overrides,
            )
            server = Server(settings)

            async def serve(*, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED):
                await server.run(task_status=task_status)
                # Canvas has shut down gracefully: now stop the simulated exchange too.
                nursery.cancel_scope.cancel()

            await nursery.start(serve)
            sid = DEMO_SERIES[0]
            print(
                f"demo: simulated exchange on {handle.base_url} (speed x{speed:g}), "
                f"Canvas on {server.base_url}\n"
                f"  open {server.base_url}/ in a browser for the chart page\n"
                f"  curl '{server.base_url}/api/market/candles?series_id={sid}&limit=3'\n"
                f"  curl '{server.base_url}/api/frame/live?series_id={sid}'\n"
                f"  curl '{server.base_url}/api/market/debug/ingest_state'\n"
                f"  WebSocket {server.base_url.replace('http', 'ws')}/ws/market",
                flush=True,
            )
            async for _ in signals:
                server.request_stop()
                break


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="canvas demo", description=__doc__)
    parser.add_argument(
        "--speed",
        type=float,
        default=60.0,
        help="sim seconds per real second (60: one 1m candle per second)",
    )
    parser.add_argument("--data-dir", default="data/demo", help="where the demo keeps its ledgers")
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    logging.getLogger("httpx").setLevel(logging.WARNING)
    whitelist = Path(args.data_dir) / "whitelist.json"
    whitelist.parent.mkdir(parents=True, exist_ok=True)
    whitelist.write_text(json.dumps({"series_ids": list(DEMO_SERIES)}))
    overrides = {
        "DATA_DIR": args.data_dir,
        "WHITELIST_PATH": str(whitelist),
        "ENABLE_INGEST": True,
        "ENABLE_DEBUG_API": True,
        "ENABLE_KLINE_HEALTH_V2": True,
        "INGEST_BOOTSTRAP_CANDLES": 500,
    }
    try:
        trio.run(_run, overrides, args.speed)
    except SettingsError as exc:
        print(f"canvas demo: invalid setting {exc}", file=sys.stderr)
        return 2
    return 0
