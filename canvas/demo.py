"""`canvas demo`: the simulated exchange and Canvas pointed at it, offline, in one process."""

from __future__ import annotations

import argparse
import json
import signal
import sys
from collections.abc import Sequence
from pathlib import Path

import attrs
import trio

from canvas.cli import add_log_level, run_guarded
from canvas.logs import configure_from, load_then_configure
from canvas.server import Server
from canvas.settings import Settings, SettingsError
from canvas.simexchange.config import SimConfig
from canvas.simexchange.server import SimExchange

DEMO_SERIES = (
    "binance:futures:BTC/USDT:1m",
    "binance:futures:ETH/USDT:1m",
    "binance:spot:BTC/USDT:1m",
)


async def _run(settings: Settings, speed: float) -> None:
    sim = SimExchange(SimConfig(speed=speed, messages_per_bucket=6))
    with trio.open_signal_receiver(signal.SIGINT, signal.SIGTERM) as signals:
        async with trio.open_nursery() as nursery:
            handle = await nursery.start(sim.run)
            server = Server(
                attrs.evolve(
                    settings,
                    binance_spot_base_url=handle.spot_rest_base,
                    binance_futures_base_url=handle.futures_rest_base,
                    binance_spot_ws_base_url=handle.spot_ws_base,
                    binance_futures_ws_base_url=handle.futures_ws_base,
                )
            )

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


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="canvas demo",
        description="Run a simulated Binance exchange and Canvas pointed at it, offline, in one "
        "process: three whitelisted series, the debug API on. Other settings come from "
        "TRADE_CANVAS_* variables and the config file as for `canvas serve`.",
    )
    parser.add_argument(
        "--speed",
        type=float,
        default=60.0,
        help="sim seconds per real second (60: one 1m candle per second)",
    )
    parser.add_argument("--data-dir", default="data/demo", help="where the demo keeps its ledgers")
    add_log_level(parser)
    return parser


def main(argv: Sequence[str]) -> int:
    """Run `canvas demo` until SIGINT/SIGTERM; returns the exit status."""
    args = _parser().parse_args(list(argv))
    whitelist = Path(args.data_dir) / "whitelist.json"
    overrides: dict[str, object] = {
        "DATA_DIR": args.data_dir,
        "WHITELIST_PATH": str(whitelist),
        "ENABLE_INGEST": True,
        "ENABLE_DEBUG_API": True,
        "ENABLE_KLINE_HEALTH_V2": True,
        "INGEST_BOOTSTRAP_CANDLES": 500,
    }
    if args.log_level:
        overrides["LOG_LEVEL"] = args.log_level
    try:
        settings = load_then_configure(lambda: Settings.load(**overrides), configure_from)
    except SettingsError as exc:
        print(f"canvas demo: invalid setting {exc}", file=sys.stderr)
        return 2
    whitelist.parent.mkdir(parents=True, exist_ok=True)
    whitelist.write_text(json.dumps({"series_ids": list(DEMO_SERIES)}))
    return run_guarded(lambda: trio.run(_run, settings, args.speed), "canvas demo")
