"""Settings: TOML defaults, TRADE_CANVAS_* overrides, clear errors naming the key (§9)."""

from __future__ import annotations

import pytest

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
