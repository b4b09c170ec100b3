"""The series actor's API (actors/messages.py): every message is served, with its typed reply."""

from __future__ import annotations

import inspect

import attrs
import pytest

from actors import messages as msg
from actors import series_actor
from actors.directory import Directory
from actors.mailbox import Request
from actors.outbox import Outbox
from actors.series_actor import ActorDeps
from canvas.errors import CanvasError, NoData
from canvas.factors.base import AnalyticsParams
from canvas.factors.pipeline import SeriesAnalytics
from canvas.health import GapSummary
from canvas.replay.plan import BuildPlan
from canvas.storage.db import series_db_path

SID = "binance:spot:MSG/USDT:1m"
EMPTY = "binance:spot:NONE/USDT:1m"
MESSAGES = [
    obj
    for _, obj in inspect.getmembers(msg, inspect.isclass)
    if issubclass(obj, Request) and obj is not Request
]


def row(t: int, p: float) -> tuple:
    return (t, p, p, p, p, 1.0)


def factory(conn, series):
    params = AnalyticsParams(pivot_window_major=1, pivot_window_minor=1)
    return SeriesAnalytics(conn, str(series), series.tf, params)


@pytest.fixture
async def directory(tmp_path, nursery):
    deps = ActorDeps(
        data_dir=str(tmp_path), catchup_limit=5000, idle_ttl_s=60, analytics_factory=factory
    )
    d = await nursery.start(Directory(deps, request_timeout_s=10).run)
    rows = [row(t, p) for t, p in zip(range(60, 1260, 60), [2, 4, 1, 5, 3] * 4)]
    await d.ask(SID, msg.IngestClosed(rows))
    return d


def test_every_message_is_frozen_and_has_a_handler():
    assert len(MESSAGES) >= 14
    for cls in MESSAGES:
        assert attrs.has(cls) and cls.__attrs_attrs__ is not None
        assert cls.__setattr__ is not object.__setattr__, f"{cls.__name__} is not frozen"
        # IngestClosed is taken by the mailbox loop itself, to group commits.
        assert cls is msg.IngestClosed or cls in series_actor._HANDLERS, cls.__name__
    assert set(series_actor._HANDLERS) <= set(MESSAGES)


def test_no_message_carries_a_function():
    for cls in MESSAGES:
        for field in attrs.fields(cls):
            assert "Callable" not in str(field.type), (cls.__name__, field.name)


async def test_candle_messages(directory):
    reply = await directory.ask(SID, msg.IngestClosed([row(1260, 6)]))
    assert reply == msg.Stored(1, 1260)
    page = await directory.ask(SID, msg.QueryCandles(None, 3, before=300))
    assert page.head == 1260 and [r[0] for r in page.rows] == [120, 180, 240]
    assert await directory.ask(SID, msg.CountCandles(120, 300)) == (4, 1260)
    assert await directory.ask(EMPTY, msg.CountCandles(0, 10**9)) == (0, None)
    assert await directory.ask(SID, msg.IngestForming(row(1320, 7))) is None


async def test_subscription_messages(directory):
    outbox = Outbox(100)
    assert await directory.ask(SID, msg.Subscribe(outbox, 1080, True)) is None
    assert outbox.pending() > 0
    assert await directory.ask(SID, msg.Resync(outbox)) is None
    assert await directory.ask(SID, msg.Unsubscribe(outbox)) is True
    assert await directory.ask(SID, msg.Unsubscribe(outbox)) is False


async def test_analytics_messages(directory, tmp_path):
    slices = await directory.ask(SID, msg.FactorSlices(1200, 100))
    assert slices["series_id"] == SID
    frame = await directory.ask(SID, msg.Frame(None, 100))
    assert frame["series_id"] == SID
    delta = await directory.ask(SID, msg.DrawDelta(0, 100))
    assert delta["series_id"] == SID
    assert await directory.ask(SID, msg.DrawDelta(0, 100, 1200)) == delta
    rebuilt = await directory.ask(SID, msg.RebuildAnalytics(True))
    assert rebuilt["rebuilt_to_time"] == 1200
    # A series that never stored a candle answers from an empty throwaway ledger.
    empty = await directory.ask(EMPTY, msg.DrawDelta(0, 100))
    assert empty["series_id"] == EMPTY
    assert not series_db_path(str(tmp_path), EMPTY).exists()


async def test_replay_messages(directory):
    prepared = await directory.ask(SID, msg.ReplayPrepare(1000, 50))
    assert prepared["aligned_time"] == 960 and prepared["window_candles"] == 100
    plan = await directory.ask(SID, msg.ReplayPlan(1200, 20, 10, 5))
    assert isinstance(plan, BuildPlan)
    with pytest.raises(NoData):
        await directory.ask(EMPTY, msg.ReplayPrepare(None, 100))


async def test_operator_messages(directory):
    gaps = await directory.ask(SID, msg.GapScan(5))
    assert isinstance(gaps, GapSummary)
    assert await directory.ask(EMPTY, msg.GapScan(5)) == GapSummary.empty()
    assert await directory.ask(EMPTY, msg.BucketMinutes(300, 3)) == []
    buckets = await directory.ask(SID, msg.BucketMinutes(300, 3))
    assert len(buckets) == 3


async def test_analytics_unavailable_without_factory(tmp_path, nursery):
    deps = ActorDeps(data_dir=str(tmp_path), catchup_limit=10, idle_ttl_s=60)
    d = await nursery.start(Directory(deps, request_timeout_s=10).run)
    with pytest.raises(CanvasError) as info:
        await d.ask(SID, msg.Frame(None, 10))
    assert info.value.status == 503
