"""Settings (§9): defaults < file < TRADE_CANVAS_* < options, clear errors naming the key."""

from __future__ import annotations

import logging
import tomllib
from pathlib import Path

import attrs
import pytest

from canvas.cli import settings_from_args
from canvas.settings import Settings, SettingsError, load_whitelist


def test_defaults_and_env_overrides():
    s = Settings.load(environ={})
    assert (s.host, s.port, s.data_dir) == ("127.0.0.1", 8000, "data")
    assert s.enable_ingest is True and s.enable_debug_api is False
    assert s.derived_timeframes == ("5m", "15m", "1h", "4h", "1d")
    s = Settings.load(
        environ={
            "TRADE_CANVAS_PORT": "9001",
            "TRADE_CANVAS_ENABLE_DEBUG_API": "Yes",
            "TRADE_CANVAS_DERIVED_TIMEFRAMES": "",
            "PORT": "1",
        }
    )
    assert (s.port, s.enable_debug_api, s.derived_timeframes) == (9001, True, ())


@pytest.mark.parametrize(
    "key,value",
    [
        ("PORT", "abc"),
        ("PORT", "70000"),
        ("ENABLE_INGEST", "maybe"),
        ("PIVOT_WINDOW_MAJOR", "0"),
        ("DERIVED_TIMEFRAMES", "5m,7x"),
        ("WS_SLOW_CONSUMER_TIMEOUT_S", "soon"),
        ("TRUSTED_PROXIES", "10.0.0.0/33"),
        ("TRUSTED_PROXIES", "proxy.local"),
    ],
)
def test_bad_values_name_the_key(key, value):
    with pytest.raises(SettingsError) as info:
        Settings.load(environ={f"TRADE_CANVAS_{key}": value})
    assert f"TRADE_CANVAS_{key}" in str(info.value)


def test_whitelist_file(tmp_path):
    assert load_whitelist(tmp_path / "missing.json") == []
    p = tmp_path / "w.json"
    p.write_text(
        '{"series_ids": ["  binance:spot:A/B:1m", "", "binance:spot:A/B:1m", "x:spot:C/D:5m"]}'
    )
    assert load_whitelist(p) == ["binance:spot:A/B:1m", "x:spot:C/D:5m"]
    for bad in ("{", '{"series_ids": "x"}', '{"series_ids": ["nope"]}'):
        p.write_text(bad)
        with pytest.raises(SettingsError) as info:
            load_whitelist(p)
        assert "TRADE_CANVAS_WHITELIST_PATH" in str(info.value)


# ---- where settings come from (§9 rev 4) --------------------------------------------------

REPO_CONFIG = Path(__file__).resolve().parents[2] / "config" / "canvas.toml"


def test_config_file_documents_exactly_the_builtin_defaults():
    with open(REPO_CONFIG, "rb") as f:
        documented = {k.upper(): v for k, v in tomllib.load(f).items()}
    fields = {f.name.upper(): f for f in attrs.fields(Settings)}
    assert set(documented) == set(fields)  # every key documented, nothing else
    for key, field in fields.items():
        parsed = field.metadata["parse"](key, documented[key])
        assert parsed == field.default, key


