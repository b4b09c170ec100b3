"""Series actors under the directory: restart after a crash, isolation, idle stop."""

from __future__ import annotations

import math

import attrs
import pytest
import trio

from actors import messages as msg
from actors import series_actor
from actors.directory import CRASH_LOOP_ATTEMPTS, Directory
from actors.mailbox import Request
from actors.restart import RestartPolicy
from actors.series_actor import ActorDeps
from canvas.errors import CanvasError

A = "binance:spot:AAA/USDT:1m"
B = "binance:spot:BBB/USDT:1m"


def row(t: int, price: float = 1.0):
    return (t, price, price, price, price, 1.0)


@pytest.fixture
async def directory(tmp_path, nursery):
    deps = ActorDeps(data_dir=str(tmp_path), catchup_limit=5000, idle_ttl_s=60)
    return await nursery.start(Directory(deps, request_timeout_s=10).run)


@attrs.frozen(eq=False)
class Unknown(Request):
    """A request no handler knows: a broken invariant that must crash the actor."""


@attrs.frozen(eq=False)
class Sleep(Request):
    seconds: float
    began: trio.Event = attrs.Factory(trio.Event)


async def _sleep(actor, req):
    req.began.set()
    await trio.sleep(req.seconds)
    return "slept"


async def test_crash_is_answered_and_actor_restarts_from_ledger(directory):
    await directory.ask(A, msg.IngestClosed([row(60), row(120)]))
    with trio.fail_after(10):
        with pytest.raises(CanvasError) as info:
            await directory.ask(A, Unknown())
        assert info.value.status == 500
        reply = await directory.ask(A, msg.QueryCandles(None, 10))
    assert [r[0] for r in reply.rows] == [60, 120]
    assert reply.head == 120
    assert directory.handles[A].crashes == 1
    assert "TypeError" in directory.handles[A].last_error


async def test_slow_series_does_not_delay_another(directory, monkeypatch):
    monkeypatch.setitem(series_actor._HANDLERS, Sleep, _sleep)
    await directory.ask(B, msg.IngestClosed([row(60)]))
    async with trio.open_nursery() as nursery:
        slow = Sleep(30)
        nursery.start_soon(directory.ask, A, slow)
        await slow.began.wait()  # series A's actor is now busy for 30 s
        with trio.fail_after(5):
            for t in range(120, 1320, 60):
                await directory.ask(B, msg.IngestClosed([row(t)]))
            reply = await directory.ask(B, msg.QueryCandles(None, 100))
        assert len(reply.rows) == 21
        assert directory.handles[A].mailbox_depth() == 0
        nursery.cancel_scope.cancel()


async def test_idle_actor_stops_and_restarts_on_demand(tmp_path, nursery):
    deps = ActorDeps(data_dir=str(tmp_path), catchup_limit=5000, idle_ttl_s=0.05)
    directory = await nursery.start(Directory(deps, request_timeout_s=10).run)
    await directory.ask(A, msg.IngestClosed([row(60)]))
    first = directory.handles[A]
    with trio.fail_after(5):
        await first.stopped.wait()
    assert A not in directory.handles
    reply = await directory.ask(A, msg.QueryCandles(None, 10))
    assert [r[0] for r in reply.rows] == [60]
    assert directory.handles[A] is not first


async def test_directory_stops_an_idle_actor_after_its_ttl(tmp_path, autojump_clock):
    """No deadline but the actor's idle timer (and the test's sleeps) is pending while its
    ledger thread runs, so the mock clock never jumps across real I/O."""
    deps = ActorDeps(data_dir=str(tmp_path), catchup_limit=100, idle_ttl_s=60)
    async with trio.open_nursery() as nursery:
        directory = await nursery.start(Directory(deps, request_timeout_s=math.inf).run)
        sid = A
        await directory.ask(sid, msg.IngestClosed([row(60)]))
        handle = directory.handles[sid]
        await trio.sleep(59)
        assert handle.state == "running"
        await directory.ask(sid, msg.QueryCandles(None, 1))  # a request restarts the timer
        last = trio.current_time()
        await trio.sleep(59)
        assert handle.state == "running"
        await handle.stopped.wait()
        assert trio.current_time() - last >= 60
        assert sid not in directory.handles
        nursery.cancel_scope.cancel()


async def test_reads_of_unknown_series_create_no_file(tmp_path, directory):
    reply = await directory.ask(A, msg.QueryCandles(None, 10))
    assert reply == msg.CandlePage(None, [])
    assert not (tmp_path / "series").exists()


async def test_a_crash_loop_answers_the_queue_then_the_actor_recovers(tmp_path, nursery):
    fast = RestartPolicy(initial_s=0.01, factor=2.0, cap_s=0.05, jitter=0.0)
    deps = ActorDeps(data_dir=str(tmp_path), catchup_limit=5000, idle_ttl_s=60)
    directory = await nursery.start(Directory(deps, request_timeout_s=10, policy=fast).run)
    handle = await directory.get(A)
    crashing = [Unknown() for _ in range(CRASH_LOOP_ATTEMPTS)]
    waiting = msg.QueryCandles(None, 10)
    for request in [*crashing, waiting]:  # queued before the actor takes the first one
        handle.send.send_nowait(request)
    with trio.fail_after(10):
        for request in crashing:
            with pytest.raises(CanvasError) as info:
                await request.reply.wait()
            assert info.value.status == 500
        # The third crash in a row is a crash loop: the queue is answered, not kept waiting.
        with pytest.raises(CanvasError) as info:
            await waiting.reply.wait()
        assert info.value.detail == "series_restarting"
        assert handle.crashes == CRASH_LOOP_ATTEMPTS
        reply = await directory.ask(A, msg.QueryCandles(None, 10))
    assert reply == msg.CandlePage(None, []) and directory.handles[A] is handle
    assert handle.state == "running"
