"""The `canvas` console script: `canvas serve` (default), `canvas simexchange`, `canvas inspect`."""

from __future__ import annotations

import argparse
import logging
import os
import sys
import threading
from pathlib import Path

import trio

from canvas.settings import Settings, SettingsError, load_whitelist

HARD_EXIT_S = 9.5


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    command = argv.pop(0) if argv and not argv[0].startswith("-") else "serve"
    if command == "serve":
        return _serve(argv)
    if command == "simexchange":
        from canvas.simexchange.cli import main as sim_main

        return sim_main(argv) or 0
    if command == "demo":
        from canvas.demo import main as demo_main

        return demo_main(argv)
    if command == "inspect":
        from canvas.inspect import main as inspect_main

        return inspect_main(argv) or 0
    print(
        f"canvas: unknown command {command!r} (serve, demo, simexchange, inspect)", file=sys.stderr
    )
    return 2


def _serve(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="canvas serve", description="Run the Canvas server.")
    parser.parse_args(argv)
    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    logging.getLogger("httpx").setLevel(logging.WARNING)
    try:
        settings = Settings.load()
        load_whitelist(Path(settings.whitelist_path))
    except SettingsError as exc:
        print(f"canvas: invalid setting {exc}", file=sys.stderr)
        return 2
    from canvas.server import run_until_signal

    try:
        trio.run(run_until_signal, settings, _arm_hard_exit)
    except BaseException as exc:
        leaf = _first_leaf(exc)
        if isinstance(leaf, KeyboardInterrupt):
            return 0
        if isinstance(leaf, SettingsError):
            print(f"canvas: invalid setting {leaf}", file=sys.stderr)
            return 2
        if isinstance(leaf, OSError):
            print(f"canvas: cannot serve: {leaf}", file=sys.stderr)
            return 1
        raise
    return 0


def _first_leaf(exc: BaseException) -> BaseException:
    while isinstance(exc, BaseExceptionGroup) and len(exc.exceptions) == 1:
        exc = exc.exceptions[0]
    return exc


def _arm_hard_exit() -> None:
    """If graceful shutdown overruns its budget (a peer stuck mid-write), exit anyway."""
    timer = threading.Timer(HARD_EXIT_S, lambda: os._exit(0))
    timer.daemon = True
    timer.start()


if __name__ == "__main__":
    raise SystemExit(main())
