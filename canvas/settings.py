"""Settings: `config/canvas.toml` defaults, each overridable by `TRADE_CANVAS_<KEY>` (§9)."""

from __future__ import annotations

import os
import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import attrs

ENV_PREFIX = "TRADE_CANVAS_"
PROJECT_ROOT = Path(__file__).resolve().parent.parent
DEFAULT_CONFIG = PROJECT_ROOT / "config" / "canvas.toml"

_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off"}


class SettingsError(Exception):
    """A setting has a value that cannot be used; the message names the key."""


def _bool(key: str, raw: object) -> bool:
    if isinstance(raw, bool):
        return raw
    text = str(raw).strip().lower()
    if text in _TRUE:
        return True
    if text in _FALSE:
        return False
    raise SettingsError(f"{key}: expected one of 1/true/yes/on or 0/false/no/off, got {raw!r}")


def _int(lo: int | None = None, hi: int | None = None):
    def parse(key: str, raw: object) -> int:
        if isinstance(raw, bool):
            raise SettingsError(f"{key}: expected an integer, got {raw!r}")
        try:
            value = int(str(raw).strip()) if not isinstance(raw, int) else raw
        except ValueError:
            raise SettingsError(f"{key}: expected an integer, got {raw!r}") from None
        if (lo is not None and value < lo) or (hi is not None and value > hi):
            raise SettingsError(f"{key}: {value} is outside [{lo}, {hi}]")
        return value

    return parse


def _float(lo: float):
    def parse(key: str, raw: object) -> float:
        try:
            value = float(str(raw).strip())
        except ValueError:
            raise SettingsError(f"{key}: expected a number, got {raw!r}") from None
        if not value >= lo:
            raise SettingsError(f"{key}: {value} must be >= {lo}")
        return value

    return parse


def _str(key: str, raw: object) -> str:
    return str(raw).strip()


def _timeframes(key: str, raw: object) -> tuple[str, ...]:
    from canvas.errors import InvalidSeriesId
    from canvas.series_id import timeframe_seconds

    out: list[str] = []
    for part in str(raw).split(","):
        part = part.strip()
        if not part:
            continue
        try:
            tf = timeframe_seconds(part)
        except InvalidSeriesId:
            raise SettingsError(f"{key}: {part!r} is not a timeframe like 5m, 1h, 1d") from None
        if tf <= 60 or tf % 60:
            raise SettingsError(f"{key}: {part!r} must be a whole number of minutes above 1m")
        if part not in out:
            out.append(part)
    return tuple(out)


def _choice(*allowed: str, upper: bool = False):
    def parse(key: str, raw: object) -> str:
        text = str(raw).strip()
        text = text.upper() if upper else text.lower()
        if text not in allowed:
            raise SettingsError(f"{key}: expected one of {'/'.join(allowed)}, got {raw!r}")
        return text

    return parse


def _origins(key: str, raw: object) -> tuple[str, ...]:
    return tuple(o.strip() for o in str(raw).split(",") if o.strip())


