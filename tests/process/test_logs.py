"""Logging (§9 rev 4): LOG_LEVEL, LOG_FORMAT=json lines with context, ACCESS_LOG."""

from __future__ import annotations

import io
import json
import logging

import pytest
from helpers import http_client, running_server

from canvas.logs import ACCESS_LOGGER, configure_from, configure_logging, load_then_configure
from canvas.settings import Settings, SettingsError


@pytest.fixture
def restore_logging():
    """configure_logging changes process-wide state; put it back for the next test."""
    names = ("", "httpx", "httpcore", ACCESS_LOGGER)
    saved = [(logging.getLogger(n), logging.getLogger(n).level) for n in names]
    handlers = list(logging.getLogger().handlers)
    yield
    root = logging.getLogger()
    for h in [h for h in root.handlers if h not in handlers]:
        root.removeHandler(h)
    for logger, level in saved:
        logger.setLevel(level)


def test_json_lines_carry_time_level_logger_message_and_context(restore_logging):
    out = io.StringIO()
    configure_logging("DEBUG", "json", stream=out)
    log = logging.getLogger("canvas.test")
    log.info("stored %d candles", 3, extra={"series_id": "binance:spot:BTC/USDT:1m"})
    log.debug("job step", extra={"job": "ingest-7", "attempt": 2})
    try:
        raise ValueError('boom "quoted"\nsecond line')
    except ValueError:
        log.exception("failed")
    lines = out.getvalue().splitlines()
    assert len(lines) == 3
    docs = [json.loads(line) for line in lines]
    assert {"time", "level", "logger", "message"} <= set(docs[0])
    assert docs[0]["time"].endswith("+00:00") and "T" in docs[0]["time"]
    assert (docs[0]["level"], docs[0]["logger"]) == ("INFO", "canvas.test")
    assert docs[0]["message"] == "stored 3 candles"
    assert docs[0]["series_id"] == "binance:spot:BTC/USDT:1m"
    assert (docs[1]["level"], docs[1]["job"], docs[1]["attempt"]) == ("DEBUG", "ingest-7", 2)
    assert docs[2]["level"] == "ERROR" and "ValueError" in docs[2]["exception"]


def test_level_filters_and_text_shows_context(restore_logging):
    out = io.StringIO()
    configure_logging("WARNING", "text", stream=out)
    log = logging.getLogger("canvas.test")
    log.info("hidden")
    log.warning("shown", extra={"series_id": "s1"})
    (line,) = out.getvalue().splitlines()
    assert line.endswith("WARNING canvas.test: shown series_id=s1")


def test_warnings_while_loading_settings_use_the_configured_format(restore_logging):
    out = io.StringIO()
    environ = {"TRADE_CANVAS_LOG_FORMAT": "json", "TRADE_CANVAS_LOG_LEVLE": "debug"}
    settings = load_then_configure(
        lambda: Settings.load(environ=environ), lambda s: configure_from(s, stream=out)
    )
    assert settings.log_format == "json"
    (doc,) = [json.loads(line) for line in out.getvalue().splitlines()]
    assert doc["level"] == "WARNING" and "TRADE_CANVAS_LOG_LEVLE" in doc["message"]


def test_warnings_still_shown_when_loading_fails(restore_logging, capsys):
    environ = {"TRADE_CANVAS_PROT": "1", "TRADE_CANVAS_PORT": "x"}
    with pytest.raises(SettingsError):
        load_then_configure(lambda: Settings.load(environ=environ), configure_from)
    assert "TRADE_CANVAS_PROT" in capsys.readouterr().err


@pytest.mark.parametrize("access_log", [True, None])
async def test_access_log_through_the_same_handlers(tmp_path, caplog, access_log):
    caplog.set_level(logging.INFO, logger=ACCESS_LOGGER)
    settings = {} if access_log is None else {"ACCESS_LOG": access_log}  # None: the default
    async with running_server(tmp_path, **settings) as server, http_client(server) as client:
        r = await client.get("/healthz", params={"access_token": "secret"})
        assert r.status_code == 200
        # A second request after the first has been answered and logged.
        await client.get("/api/market/whitelist")
    lines = [r.getMessage() for r in caplog.records if r.name == ACCESS_LOGGER]
    if access_log:
        assert any('"GET /healthz' in line and " 200 " in line for line in lines), lines
        assert not any("secret" in line for line in lines)
    else:
        assert lines == []
