"""`canvas inspect`: a running server's ingest jobs and series, or a stopped server's data dir."""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, TextIO

import apsw
import attrs
import httpx

from canvas import health
from canvas.errors import InvalidSeriesId
from canvas.series_id import SeriesId
from canvas.storage.db import open_db, series_id_from_path
from canvas.text_table import Column, ago, cell_text, duration, iso_utc, render_table

DEFAULT_URL = "http://127.0.0.1:8000"
DEFAULT_WATCH_S = 2.0
INGEST_STATE_PATH = "/api/market/debug/ingest_state"
ERROR_WIDTH = 60
HASH_WIDTH = 12
# ANSI: cursor home, clear screen; only sent to a terminal.
CLEAR_SCREEN = "\x1b[H\x1b[2J"

# Heads and logic hash written by the factor and overlay stores (canvas/factors/store.py,
# canvas/overlay/store.py): one state row each. Older or partial databases lack the tables.
FACTOR_STATE_SQL = "SELECT head_time, logic_hash FROM factor_series_state"
OVERLAY_STATE_SQL = "SELECT head_time FROM overlay_series_state"


class InspectError(Exception):
    """Inspection is impossible (server unreachable, debug API off, no such directory).

    The message is one line meant for the operator.
    """


# ---- live: a running server ---------------------------------------------------------------


def fetch_ingest_state(url: str, *, timeout: float = 5.0) -> dict[str, Any]:
    """The server's `/api/market/debug/ingest_state` snapshot (§2.6).

    Raises InspectError when the server cannot be reached, the debug API is off (404) or the
    answer is not a JSON object.
    """
    endpoint = url.rstrip("/") + INGEST_STATE_PATH
    try:
        response = httpx.get(endpoint, timeout=timeout)
    except httpx.HTTPError as exc:
        reason = str(exc) or type(exc).__name__
        raise InspectError(f"cannot reach {url}: {reason}") from None
    if response.status_code == 404:
        raise InspectError(
            f"{url} has no debug API (start the server with TRADE_CANVAS_ENABLE_DEBUG_API=1)"
        )
    if response.status_code != 200:
        raise InspectError(f"{endpoint} answered HTTP {response.status_code}")
    try:
        body = response.json()
    except ValueError:
        body = None
    if not isinstance(body, dict):
        raise InspectError(f"{endpoint} did not answer a JSON object")
    return body


JOB_COLUMNS = (
    Column("SERIES"),
    Column("SOURCE"),
    Column("STATE"),
    Column("PINNED"),
    Column("REFS", right=True),
    Column("STARTED"),
    Column("LAST MESSAGE"),
    Column("CRASHES", right=True),
    Column("RETRY IN", right=True),
    Column("LAST ERROR"),
)
SERIES_COLUMNS = (
    Column("SERIES"),
    Column("STATE"),
    Column("MAILBOX", right=True),
    Column("STORE HEAD"),
    Column("FACTOR HEAD"),
    Column("OVERLAY HEAD"),
    Column("SUBS", right=True),
    Column("LAGGING", right=True),
    Column("CRASHES", right=True),
    Column("LAST ERROR"),
)


def render_ingest_state(snapshot: dict[str, Any], url: str) -> str:
    """The snapshot as two tables (jobs, series) and a subscriptions line."""
    generated_ms = snapshot.get("generated_at_ms")
    now = generated_ms / 1000 if isinstance(generated_ms, (int, float)) else time.time()
    ingest = snapshot.get("ingest_enabled")
    ingest_note = "" if ingest is None else f", ingest {'on' if ingest else 'off'}"
    jobs = snapshot.get("jobs") or []
    series = snapshot.get("series") or []
    subscriptions = snapshot.get("subscriptions") or {}
    out = [f"Canvas at {url}, snapshot {iso_utc(now)}{ingest_note}", ""]
    out.append(f"Ingest jobs ({len(jobs)})")
    out.append(render_table(JOB_COLUMNS, (_job_row(j, now) for j in jobs)) if jobs else "(none)")
    out.append("")
    out.append(f"Series actors ({len(series)})")
    out.append(render_table(SERIES_COLUMNS, map(_series_row, series)) if series else "(none)")
    out.append("")
    sockets = sum(v for v in subscriptions.values() if isinstance(v, int))
    out.append(f"Subscriptions: {sockets} on {len(subscriptions)} series")
    return "\n".join(out)


