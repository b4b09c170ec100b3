"""Process logging, set up here for `serve` and `demo`: level, text or JSON lines, access log."""

from __future__ import annotations

import datetime as dt
import json
import logging
import sys
from collections.abc import Callable
from typing import Any, TextIO, TypeVar

ACCESS_LOGGER = "hypercorn.access"
# hypercorn's access-log atoms: peer, method + path (no query string: an SSE or WebSocket
# `access_token` travels there), status, response bytes, duration in microseconds.
ACCESS_LOG_FORMAT = '%(h)s "%(r)s" %(s)s %(b)s %(D)sus'
TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"
# Libraries that are chatty at INFO about things Canvas already reports itself.
QUIET_LOGGERS = ("httpx", "httpcore")

# Attributes every LogRecord has; anything else on a record came from `extra=` (context).
_STANDARD = set(vars(logging.LogRecord("", 0, "", 0, "", (), None))) | {"message", "asctime"}

S = TypeVar("S")


def context_of(record: logging.LogRecord) -> dict[str, Any]:
    """The `extra=` context of a record (series_id, job...), in the order it was given."""
    return {k: v for k, v in vars(record).items() if k not in _STANDARD and not k.startswith("_")}


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time (UTC, ISO 8601), level, logger, message, context."""

    def format(self, record: logging.LogRecord) -> str:
        doc: dict[str, Any] = {
            "time": dt.datetime.fromtimestamp(record.created, dt.UTC).isoformat(
                timespec="milliseconds"
            ),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        for key, value in context_of(record).items():
            doc.setdefault(key, value)
        if record.exc_info:
            doc["exception"] = self.formatException(record.exc_info)
        if record.stack_info:
            doc["stack"] = self.formatStack(record.stack_info)
        return json.dumps(doc, default=str, ensure_ascii=False)


class TextFormatter(logging.Formatter):
    """`time LEVEL logger: message`, then the record's context as ` key=value` pairs."""

    def __init__(self) -> None:
        super().__init__(TEXT_FORMAT)

    def formatMessage(self, record: logging.LogRecord) -> str:
        line = super().formatMessage(record)
        context = context_of(record)
        if context:
            line += " " + " ".join(f"{k}={v}" for k, v in context.items())
        return line


class _CanvasHandler(logging.StreamHandler):
    """The handler `configure_logging` installs (so reconfiguring replaces only its own)."""


def configure_logging(
    level: str = "INFO", fmt: str = "text", access_log: bool = False, stream: TextIO | None = None
) -> logging.Handler:
    """Send every log record at `level` or above to `stream` (stderr) as text or JSON lines.

    With `access_log`, hypercorn's per-request lines go through the same handler whatever
    `level` is. Returns the installed handler; calling again replaces it.
    """
    root = logging.getLogger()
    for old in [h for h in root.handlers if isinstance(h, _CanvasHandler)]:
        root.removeHandler(old)
        old.close()
    handler = _CanvasHandler(sys.stderr if stream is None else stream)
    handler.setFormatter(JsonFormatter() if fmt == "json" else TextFormatter())
    root.addHandler(handler)
    root.setLevel(level)
    for name in QUIET_LOGGERS:
        logging.getLogger(name).setLevel(logging.WARNING)
    access = logging.getLogger(ACCESS_LOGGER)
    access.setLevel(logging.INFO if access_log else logging.CRITICAL + 1)
    access.propagate = True
    return handler


def configure_from(settings: Any, stream: TextIO | None = None) -> logging.Handler:
    """`configure_logging` with the LOG_LEVEL, LOG_FORMAT and ACCESS_LOG settings."""
    return configure_logging(settings.log_level, settings.log_format, settings.access_log, stream)


class _Held(logging.Handler):
    """Keeps records logged before logging is configured, to emit them once it is."""

    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


def load_then_configure(load: Callable[[], S], configure: Callable[[S], Any]) -> S:
    """Run `load` (settings, which may log warnings), `configure` logging from its result,
    then emit what `load` logged through the configured handlers.

    If `load` raises, its records are emitted as text on stderr before the error propagates.
    """
    root = logging.getLogger()
    held = _Held()
    root.addHandler(held)
    try:
        result = load()
    except BaseException:
        root.removeHandler(held)
        configure_logging()
        raise
    else:
        root.removeHandler(held)
        configure(result)
    finally:
        for record in held.records:
            logging.getLogger(record.name).handle(record)
    return result
