"""The routes' dependency bundle: frozen, typed, built once by the server around its services."""

from __future__ import annotations

import attrs
import pytest
import trio
from helpers import running_server

from actors.ingest_jobs import IngestJobs
from actors.rollup import RollupQueue
from canvas.series_id import SeriesId
from canvas.web.app import AppDeps

BASE = SeriesId.parse("binance:spot:AAA/USDT:1m")


async def test_server_builds_one_frozen_bundle_of_started_services(tmp_path):
    async with running_server(tmp_path) as server:
        deps = server.deps
        assert isinstance(deps, AppDeps)
        with pytest.raises(attrs.exceptions.FrozenInstanceError):
            deps.replay = None  # type: ignore[misc]
        for field in attrs.fields(AppDeps):
            assert getattr(deps, field.name) is not None, field.name
        # Started before the bundle was built: the ingest REST client exists.
        assert deps.ingest.rest is not None
        # The series actors' hooks are the very objects the services were built around.
        assert deps.directory.deps.may_stop == deps.ingest.jobs.may_stop


def test_ingest_jobs_keep_fed_series_up():
    jobs = IngestJobs()
    assert jobs.may_stop(BASE)
    jobs[str(BASE)] = object()  # type: ignore[assignment]
    assert not jobs.may_stop(BASE)


async def test_rollup_queue_coalesces_until_taken(autojump_clock):
    queue = RollupQueue(("5m",))
    queue.notify(BASE, [(60, 1, 1, 1, 1, 1), (120, 1, 1, 1, 1, 1)])
    queue.notify(BASE, [(360, 1, 1, 1, 1, 1)])
    queue.notify(BASE.with_timeframe("5m"), [(300, 1, 1, 1, 1, 1)])  # not a 1m base: ignored
    with trio.fail_after(1):
        assert await queue.take() == {(str(BASE), "5m"): {0, 300}}
    with trio.move_on_after(1) as scope:  # nothing new: take waits (virtual time)
        await queue.take()
    assert scope.cancelled_caught