def _job_row(job: dict[str, Any], now: float) -> list[str]:
    retry = job.get("next_retry_in_s")
    return [
        cell_text(job.get("series_id")),
        cell_text(job.get("source")),
        cell_text(job.get("state")),
        "yes" if job.get("pinned") else "no",
        cell_text(job.get("refcount")),
        ago(job.get("started_at"), now),
        ago(job.get("last_message_at"), now),
        cell_text(job.get("crashes")),
        "-" if retry is None else f"{retry:.1f}s",
        cell_text(job.get("last_error"), ERROR_WIDTH),
    ]


def _series_row(entry: dict[str, Any]) -> list[str]:
    return [
        cell_text(entry.get("series_id")),
        cell_text(entry.get("state")),
        cell_text(entry.get("mailbox_depth")),
        iso_utc(entry.get("store_head_time")),
        iso_utc(entry.get("factor_head_time")),
        iso_utc(entry.get("overlay_head_time")),
        cell_text(entry.get("subscribers")),
        cell_text(entry.get("lagging_subscribers")),
        cell_text(entry.get("crashes")),
        cell_text(entry.get("last_error"), ERROR_WIDTH),
    ]


# ---- offline: a stopped server's data directory -------------------------------------------


@attrs.frozen
class SeriesSummary:
    """What one series database holds. `None` heads or hash: absent or not written yet.

    `error` is set (and the figures zero) when the database could not be read.
    """

    series_id: str
    candle_count: int = 0
    first_time: int | None = None
    head_time: int | None = None
    gap_count: int = 0
    max_gap_seconds: int | None = None
    factor_head_time: int | None = None
    overlay_head_time: int | None = None
    logic_hash: str | None = None
    error: str | None = None

    def as_json(self) -> dict[str, Any]:
        return attrs.asdict(self)


def summarise_series(path: Path) -> SeriesSummary:
    """Summarise one series database, opened read-only (safe next to a running server)."""
    series_id = series_id_from_path(path)
    try:
        tf = SeriesId.parse(series_id).tf
    except InvalidSeriesId as exc:
        return SeriesSummary(series_id, error=str(exc))
    try:
        conn = open_db(path, readonly=True)
    except apsw.Error as exc:
        return SeriesSummary(series_id, error=f"cannot open: {exc}")
    try:
        try:
            times = (row[0] for row in conn.execute(health.CANDLE_TIMES_SQL))
            gaps = health.scan_gaps(times, tf, max_recent_gaps=0)
        except apsw.Error as exc:
            return SeriesSummary(series_id, error=f"no candle ledger: {exc}")
        factor = _optional_row(conn, FACTOR_STATE_SQL) or (None, None)
        overlay = _optional_row(conn, OVERLAY_STATE_SQL) or (None,)
        return SeriesSummary(
            series_id,
            gaps.candle_count,
            gaps.first_time,
            gaps.head_time,
            gaps.gap_count,
            gaps.max_gap_seconds,
            factor_head_time=factor[0],
            overlay_head_time=overlay[0],
            logic_hash=factor[1],
        )
    finally:
        conn.close()


def _optional_row(conn: apsw.Connection, sql: str) -> tuple[Any, ...] | None:
    """The first row of `sql`, or None when there is none or its table/column is absent."""
    try:
        return conn.execute(sql).fetchone()
    except apsw.SQLError:
        # A database from before the factor/overlay stores existed: nothing to show.
        return None


def summarise_data_dir(data_dir: Path) -> list[SeriesSummary]:
    """One summary per `DIR/series/*.sqlite`, sorted by series id.

    Raises InspectError when `data_dir` is not a directory.
    """
    if not data_dir.is_dir():
        raise InspectError(f"{data_dir} is not a directory")
    paths = sorted((data_dir / "series").glob("*.sqlite"), key=series_id_from_path)
    return [summarise_series(p) for p in paths]


DATA_COLUMNS = (
    Column("SERIES"),
    Column("CANDLES", right=True),
    Column("FIRST"),
    Column("HEAD"),
    Column("GAPS", right=True),
    Column("LARGEST GAP", right=True),
    Column("FACTOR HEAD"),
    Column("OVERLAY HEAD"),
    Column("LOGIC HASH"),
)


