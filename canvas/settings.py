"""Settings (§9): built-in defaults < optional TOML file < `TRADE_CANVAS_<KEY>` < CLI options."""

from __future__ import annotations

import ipaddress
import logging
import os
import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import attrs

log = logging.getLogger("canvas.settings")

ENV_PREFIX = "TRADE_CANVAS_"
# Names the file, not a setting: `TRADE_CANVAS_CONFIG=/etc/canvas.toml`.
CONFIG_VARIABLE = ENV_PREFIX + "CONFIG"
# Looked for in the working directory when neither --config nor TRADE_CANVAS_CONFIG is given.
LOCAL_CONFIG = Path("config") / "canvas.toml"

_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off"}


class SettingsError(Exception):
    """A setting has a value that cannot be used; the message names the key."""


# ---- parsers: (name, raw value from file, environment or caller) -> typed value ----------


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
        if isinstance(raw, bool):
            raise SettingsError(f"{key}: expected a number, got {raw!r}")
        try:
            value = float(str(raw).strip())
        except ValueError:
            raise SettingsError(f"{key}: expected a number, got {raw!r}") from None
        if not lo <= value < float("inf"):
            raise SettingsError(f"{key}: {value} must be >= {lo} and finite")
        return value

    return parse


def _str(key: str, raw: object) -> str:
    if not isinstance(raw, str | int | float) or isinstance(raw, bool):
        raise SettingsError(f"{key}: expected a string, got {raw!r}")
    return str(raw).strip()


def _parts(raw: object) -> list[str]:
    """A comma-separated string (environment, file) or a sequence (callers) as trimmed parts."""
    items = raw if isinstance(raw, list | tuple) else str(raw).split(",")
    return [str(p).strip() for p in items if str(p).strip()]


def _timeframes(key: str, raw: object) -> tuple[str, ...]:
    from canvas.errors import InvalidSeriesId
    from canvas.series_id import timeframe_seconds

    out: list[str] = []
    for part in _parts(raw):
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
    return tuple(_parts(raw))


Network = ipaddress.IPv4Network | ipaddress.IPv6Network


def _networks(key: str, raw: object) -> tuple[Network, ...]:
    """Addresses or networks (`10.0.0.0/8`), as ipaddress networks."""
    out: list[Network] = []
    for part in _parts(raw):
        try:
            out.append(ipaddress.ip_network(part, strict=False))
        except ValueError:
            raise SettingsError(f"{key}: {part!r} is not an IP address or network") from None
    return tuple(out)


def _url(*schemes: str):
    """A base URL with one of `schemes` and a host; a trailing slash is dropped."""

    def parse(key: str, raw: object) -> str:
        text = _str(key, raw).rstrip("/")
        try:
            parts = urlsplit(text)
            parts.port  # noqa: B018 - raises ValueError on a malformed port
        except ValueError as exc:
            raise SettingsError(f"{key}: {text!r} is not a URL: {exc}") from None
        if parts.scheme not in schemes or not parts.hostname:
            want = " or ".join(f"{s}://" for s in schemes)
            raise SettingsError(f"{key}: expected a {want}HOST URL, got {raw!r}")
        return text

    return parse


def _key(default: Any, parse: Any) -> Any:
    """A settings field: its built-in default and the parser every other source goes through."""
    return attrs.field(default=default, metadata={"parse": parse})


_REST = _url("http", "https")
_WS = _url("ws", "wss")
DEFAULT_WHITELIST = "config/market_whitelist.json"


