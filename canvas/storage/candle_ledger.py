"""The closed-candle ledger of one series: upserts and ordered reads over `candles`."""

from __future__ import annotations

from collections.abc import Iterable

import apsw

from canvas.candles import Row

# The `candles` component's numbered migrations (applied by canvas.storage.ledger_schema).
MIGRATIONS: tuple[str, ...] = (
        """
        CREATE TABLE candles (
            candle_time INTEGER PRIMARY KEY,
            open REAL NOT NULL, high REAL NOT NULL, low REAL NOT NULL,
            close REAL NOT NULL, volume REAL NOT NULL
        ) WITHOUT ROWID
        """,
)

_COLS = "candle_time, open, high, low, close, volume"


def upsert(conn: apsw.Connection, rows: Iterable[Row]) -> None:
    """Insert or overwrite rows by candle_time; the caller owns the transaction."""
    conn.executemany(
        f"INSERT INTO candles({_COLS}) VALUES (?, ?, ?, ?, ?, ?)"
        " ON CONFLICT(candle_time) DO UPDATE SET open=excluded.open, high=excluded.high,"
        " low=excluded.low, close=excluded.close, volume=excluded.volume",
        rows,
    )


def get_many(conn: apsw.Connection, times: list[int]) -> dict[int, Row]:
    """The stored rows among `times` (used to tell changed rows from identical re-posts)."""
    out: dict[int, Row] = {}
    for t in times:
        r = conn.execute(f"SELECT {_COLS} FROM candles WHERE candle_time = ?", (t,)).fetchone()
        if r is not None:
            out[t] = r
    return out


def head_time(conn: apsw.Connection) -> int | None:
    return conn.execute("SELECT MAX(candle_time) FROM candles").fetchone()[0]


def first_time(conn: apsw.Connection) -> int | None:
    return conn.execute("SELECT MIN(candle_time) FROM candles").fetchone()[0]


def count(conn: apsw.Connection, lo: int | None = None, hi: int | None = None) -> int:
    """Number of candles with lo <= candle_time <= hi (open ends when None)."""
    return conn.execute(
        "SELECT COUNT(*) FROM candles WHERE candle_time >= ? AND candle_time <= ?",
        (lo if lo is not None else -1, hi if hi is not None else 2**62),
    ).fetchone()[0]


def floor_time(conn: apsw.Connection, t: int) -> int | None:
    """The largest stored candle_time <= t (the store floor, §1.4)."""
    return conn.execute(
        "SELECT MAX(candle_time) FROM candles WHERE candle_time <= ?", (t,)
    ).fetchone()[0]


# The two shapes of a §2.1 page; each is one range scan of the candle_time key from the end it
# keeps (the tests check the query plans).
PAGE_NEWEST = f"SELECT {_COLS} FROM candles WHERE candle_time < ? ORDER BY candle_time DESC LIMIT ?"
PAGE_AFTER = (
    f"SELECT {_COLS} FROM candles WHERE candle_time > ? AND candle_time < ?"
    " ORDER BY candle_time LIMIT ?"
)


def page(conn: apsw.Connection, since: int | None, before: int | None, limit: int) -> list[Row]:
    """One page of `GET /api/market/candles` (§2.1), ascending.

    Without `since`: the newest `limit` rows below `before`. With `since`: the first `limit`
    rows after it (and below `before`). Both bounds are exclusive; None means open.
    """
    hi = before if before is not None else 2**62
    if since is None:
        rows = conn.execute(PAGE_NEWEST, (hi, limit)).fetchall()
        rows.reverse()
        return rows
    return conn.execute(PAGE_AFTER, (since, hi, limit)).fetchall()


def range_rows(conn: apsw.Connection, lo: int, hi: int) -> list[Row]:
    """All rows with lo <= candle_time <= hi, ascending."""
    return conn.execute(
        f"SELECT {_COLS} FROM candles WHERE candle_time BETWEEN ? AND ? ORDER BY candle_time",
        (lo, hi),
    ).fetchall()


def newest_after(conn: apsw.Connection, after: int | None, limit: int) -> list[Row]:
    """The newest `limit` rows with candle_time > after (all rows when after is None), ascending."""
    rows = conn.execute(
        f"SELECT {_COLS} FROM candles WHERE candle_time > ? ORDER BY candle_time DESC LIMIT ?",
        (after if after is not None else -1, limit),
    ).fetchall()
    rows.reverse()
    return rows
