"""Command line: `canvas simexchange` / `python -m canvas.simexchange` runs the simulator."""

from __future__ import annotations

import argparse
import signal
import sys
from collections.abc import Sequence

import trio

from canvas.simexchange.config import SimConfig
from canvas.simexchange.listings import DEFAULT_SYMBOLS, split_symbol
from canvas.simexchange.server import SimExchange


def _symbols(text: str) -> tuple[str, ...]:
    symbols = tuple(s.strip() for s in text.split(",") if s.strip())
    if not symbols:
        raise argparse.ArgumentTypeError("at least one symbol")
    try:
        return tuple("".join(split_symbol(s)) for s in symbols)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="canvas simexchange",
        description="Run a simulated Binance exchange (spot + futures REST and kline streams).",
    )
    parser.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1)")
    parser.add_argument("--port", type=int, default=0, help="market port; 0 picks a free one")
    parser.add_argument(
        "--control-port", type=int, default=0, help="port for /_sim/ control only; 0 picks one"
    )
    parser.add_argument(
        "--speed", type=float, default=1.0, help="sim seconds per real second (60: 1m → 1 s)"
    )
    parser.add_argument(
        "--symbols",
        type=_symbols,
        default=DEFAULT_SYMBOLS,
        help="comma-separated symbols, BTCUSDT or BTC/USDT (default: %(default)s)",
    )
    parser.add_argument("--seed", type=int, default=0, help="random-walk seed")
    parser.add_argument(
        "--start-ms", type=int, default=None, help="sim clock start, Unix ms (default: now)"
    )
    parser.add_argument(
        "--messages-per-bucket",
        type=int,
        default=4,
        help="stream messages per bucket: N-1 forming updates then the final one",
    )
    return parser


async def _serve(config: SimConfig) -> None:
    sim = SimExchange(config)
    with trio.open_signal_receiver(signal.SIGTERM, signal.SIGINT) as signals:
        async with trio.open_nursery() as nursery:
            handle = await nursery.start(sim.run)
            print(
                f"simexchange ready port={handle.port} control_port={handle.control_port} "
                f"spot_rest={handle.spot_rest_base} futures_rest={handle.futures_rest_base} "
                f"spot_ws={handle.spot_ws_base} futures_ws={handle.futures_ws_base} "
                f"speed={config.speed} seed={config.seed}",
                flush=True,
            )
            async for _ in signals:
                nursery.cancel_scope.cancel()
                break


def main(argv: Sequence[str] | None = None) -> int:
    """Parse `argv`, serve until SIGINT/SIGTERM, return the exit status."""
    args = _parser().parse_args(argv)
    if args.messages_per_bucket < 1:
        print("--messages-per-bucket must be >= 1", file=sys.stderr)
        return 2
    if not args.speed >= 0:
        print("--speed must be >= 0", file=sys.stderr)
        return 2
    config = SimConfig(
        host=args.host,
        port=args.port,
        control_port=args.control_port,
        seed=args.seed,
        symbols=args.symbols,
        start_ms=args.start_ms,
        speed=args.speed,
        messages_per_bucket=args.messages_per_bucket,
    )
    trio.run(_serve, config)
    return 0
