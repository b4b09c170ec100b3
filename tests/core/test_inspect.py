"""`canvas inspect`: the offline data-dir summary, the live tables, --json, --watch, errors."""

from __future__ import annotations

import io
import json

import apsw
import trio
from helpers import candle, http_client, ingest, running_server

from canvas import inspect
from canvas.simexchange import SimConfig, open_simexchange
from canvas.storage import candle_ledger
from canvas.storage.db import open_db, series_db_path

M1 = "binance:spot:ETH/USDT:1m"
M5 = "binance:futures:BTC/USDT:5m"
LIVE = "binance:futures:BTC/USDT:1m"
BARE = "binance:spot:SOL/USDT:1h"
START_MS = 1_735_689_630_000  # 2025-01-01 00:00:30 UTC


def rows(*times: int) -> list[tuple]:
    return [(t, 1.0, 1.0, 1.0, 1.0, 1.0) for t in times]


def make_data_dir(tmp_path):
    """Three ledgers: one with factor/overlay state, one empty, one from before those stores."""
    from canvas.factors import store as factor_store
    from canvas.overlay import store as overlay_store

    data = tmp_path / "data"
    conn = open_db(series_db_path(data, M1))
    with conn:
        # Gaps 60→240 (180 s) and 300→900 (600 s).
        candle_ledger.upsert(conn, rows(0, 60, 240, 300, 900))
        factor_store.save_state(
            conn, factor_store.FactorSeriesState(head_time=300, logic_hash="ab" * 32)
        )
        overlay_store.save_state(conn, overlay_store.OverlaySeriesState(head_time=240))
    conn.close()
    open_db(series_db_path(data, M5)).close()
    # Written by hand so it has no factor/overlay tables whatever migrations are registered.
    path = series_db_path(data, BARE)
    bare = apsw.Connection(str(path))
    bare.execute(
        "CREATE TABLE candles (candle_time INTEGER PRIMARY KEY, open REAL, high REAL,"
        " low REAL, close REAL, volume REAL)"
    )
    candle_ledger.upsert(bare, rows(3600, 7200))
    bare.close()
    (data / "series" / "not-a-series.sqlite").write_bytes(b"")
    return data


def test_offline_summaries(tmp_path):
    data = make_data_dir(tmp_path)
    by_id = {s.series_id: s for s in inspect.summarise_data_dir(data)}
    assert sorted(by_id) == sorted([M1, M5, BARE, "not-a-series"])
    assert by_id[M1] == inspect.SeriesSummary(
        M1,
        candle_count=5,
        first_time=0,
        head_time=900,
        gap_count=2,
        max_gap_seconds=600,
        factor_head_time=300,
        overlay_head_time=240,
        logic_hash="ab" * 32,
    )
    assert by_id[M5] == inspect.SeriesSummary(M5)
    assert by_id[BARE] == inspect.SeriesSummary(
        BARE, candle_count=2, first_time=3600, head_time=7200
    )
    assert by_id["not-a-series"].error is not None


