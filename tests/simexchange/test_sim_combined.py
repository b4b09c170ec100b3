"""Combined streams on the simulator, read with Canvas's own client: wrapping, SUBSCRIBE /
UNSUBSCRIBE on a live connection, and the exchange's limits (control rate, new connections,
connection lifetime)."""

import pytest
import trio

from canvas.exchange.combined import CombinedConnection, ControlReply, StreamMessage
from canvas.exchange.errors import StreamClosed, StreamUnavailable
from canvas.simexchange import SimConfig, open_simexchange

from .conftest import START_MS

MINUTE = 60_000
BUCKET = START_MS - START_MS % MINUTE


async def finals(cc: CombinedConnection, count: int) -> list[tuple[str, int]]:
    """The next `count` closed-candle messages as (stream, open time), skipping the rest."""
    got: list[tuple[str, int]] = []
    while len(got) < count:
        message = await cc.receive(5)
        if isinstance(message, StreamMessage) and message.data["k"]["x"]:
            got.append((message.stream, message.data["k"]["t"]))
    return sorted(got)


async def reply(cc: CombinedConnection) -> ControlReply:
    while True:
        message = await cc.receive(5)
        if isinstance(message, ControlReply):
            return message


async def test_wrapped_streams_and_live_subscribe_unsubscribe(sim):
    with trio.fail_after(10):
        base = sim.handle.futures_ws_base
        async with CombinedConnection.open(base, ["btcusdt@kline_1m"]) as cc:
            await sim.wait_streams(1)
            sim.clock.advance(MINUTE)
            assert await finals(cc, 1) == [("btcusdt@kline_1m", BUCKET)]
            ident = await cc.send_control("SUBSCRIBE", ["ethusdt@kline_1m"])
            assert await reply(cc) == ControlReply(ident, None)
            assert sim.statistics().kline_streams == 2
            sim.clock.advance(MINUTE)
            assert await finals(cc, 2) == [
                ("btcusdt@kline_1m", BUCKET + MINUTE),
                ("ethusdt@kline_1m", BUCKET + MINUTE),
            ]
            ident = await cc.send_control("UNSUBSCRIBE", ["btcusdt@kline_1m"])
            assert await reply(cc) == ControlReply(ident, None)
            sim.clock.advance(MINUTE)
            assert await finals(cc, 1) == [("ethusdt@kline_1m", BUCKET + 2 * MINUTE)]
            bad = await cc.send_control("SUBSCRIBE", ["not a stream"])
            assert (await reply(cc)).error is not None and (await _ok(cc)) != bad
            # The same connection throughout: nothing was reconnected.
            assert sim.statistics().connections_accepted == 1


async def _ok(cc: CombinedConnection) -> int:
    ident = await cc.send_control("SUBSCRIBE", ["ethusdt@kline_1m"])
    assert await reply(cc) == ControlReply(ident, None)
    return ident


async def test_too_many_control_messages_close_the_connection():
    config = SimConfig(start_ms=START_MS, speed=0, control_per_second=3)
    async with open_simexchange(config) as sim:
        with trio.fail_after(10):
            async with CombinedConnection.open(sim.handle.spot_ws_base, []) as cc:
                for _ in range(4):
                    await cc.send_control("SUBSCRIBE", ["btcusdt@kline_1m"])
                with pytest.raises(StreamClosed) as info:
                    while True:
                        await cc.receive(5)
                assert info.value.code == 1008


async def test_new_connections_per_window_and_lifetime():
    config = SimConfig(start_ms=START_MS, speed=0, connection_limit=2, connection_lifetime_s=0.3)
    async with open_simexchange(config) as sim:
        with trio.fail_after(10):
            base = sim.handle.spot_ws_base
            async with CombinedConnection.open(base, ["btcusdt@kline_1m"]) as cc:
                # Older than the lifetime: the exchange closes it, whatever it carries.
                with pytest.raises(StreamClosed) as info:
                    await cc.receive(5)
                assert info.value.code == 1001
            async with CombinedConnection.open(base, ["btcusdt@kline_1m"]):
                pass
            with pytest.raises(StreamUnavailable, match="HTTP 429"):
                async with CombinedConnection.open(base, ["btcusdt@kline_1m"]):
                    pass
            stats = sim.statistics()
            assert (stats.connections_accepted, stats.connections_rejected) == (2, 1)