# key → parser. The defaults live in config/canvas.toml, the one documented place.
_PARSERS: dict[str, Any] = {
    "HOST": _str,
    "PORT": _int(0, 65535),
    "DATA_DIR": _str,
    "WHITELIST_PATH": _str,
    "CORS_ORIGINS": _origins,
    "ENABLE_DEBUG_API": _bool,
    "ENABLE_RUNTIME_METRICS": _bool,
    "ENABLE_KLINE_HEALTH_V2": _bool,
    "ENABLE_FACTOR_REBUILD": _bool,
    "ENABLE_INGEST": _bool,
    "PIVOT_WINDOW_MAJOR": _int(1, 10_000),
    "PIVOT_WINDOW_MINOR": _int(1, 10_000),
    "FACTOR_LOGIC_VERSION": _str,
    "OVERLAY_WINDOW_CANDLES": _int(1, 1_000_000),
    "MARKET_WS_CATCHUP_LIMIT": _int(1, 1_000_000),
    "WS_SLOW_CONSUMER_TIMEOUT_S": _float(0.01),
    "WS_OUTBOX_FRAMES": _int(4, 1_000_000),
    "WS_PING_INTERVAL_S": _float(0.1),
    "ACTOR_IDLE_TTL_S": _float(0.01),
    "ACTOR_MAILBOX_SIZE": _int(1, 1_000_000),
    "REQUEST_TIMEOUT_S": _float(0.1),
    "INGEST_BOOTSTRAP_CANDLES": _int(1, 1_000_000),
    "INGEST_MAX_BACKFILL_CANDLES": _int(1, 10_000_000),
    "INGEST_FORMING_INTERVAL_S": _float(0.0),
    "ONDEMAND_MAX_JOBS": _int(0, 1_000_000),
    "ONDEMAND_IDLE_TTL_S": _float(0.0),
    "DERIVED_TIMEFRAMES": _timeframes,
    "REPLAY_MAX_CONCURRENT_BUILDS": _int(1, 64),
    "REPLAY_PACKAGE_MAX_MB": _int(1, 1_000_000),
    "REPLAY_PACKAGE_MAX_AGE_S": _int(1, 10**9),
    "BINANCE_SPOT_BASE_URL": _str,
    "BINANCE_FUTURES_BASE_URL": _str,
    "BINANCE_SPOT_WS_BASE_URL": _str,
    "BINANCE_FUTURES_WS_BASE_URL": _str,
    "INGEST_STREAMS_PER_CONNECTION": _int(1, 1024),
    "API_TOKEN": _str,
    "API_TOKEN_SCOPE": _choice("control", "all"),
    "LOG_LEVEL": _choice("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL", upper=True),
    "LOG_FORMAT": _choice("text", "json"),
    "ACCESS_LOG": _bool,
}


@attrs.frozen
class Settings:
    """Every setting, parsed; build with `Settings.load()` (or `from_mapping` in tests)."""

    values: Mapping[str, Any]

    def __getattr__(self, name: str) -> Any:
        try:
            return self.values[name.upper()]
        except KeyError:
            raise AttributeError(name) from None

    @classmethod
    def load(
        cls,
        environ: Mapping[str, str] | None = None,
        config_path: Path = DEFAULT_CONFIG,
        **overrides: Any,
    ) -> Settings:
        """Defaults from the TOML file, then `TRADE_CANVAS_*` from `environ`, then overrides.

        Raises SettingsError naming the key for any value that does not parse.
        """
        environ = os.environ if environ is None else environ
        try:
            with open(config_path, "rb") as f:
                raw: dict[str, Any] = {k.upper(): v for k, v in tomllib.load(f).items()}
        except (OSError, tomllib.TOMLDecodeError) as exc:
            raise SettingsError(f"config file {config_path}: {exc}") from None
        unknown = set(raw) - set(_PARSERS)
        if unknown:
            raise SettingsError(f"{min(unknown)}: unknown key in {config_path}")
        for key in _PARSERS:
            env_value = environ.get(ENV_PREFIX + key)
            if env_value is not None:
                raw[key] = env_value
        for key, value in overrides.items():
            raw[key.upper()] = value
        values: dict[str, Any] = {}
        for key, parse in _PARSERS.items():
            if key not in raw:
                raise SettingsError(f"{key}: missing from {config_path}")
            values[key] = parse(ENV_PREFIX + key, raw[key])
        return cls(values)


def load_whitelist(path: Path) -> list[str]:
    """Series ids from the whitelist file: trimmed, blanks skipped, first occurrence kept.

    A missing file is an empty list; a malformed one raises SettingsError.
    """
    import json

    from canvas.errors import InvalidSeriesId
    from canvas.series_id import SeriesId

    key = ENV_PREFIX + "WHITELIST_PATH"
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return []
    except OSError as exc:
        raise SettingsError(f"{key}: cannot read {path}: {exc}") from None
    try:
        doc = json.loads(text)
    except ValueError as exc:
        raise SettingsError(f"{key}: {path} is not valid JSON: {exc}") from None
    ids = doc.get("series_ids") if isinstance(doc, dict) else None
    if not isinstance(ids, list) or not all(isinstance(s, str) for s in ids):
        raise SettingsError(f'{key}: {path} must hold {{"series_ids": [strings]}}')
    out: list[str] = []
    for sid in ids:
        sid = sid.strip()
        if not sid or sid in out:
            continue
        try:
            SeriesId.parse(sid)
        except InvalidSeriesId as exc:
            raise SettingsError(f"{key}: {path}: {exc.detail} ({sid!r})") from None
        out.append(sid)
    return out