def test_offline_table_and_json(tmp_path, capsys):
    data = make_data_dir(tmp_path)
    assert inspect.main(["--data-dir", str(data)]) == 0
    out = capsys.readouterr().out
    lines = {line.split()[0]: line for line in out.splitlines() if line.startswith("binance:")}
    m1 = lines[M1].split()
    assert m1[:3] == [M1, "5", "0"]
    assert "(1970-01-01T00:00:00Z)" in lines[M1] and "900 (1970-01-01T00:15:00Z)" in lines[M1]
    assert "2" in m1 and "10m" in m1 and "abababababa…" in m1
    assert "1970-01-01T00:05:00Z" in m1 and "1970-01-01T00:04:00Z" in m1
    # Absent tables and empty ledgers show dashes rather than failing.
    assert lines[BARE].split()[-3:] == ["-", "-", "-"]
    assert lines[M5].split()[1:] == ["0", "-", "-", "0", "-", "-", "-", "-"]
    assert "Unreadable (1)" in out and "not-a-series" in out

    assert inspect.main(["--data-dir", str(data), "--json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    series = {s["series_id"]: s for s in doc["series"]}
    assert series[M1]["max_gap_seconds"] == 600 and series[M1]["logic_hash"] == "ab" * 32
    assert series[BARE]["factor_head_time"] is None


def test_offline_missing_dir(tmp_path, capsys):
    assert inspect.main(["--data-dir", str(tmp_path / "nope")]) == 1
    assert "is not a directory" in capsys.readouterr().err
    (tmp_path / "empty").mkdir()
    assert inspect.main(["--data-dir", str(tmp_path / "empty")]) == 0
    assert "0 series" in capsys.readouterr().out


async def run_main(*argv: str) -> int:
    # inspect is synchronous; run it off the event loop so the in-process server can answer.
    with trio.fail_after(10):
        return await trio.to_thread.run_sync(inspect.main, list(argv))


async def test_live_tables_and_json(tmp_path, capsys):
    (tmp_path / "whitelist.json").write_text(json.dumps({"series_ids": [LIVE]}))
    async with open_simexchange(SimConfig(start_ms=START_MS, speed=0)) as sim:
        h = sim.handle
        async with (
            running_server(
                tmp_path,
                ENABLE_DEBUG_API=True,
                ENABLE_INGEST=True,
                INGEST_BOOTSTRAP_CANDLES=5,
                BINANCE_SPOT_BASE_URL=h.spot_rest_base,
                BINANCE_FUTURES_BASE_URL=h.futures_rest_base,
                BINANCE_SPOT_WS_BASE_URL=h.spot_ws_base,
                BINANCE_FUTURES_WS_BASE_URL=h.futures_ws_base,
            ) as server,
            http_client(server) as client,
        ):
            await ingest(client, M1, candle(60), candle(120))
            assert await run_main("--url", server.base_url) == 0
            out = capsys.readouterr().out
            assert f"Canvas at {server.base_url}" in out and "ingest on" in out
            assert "Ingest jobs (1)" in out and "Series actors (" in out
            header = next(line for line in out.splitlines() if line.startswith("SERIES  "))
            assert "STATE" in header and "PINNED" in header
            job = next(line for line in out.splitlines() if "kline_1m" in line).split()
            assert job[:2] == [LIVE, "binance:futures:kline_1m"]
            assert job[3] == "yes"  # pinned by the whitelist
            actor = next(line for line in out.splitlines() if line.startswith(M1)).split()
            assert actor[1:3] == ["running", "0"]
            assert "1970-01-01T00:02:00Z" in actor  # store head
            assert "Subscriptions: 0 on 0 series" in out

            assert await run_main("--url", server.base_url + "/", "--json") == 0
            snapshot = json.loads(capsys.readouterr().out)
            assert [j["series_id"] for j in snapshot["jobs"]] == [LIVE]
            assert M1 in [s["series_id"] for s in snapshot["series"]]
            assert snapshot["subscriptions"] == {}


async def test_live_errors(tmp_path, capsys):
    async with running_server(tmp_path) as server:
        assert await run_main("--url", server.base_url) == 1
        err = capsys.readouterr().err
        assert err.startswith("canvas inspect: ") and "DEBUG_API" in err
    # A port nobody listens on: bound, then closed.
    listeners = await trio.open_tcp_listeners(0, host="127.0.0.1")
    port = listeners[0].socket.getsockname()[1]
    for listener in listeners:
        await listener.aclose()
    assert await run_main("--url", f"http://127.0.0.1:{port}", "--json") == 1
    captured = capsys.readouterr()
    assert captured.out == ""
    assert captured.err.startswith(f"canvas inspect: cannot reach http://127.0.0.1:{port}")
    assert len(captured.err.strip().splitlines()) == 1


def test_watch_redraws_until_ctrl_c():
    results = iter(["first", inspect.InspectError("server gone"), "back"])
    naps = []

    def render() -> str:
        result = next(results)
        if isinstance(result, Exception):
            raise result
        return result

    def sleep(seconds: float) -> None:
        naps.append(seconds)
        if len(naps) == 3:
            raise KeyboardInterrupt

    out = io.StringIO()
    assert inspect.watch(render, 0.5, out=out, sleep=sleep) == 0
    text = out.getvalue()
    assert naps == [0.5, 0.5, 0.5]
    assert text.index("first") < text.index("canvas inspect: server gone") < text.index("back")
    assert "\x1b[" not in text  # no screen clearing when not a terminal


def test_watch_argument(capsys):
    parser = inspect._parser()
    assert parser.parse_args(["--watch"]).watch == inspect.DEFAULT_WATCH_S
    assert parser.parse_args(["--watch", "5", "--json"]).watch == 5.0
    assert parser.parse_args([]).watch is None
