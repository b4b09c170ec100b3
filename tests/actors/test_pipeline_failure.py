"""§2.2 failure semantics through the actor: 500 naming the step, candle kept, work resumed."""

from __future__ import annotations

import pytest

from actors import messages as msg
from actors.directory import Directory
from actors.series_actor import ActorDeps
from canvas.errors import PipelineFailed
from canvas.factors.base import AnalyticsParams
from canvas.factors.pipeline import SeriesAnalytics

SID = "binance:spot:FAIL/USDT:1m"


def row(t, p):
    return (t, p, p, p, p, 1.0)


@pytest.mark.parametrize("step", ["factor.ingest_closed", "overlay.ingest_closed"])
async def test_failed_step_keeps_candle_and_heads_then_recovers(tmp_path, nursery, step):
    failing = {"on": False}

    def hook(name: str) -> None:
        if failing["on"] and name == step:
            raise RuntimeError("injected")

    def factory(conn, series):
        return SeriesAnalytics(
            conn,
            str(series),
            series.tf,
            AnalyticsParams(pivot_window_major=1, pivot_window_minor=1),
            fault_hook=hook,
        )

    deps = ActorDeps(
        data_dir=str(tmp_path), catchup_limit=5000, idle_ttl_s=60, analytics_factory=factory
    )
    directory = await nursery.start(Directory(deps, request_timeout_s=10).run)
    for t, p in zip(range(60, 300, 60), (2, 4, 1, 5)):
        await directory.ask(SID, msg.IngestClosed([row(t, p)]))
    handle = directory.handles[SID]
    heads = (handle.factor_head, handle.overlay_head)
    assert heads == (240, 240)
    before = await directory.ask(
        SID,
        msg.DrawDelta(0, 2000, None),
    )
    failing["on"] = True
    with pytest.raises(PipelineFailed) as info:
        await directory.ask(SID, msg.IngestClosed([row(300, 2)]))
    assert info.value.status == 500
    assert info.value.body() == {
        "detail": "market.ingest_pipeline_failed",
        "step": step,
        "series_id": SID,
    }
    stored = await directory.ask(SID, msg.QueryCandles(None, 10))
    assert stored.head == 300
    if step == "factor.ingest_closed":
        assert (handle.factor_head, handle.overlay_head) == (240, 240)
    else:
        assert (handle.factor_head, handle.overlay_head) == (300, 240)
    with pytest.raises(Exception) as out_of_sync:
        await directory.ask(
            SID,
            msg.DrawDelta(0, 2000, None),
        )
    assert out_of_sync.value.detail == "ledger_out_of_sync:overlay"
    same = await directory.ask(
        SID,
        msg.DrawDelta(0, 2000, 240),
    )
    assert same == before
    failing["on"] = False
    await directory.ask(SID, msg.IngestClosed([row(360, 3)]))
    assert (handle.factor_head, handle.overlay_head) == (360, 360)
