"""Series identifiers, timeframes and time alignment (CONTRACT §1.1, §1.2, §1.4)."""

from __future__ import annotations

import re

import attrs

from canvas.errors import InvalidSeriesId

MARKETS = ("spot", "futures")
MAX_SERIES_ID_LENGTH = 100
_TIMEFRAME = re.compile(r"^([1-9][0-9]*)([mhd])$")
_UNIT_SECONDS = {"m": 60, "h": 3600, "d": 86400}


def _bad_chars(part: str) -> bool:
    return any(ch.isspace() or ord(ch) < 32 or ord(ch) == 127 for ch in part)


def _is_unicode_text(raw: str) -> bool:
    # A JSON escape like "\ud800" decodes to a lone surrogate, which cannot be encoded (and
    # so cannot name the series' file on disk).
    try:
        raw.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def timeframe_seconds(timeframe: str) -> int:
    """`5m` → 300. Raises InvalidSeriesId for anything that is not `<N><m|h|d>`."""
    match = _TIMEFRAME.match(timeframe)
    if match is None:
        raise InvalidSeriesId(f"bad timeframe {timeframe!r}")
    return int(match.group(1)) * _UNIT_SECONDS[match.group(2)]


@attrs.frozen
class SeriesId:
    """A parsed `{exchange}:{market}:{symbol}:{timeframe}`; `str()` gives it back unchanged."""

    exchange: str
    market: str
    symbol: str
    timeframe: str
    tf: int

    @classmethod
    def parse(cls, raw: object) -> SeriesId:
        if not isinstance(raw, str) or not raw:
            raise InvalidSeriesId("empty")
        if not _is_unicode_text(raw):
            raise InvalidSeriesId("not valid Unicode text (lone surrogate)")
        if len(raw) > MAX_SERIES_ID_LENGTH:
            # It names a file on disk; keep it well inside file-name limits.
            raise InvalidSeriesId(f"longer than {MAX_SERIES_ID_LENGTH} characters")
        parts = raw.split(":")
        if len(parts) < 4:
            raise InvalidSeriesId("expected exchange:market:symbol:timeframe")
        if any(not p for p in parts):
            raise InvalidSeriesId("empty part")
        if any(_bad_chars(p) for p in parts):
            raise InvalidSeriesId("whitespace or control character")
        exchange, market, timeframe = parts[0], parts[1], parts[-1]
        symbol = ":".join(parts[2:-1])
        if market not in MARKETS:
            raise InvalidSeriesId(f"unknown market {market!r}")
        pair = parts[2].split("/")
        if len(pair) != 2 or not pair[0] or not pair[1]:
            raise InvalidSeriesId("symbol must be BASE/QUOTE")
        return cls(exchange, market, symbol, timeframe, timeframe_seconds(timeframe))

    def __str__(self) -> str:
        return f"{self.exchange}:{self.market}:{self.symbol}:{self.timeframe}"

    @property
    def base_asset(self) -> str:
        return self.symbol.split(":")[0].split("/")[0]

    @property
    def quote_asset(self) -> str:
        return self.symbol.split(":")[0].split("/")[1]

    @property
    def exchange_symbol(self) -> str:
        """`BTC/USDT:USDT` → `BTCUSDT` (the stream and REST symbol)."""
        return self.symbol.split(":")[0].replace("/", "")

    def with_timeframe(self, timeframe: str) -> SeriesId:
        return SeriesId(
            self.exchange, self.market, self.symbol, timeframe, timeframe_seconds(timeframe)
        )


def candle_id(series_id: str, candle_time: int) -> str:
    return f"{series_id}:{candle_time}"


def expected_latest_closed_time(now: int, tf: int) -> int:
    """Open time of the last bucket that has fully closed at `now` (0 before the first)."""
    a = (now // tf) * tf
    return a - tf if a >= tf else 0