def render_data_dir(data_dir: Path, summaries: Sequence[SeriesSummary]) -> str:
    """The summaries as a table, with unreadable databases listed after it."""
    head = f"Data directory {data_dir}: {len(summaries)} series"
    if not summaries:
        return f"{head}\n(no series databases under {data_dir / 'series'})"
    readable = [s for s in summaries if s.error is None]
    out = [head, "", render_table(DATA_COLUMNS, map(_summary_row, readable))]
    broken = [s for s in summaries if s.error is not None]
    if broken:
        out += ["", f"Unreadable ({len(broken)})"]
        out += [f"  {s.series_id}: {cell_text(s.error, 2 * ERROR_WIDTH)}" for s in broken]
    return "\n".join(out)


def _time_cell(t: int | None) -> str:
    return "-" if t is None else f"{t} ({iso_utc(t)})"


def _summary_row(s: SeriesSummary) -> list[str]:
    return [
        s.series_id,
        str(s.candle_count),
        _time_cell(s.first_time),
        _time_cell(s.head_time),
        str(s.gap_count),
        duration(s.max_gap_seconds),
        iso_utc(s.factor_head_time),
        iso_utc(s.overlay_head_time),
        cell_text(s.logic_hash, HASH_WIDTH),
    ]


# ---- the command --------------------------------------------------------------------------


def watch(
    render: Callable[[], str],
    seconds: float,
    *,
    out: TextIO | None = None,
    sleep: Callable[[float], None] = time.sleep,
) -> int:
    """Redraw `render()` every `seconds` until Ctrl-C; returns 0.

    A failed refresh shows its error line in place of the report and is retried, so a server
    restart does not end the watch.
    """
    out = out or sys.stdout
    clear = CLEAR_SCREEN if out.isatty() else ""
    try:
        while True:
            try:
                text = render()
            except InspectError as exc:
                text = f"canvas inspect: {exc}"
            footer = f"every {seconds:g}s, Ctrl-C to stop"
            out.write(f"{clear}{text}\n\n({footer})\n")
            out.flush()
            sleep(seconds)
    except KeyboardInterrupt:
        return 0


def _positive_seconds(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number of seconds: {text!r}") from None
    if not 0 < value < float("inf"):
        raise argparse.ArgumentTypeError("seconds must be positive")
    return value


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="canvas inspect",
        description="Show a running server's ingest jobs and series actors (needs its debug "
        "API), or summarise a stopped server's data directory with --data-dir.",
    )
    parser.add_argument("--url", default=DEFAULT_URL, help=f"server URL (default {DEFAULT_URL})")
    parser.add_argument(
        "--data-dir", type=Path, metavar="DIR", help="summarise DIR/series/*.sqlite offline"
    )
    parser.add_argument("--json", action="store_true", help="print JSON instead of tables")
    parser.add_argument(
        "--watch",
        nargs="?",
        const=DEFAULT_WATCH_S,
        type=_positive_seconds,
        metavar="SECONDS",
        help=f"refresh every SECONDS (default {DEFAULT_WATCH_S:g}) until Ctrl-C",
    )
    return parser


def _renderer(args: argparse.Namespace) -> Callable[[], str]:
    if args.data_dir is not None:
        data_dir: Path = args.data_dir

        def offline() -> str:
            summaries = summarise_data_dir(data_dir)
            if args.json:
                doc = {"data_dir": str(data_dir), "series": [s.as_json() for s in summaries]}
                return json.dumps(doc, indent=2)
            return render_data_dir(data_dir, summaries)

        return offline

    def live() -> str:
        snapshot = fetch_ingest_state(args.url)
        if args.json:
            return json.dumps(snapshot, indent=2)
        return render_ingest_state(snapshot, args.url)

    return live


def main(argv: Sequence[str] | None = None) -> int:
    """Run `canvas inspect`; returns the exit code (1 when inspection failed)."""
    args = _parser().parse_args(list(sys.argv[1:] if argv is None else argv))
    render = _renderer(args)
    if args.watch is not None:
        return watch(render, args.watch)
    try:
        text = render()
    except InspectError as exc:
        print(f"canvas inspect: {exc}", file=sys.stderr)
        return 1
    print(text)
    return 0