@attrs.frozen
class Settings:
    """Every setting, typed, with its built-in default; build with `Settings.load()`.

    Attribute names are the keys in lower case (`TRADE_CANVAS_PORT` → `settings.port`).
    `config/canvas.toml` documents the same defaults (a test keeps the two in agreement).
    """

    # server
    host: str = _key("127.0.0.1", _str)
    port: int = _key(8000, _int(0, 65535))
    data_dir: str = _key("data", _str)
    whitelist_path: str = _key(DEFAULT_WHITELIST, _str)
    cors_origins: tuple[str, ...] = _key(
        ("http://localhost:5173", "http://127.0.0.1:5173"), _origins
    )
    api_token: str = _key("", _str)
    api_token_scope: str = _key("control", _choice("control", "all"))
    request_timeout_s: float = _key(30.0, _float(0.1))
    trusted_proxies: tuple[Network, ...] = _key((), _networks)
    # feature flags
    enable_debug_api: bool = _key(False, _bool)
    enable_runtime_metrics: bool = _key(False, _bool)
    enable_kline_health_v2: bool = _key(False, _bool)
    enable_factor_rebuild: bool = _key(False, _bool)
    enable_ingest: bool = _key(True, _bool)
    # factors and overlay
    pivot_window_major: int = _key(50, _int(1, 10_000))
    pivot_window_minor: int = _key(5, _int(1, 10_000))
    factor_logic_version: str = _key("", _str)
    overlay_window_candles: int = _key(2000, _int(1, 1_000_000))
    # WebSocket
    market_ws_catchup_limit: int = _key(5000, _int(1, 1_000_000))
    ws_slow_consumer_timeout_s: float = _key(30.0, _float(0.01))
    ws_outbox_frames: int = _key(256, _int(4, 1_000_000))
    ws_ping_interval_s: float = _key(5.0, _float(0.1))
    # series actors
    actor_idle_ttl_s: float = _key(300.0, _float(0.01))
    actor_mailbox_size: int = _key(1024, _int(1, 1_000_000))
    # exchange ingest
    ingest_bootstrap_candles: int = _key(2000, _int(1, 1_000_000))
    ingest_max_backfill_candles: int = _key(50000, _int(1, 10_000_000))
    ingest_forming_interval_s: float = _key(1.0, _float(0.0))
    ondemand_max_jobs: int = _key(64, _int(0, 1_000_000))
    ondemand_idle_ttl_s: float = _key(60.0, _float(0.0))
    derived_timeframes: tuple[str, ...] = _key(("5m", "15m", "1h", "4h", "1d"), _timeframes)
    binance_spot_base_url: str = _key("https://api.binance.com", _REST)
    binance_futures_base_url: str = _key("https://fapi.binance.com", _REST)
    binance_spot_ws_base_url: str = _key("wss://stream.binance.com:9443", _WS)
    binance_futures_ws_base_url: str = _key("wss://fstream.binance.com", _WS)
    ingest_streams_per_connection: int = _key(200, _int(1, 1024))
    # replay
    replay_max_concurrent_builds: int = _key(2, _int(1, 64))
    replay_package_max_mb: int = _key(1024, _int(1, 1_000_000))
    replay_package_max_age_s: int = _key(604800, _int(1, 10**9))
    # logging
    log_level: str = _key(
        "INFO", _choice("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL", upper=True)
    )
    log_format: str = _key("text", _choice("text", "json"))
    access_log: bool = _key(False, _bool)

    @classmethod
    def load(
        cls,
        environ: Mapping[str, str] | None = None,
        config_path: Path | str | None = None,
        **overrides: Any,
    ) -> Settings:
        """Built-in defaults, then the config file, then `TRADE_CANVAS_*`, then `overrides`.

        `overrides` are keys (any case) → values, as the CLI options give them. The file is
        `config_path`, else `TRADE_CANVAS_CONFIG`, else `config/canvas.toml` in the working
        directory if present. Logs a warning for each unknown `TRADE_CANVAS_*` variable.
        Raises SettingsError naming the key for an unknown key or a value that does not parse.
        """
        environ = os.environ if environ is None else environ
        fields = {f.name.upper(): f for f in attrs.fields(cls)}
        # key -> (the name an error message gives it, raw value); later sources replace earlier.
        raw: dict[str, tuple[str, Any]] = {}
        path = find_config(config_path, environ)
        if path is not None:
            for key, value in read_config(path, fields).items():
                raw[key] = (f"{key.lower()} in {path}", value)
        for name in sorted(environ):
            if not name.startswith(ENV_PREFIX) or name == CONFIG_VARIABLE:
                continue
            key = name.removeprefix(ENV_PREFIX)
            if key in fields:
                raw[key] = (name, environ[name])
            else:
                log.warning("%s: unknown setting, ignored (is it misspelt?)", name)
        for key, value in overrides.items():
            key = key.upper()
            if key not in fields:
                raise SettingsError(f"{ENV_PREFIX}{key}: unknown setting")
            raw[key] = (ENV_PREFIX + key, value)
        values = {
            fields[key].name: fields[key].metadata["parse"](label, value)
            for key, (label, value) in raw.items()
        }
        return cls(**values)

    def whitelist(self) -> list[str]:
        """The whitelisted series ids; a missing file is an error unless it is the default."""
        return load_whitelist(
            Path(self.whitelist_path), required=self.whitelist_path != DEFAULT_WHITELIST
        )


def find_config(config_path: Path | str | None, environ: Mapping[str, str]) -> Path | None:
    """The config file to read, or None: an explicitly named file must exist."""
    if config_path is None:
        config_path = environ.get(CONFIG_VARIABLE) or None
    if config_path is None:
        return LOCAL_CONFIG if LOCAL_CONFIG.is_file() else None
    path = Path(config_path)
    if not path.is_file():
        raise SettingsError(f"config file {path} does not exist (--config or {CONFIG_VARIABLE})")
    return path


def read_config(path: Path, fields: Mapping[str, Any]) -> dict[str, Any]:
    """The file's keys (upper-cased) and raw values; an unknown key stops start-up."""
    try:
        with open(path, "rb") as f:
            doc = tomllib.load(f)
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise SettingsError(f"config file {path}: {exc}") from None
    raw = {k.upper(): v for k, v in doc.items()}
    unknown = sorted(k for k in doc if k.upper() not in fields)
    if unknown:
        raise SettingsError(f"{unknown[0]}: unknown key in config file {path}")
    return raw


def load_whitelist(path: Path, required: bool = False) -> list[str]:
    """Series ids from the whitelist file: trimmed, blanks skipped, first occurrence kept.

    A missing file is an empty list unless `required`; a malformed one raises SettingsError.
    """
    import json

    from canvas.errors import InvalidSeriesId
    from canvas.series_id import SeriesId

    key = ENV_PREFIX + "WHITELIST_PATH"
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        if required:
            raise SettingsError(f"{key}: {path} does not exist") from None
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
