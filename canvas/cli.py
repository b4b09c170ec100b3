"""The `canvas` console script: `serve` (the default), `demo`, `simexchange`, `inspect`."""

from __future__ import annotations

import argparse
import os
import sys
import threading
from collections.abc import Callable, Mapping, Sequence

import trio

from canvas.logs import configure_from, load_then_configure
from canvas.native_memory import limit_malloc_arenas
from canvas.settings import Settings, SettingsError

HARD_EXIT_S = 9.5

# name -> one-line help; each command parses its own options (`canvas <command> --help`).
COMMANDS = {
    "serve": "run the Canvas server (the default when no command is given)",
    "demo": "run a simulated exchange and Canvas pointed at it, offline, in one process",
    "simexchange": "run the simulated Binance exchange alone",
    "inspect": "show a running server's ingest jobs, or summarise a data directory",
}


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="canvas",
        description="Canvas: a live market-data server for trading charts.",
        epilog="Run `canvas COMMAND --help` for a command's options.",
    )
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", title="commands")
    for name, text in COMMANDS.items():
        # The command's own parser (run below) owns its options and its --help.
        commands.add_parser(name, help=text, add_help=False)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run one command with its arguments; returns the exit status."""
    argv = list(sys.argv[1:] if argv is None else argv)
    if not argv or (argv[0].startswith("-") and argv[0] not in ("-h", "--help")):
        argv.insert(0, "serve")
    command = _parser().parse_args(argv[:1]).command
    rest = argv[1:]
    if command == "serve":
        return serve(rest)
    if command == "demo":
        from canvas.demo import main as demo_main

        limit_malloc_arenas()  # the demo serves in this process too
        return demo_main(rest)
    if command == "simexchange":
        from canvas.simexchange.cli import main as sim_main

        return sim_main(rest) or 0
    from canvas.inspect import main as inspect_main

    return inspect_main(rest) or 0


def serve_parser() -> argparse.ArgumentParser:
    """`canvas serve`'s options; each one beats its TRADE_CANVAS_* variable and the file."""
    parser = argparse.ArgumentParser(
        prog="canvas serve",
        description="Run the Canvas server until SIGINT or SIGTERM. Settings come from these "
        "options, then TRADE_CANVAS_<KEY> variables, then the config file, then built-in "
        "defaults.",
    )
    parser.add_argument(
        "--config",
        metavar="PATH",
        help="TOML settings file (default: $TRADE_CANVAS_CONFIG, else config/canvas.toml in "
        "the working directory if present)",
    )
    parser.add_argument("--host", help="address to bind (HOST, default 127.0.0.1)")
    parser.add_argument("--port", type=int, help="port to bind, 0 = any free (PORT, default 8000)")
    parser.add_argument(
        "--data-dir", metavar="DIR", help="ledger directory (DATA_DIR, default data)"
    )
    add_log_level(parser)
    return parser


def add_log_level(parser: argparse.ArgumentParser) -> None:
    """`--log-level`, over the LOG_LEVEL setting (serve and demo)."""
    parser.add_argument(
        "--log-level",
        type=str.upper,
        choices=("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"),
        help="LOG_LEVEL, default INFO",
    )


def settings_from_args(argv: Sequence[str], environ: Mapping[str, str] | None = None) -> Settings:
    """The settings `canvas serve ARGV` runs with (options over environment over file)."""
    return settings_from_options(serve_parser().parse_args(list(argv)), environ)


def settings_from_options(
    args: argparse.Namespace, environ: Mapping[str, str] | None = None
) -> Settings:
    """Settings with `canvas serve`'s parsed options on top.

    Raises SettingsError naming the key for anything invalid, the whitelist file included.
    """
    flags = {
        "HOST": args.host,
        "PORT": args.port,
        "DATA_DIR": args.data_dir,
        "LOG_LEVEL": args.log_level,
    }
    overrides = {key: value for key, value in flags.items() if value is not None}
    settings = Settings.load(environ=environ, config_path=args.config, **overrides)
    settings.whitelist()  # a missing or malformed whitelist stops start-up, not the server
    return settings


def serve(argv: Sequence[str]) -> int:
    """`canvas serve`: exit 0 after a signal-driven shutdown, 2 on a bad setting."""
    args = serve_parser().parse_args(list(argv))
    try:
        settings = load_then_configure(lambda: settings_from_options(args), configure_from)
    except SettingsError as exc:
        print(f"canvas: invalid setting {exc}", file=sys.stderr)
        return 2
    from canvas.server import run_until_signal

    limit_malloc_arenas()  # before any worker thread: see canvas/native_memory.py
    return run_guarded(lambda: trio.run(run_until_signal, settings, _arm_hard_exit), "canvas")


def run_guarded(run: Callable[[], object], prog: str) -> int:
    """Run a Trio program; turn its expected failures into one line and an exit status."""
    try:
        run()
    except BaseException as exc:
        leaf = _first_leaf(exc)
        if isinstance(leaf, KeyboardInterrupt):
            return 0
        if isinstance(leaf, SettingsError):
            print(f"{prog}: invalid setting {leaf}", file=sys.stderr)
            return 2
        if isinstance(leaf, OSError):
            print(f"{prog}: cannot serve: {leaf}", file=sys.stderr)
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
