"""The mailbox: one-shot replies, `ask` (answer, error, closed mailbox, timeout), fail_pending."""

from __future__ import annotations

import attrs
import pytest
import trio

from actors.mailbox import MailboxClosed, Reply, Request, ask, fail_pending
from canvas.errors import CanvasError, ServiceUnavailable


@attrs.frozen(eq=False)
class Echo(Request):
    value: int


async def test_a_reply_is_settled_once():
    reply: Reply[int] = Reply()
    assert not reply.answered
    reply.set(1)
    reply.set(2)
    reply.fail(RuntimeError("late"))
    assert reply.answered and await reply.wait() == 1

    failed: Reply[int] = Reply()
    failed.fail(ServiceUnavailable("first"))
    failed.set(3)
    with pytest.raises(ServiceUnavailable):
        await failed.wait()


async def serve(recv: trio.MemoryReceiveChannel, answer) -> None:
    async for request in recv:
        answer(request)


async def test_ask_returns_the_answer_or_raises_the_actors_error():
    send, recv = trio.open_memory_channel(4)

    def answer(request: Echo) -> None:
        if request.value < 0:
            request.reply.fail(CanvasError("negative"))
        else:
            request.reply.set(request.value * 2)

    async with trio.open_nursery() as nursery:
        nursery.start_soon(serve, recv, answer)
        assert await ask(send, Echo(21), timeout=10) == 42
        with pytest.raises(CanvasError) as info:
            await ask(send, Echo(-1), timeout=10)
        assert info.value.detail == "negative"
        nursery.cancel_scope.cancel()


async def test_ask_a_stopped_actor_raises_mailbox_closed():
    send, _recv = trio.open_memory_channel(4)
    send.close()
    with pytest.raises(MailboxClosed):
        await ask(send, Echo(1), timeout=10)
    other_send, other_recv = trio.open_memory_channel(4)
    other_recv.close()  # the actor's side went away: the send breaks
    with pytest.raises(MailboxClosed):
        await ask(other_send, Echo(1), timeout=10)


async def test_ask_times_out_as_series_busy(autojump_clock):
    send, _recv = trio.open_memory_channel(4)  # nobody serves this mailbox
    began = trio.current_time()
    with pytest.raises(ServiceUnavailable) as info:
        await ask(send, Echo(1), timeout=30)
    assert info.value.detail == "series_busy"
    assert trio.current_time() - began == pytest.approx(30)


async def test_ask_times_out_on_a_full_mailbox_too(autojump_clock):
    send, _recv = trio.open_memory_channel(0)  # no buffer, nobody receiving: send blocks
    with pytest.raises(ServiceUnavailable):
        await ask(send, Echo(1), timeout=5)


async def test_fail_pending_answers_every_queued_request():
    send, recv = trio.open_memory_channel(8)
    queued = [Echo(i) for i in range(3)]
    for request in queued:
        send.send_nowait(request)
    fail_pending(recv, ServiceUnavailable("series_stopped"))
    for request in queued:
        with pytest.raises(ServiceUnavailable) as info:
            await request.reply.wait()
        assert info.value.detail == "series_stopped"
    fail_pending(recv, ServiceUnavailable("again"))  # an empty mailbox: nothing to do
    send.close()
    fail_pending(recv, ServiceUnavailable("closed"))  # nor for a closed one