def test_precedence_options_over_environment_over_file_over_defaults(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # no config/canvas.toml here: nothing read implicitly
    conf = tmp_path / "site.toml"
    conf.write_text(
        'port = 7001\nhost = "127.0.0.2"\ndata_dir = "file-data"\nlog_level = "debug"\n'
    )
    env = {"TRADE_CANVAS_PORT": "7002", "TRADE_CANVAS_DATA_DIR": "env-data"}

    s = settings_from_args([], environ={})
    assert (s.port, s.host, s.data_dir, s.log_level) == (8000, "127.0.0.1", "data", "INFO")
    s = settings_from_args(["--config", str(conf)], environ={})
    assert (s.port, s.host, s.data_dir, s.log_level) == (7001, "127.0.0.2", "file-data", "DEBUG")
    s = settings_from_args(["--config", str(conf)], environ=env)
    assert (s.port, s.host, s.data_dir, s.log_level) == (7002, "127.0.0.2", "env-data", "DEBUG")
    s = settings_from_args(
        ["--config", str(conf), "--port", "7003", "--data-dir", "opt-data", "--log-level", "error"],
        environ=env,
    )
    assert (s.port, s.host, s.data_dir, s.log_level) == (7003, "127.0.0.2", "opt-data", "ERROR")
    s = settings_from_args(["--host", "127.0.0.3"], environ={"TRADE_CANVAS_CONFIG": str(conf)})
    assert (s.port, s.host) == (7001, "127.0.0.3")


def test_file_found_in_working_directory_only(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert Settings.load(environ={}).port == 8000
    (tmp_path / "config").mkdir()
    (tmp_path / "config" / "canvas.toml").write_text("port = 7100\n")
    assert Settings.load(environ={}).port == 7100
    other = tmp_path / "other.toml"
    other.write_text("port = 7200\n")
    assert Settings.load(environ={"TRADE_CANVAS_CONFIG": str(other)}).port == 7200
    assert Settings.load(environ={"TRADE_CANVAS_CONFIG": str(other)}, config_path=None).port == 7200


@pytest.mark.parametrize("how", ["option", "environment"])
def test_named_config_file_must_exist(tmp_path, how):
    missing = str(tmp_path / "nope.toml")
    with pytest.raises(SettingsError, match="nope.toml"):
        if how == "option":
            settings_from_args(["--config", missing], environ={})
        else:
            Settings.load(environ={"TRADE_CANVAS_CONFIG": missing})


def test_unknown_key_in_file_stops_startup(tmp_path):
    conf = tmp_path / "c.toml"
    conf.write_text("port = 1\nenable_debug_apii = true\n")
    with pytest.raises(SettingsError) as info:
        Settings.load(environ={}, config_path=conf)
    assert "enable_debug_apii" in str(info.value)
    conf.write_text("port = 'abc'\n")
    with pytest.raises(SettingsError, match="port in .*c.toml"):
        Settings.load(environ={}, config_path=conf)
    conf.write_text("port = \n")
    with pytest.raises(SettingsError, match="c.toml"):
        Settings.load(environ={}, config_path=conf)


def test_unknown_environment_variable_is_a_warning(caplog):
    caplog.set_level(logging.WARNING, logger="canvas.settings")
    s = Settings.load(
        environ={"TRADE_CANVAS_PROT": "9000", "TRADE_CANVAS_PORT": "9001", "OTHER_PORT": "1"}
    )
    assert s.port == 9001
    warned = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warned) == 1 and "TRADE_CANVAS_PROT" in warned[0]


def test_unknown_override_is_an_error():
    with pytest.raises(SettingsError, match="TRADE_CANVAS_NOPE"):
        Settings.load(environ={}, NOPE=1)
    assert Settings.load(environ={}, ondemand_max_jobs=1, PORT=0).ondemand_max_jobs == 1


def test_whitelist_path_that_was_set_must_exist(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # the default config/market_whitelist.json is absent here
    assert Settings.load(environ={}).whitelist() == []
    missing = str(tmp_path / "w.json")
    s = Settings.load(environ={"TRADE_CANVAS_WHITELIST_PATH": missing})
    with pytest.raises(SettingsError, match="TRADE_CANVAS_WHITELIST_PATH: .*w.json"):
        s.whitelist()
    with pytest.raises(SettingsError, match="TRADE_CANVAS_WHITELIST_PATH"):
        settings_from_args([], environ={"TRADE_CANVAS_WHITELIST_PATH": missing})


@pytest.mark.parametrize(
    "key,value",
    [
        ("BINANCE_SPOT_BASE_URL", "api.binance.com"),
        ("BINANCE_SPOT_BASE_URL", "wss://api.binance.com"),
        ("BINANCE_FUTURES_BASE_URL", "https://"),
        ("BINANCE_FUTURES_BASE_URL", "http://host:port"),
        ("BINANCE_SPOT_WS_BASE_URL", "https://stream.binance.com"),
        ("BINANCE_FUTURES_WS_BASE_URL", "fstream.binance.com"),
    ],
)
def test_bad_urls_stop_startup(key, value):
    with pytest.raises(SettingsError, match=f"TRADE_CANVAS_{key}"):
        Settings.load(environ={f"TRADE_CANVAS_{key}": value})


def test_good_urls_are_kept():
    s = Settings.load(
        environ={},
        BINANCE_SPOT_BASE_URL="http://127.0.0.1:9000/",
        BINANCE_FUTURES_WS_BASE_URL="ws://localhost:9001",
    )
    assert s.binance_spot_base_url == "http://127.0.0.1:9000"
    assert s.binance_futures_ws_base_url == "ws://localhost:9001"


def test_settings_are_typed_attributes():
    s = Settings.load(environ={}, CORS_ORIGINS=["http://a", " http://b "], DERIVED_TIMEFRAMES="")
    assert s.cors_origins == ("http://a", "http://b") and s.derived_timeframes == ()
    with pytest.raises(AttributeError):
        s.no_such_setting  # noqa: B018
    with pytest.raises(attrs.exceptions.FrozenInstanceError):
        s.port = 1
