"""The kline stream client against the simulator: updates, stalls, cuts, malformed messages."""

import math

import pytest
import trio

from canvas.exchange import (
    BinanceRest,
    KlineStream,
    StreamClosed,
    StreamStalled,
    StreamUnavailable,
)
from canvas.series_id import SeriesId
from canvas.simexchange import SimConfig, open_simexchange

from .conftest import START_MS, endpoints_for

SERIES = SeriesId.parse("binance:futures:BTC/USDT:USDT:1m")
BUCKET_S = START_MS // 60_000 * 60


class Collector:
    """An `on_update` callback that remembers updates and lets a test wait for them."""

    def __init__(self):
        self.updates = []
        self._changed = trio.Event()

    async def __call__(self, update):
        self.updates.append(update)
        self._changed.set()
        self._changed = trio.Event()

    async def wait_for(self, count):
        while len(self.updates) < count:
            await self._changed.wait()
        return self.updates[:count]


async def test_forming_and_closed_updates_agree_with_rest(sim):
    endpoints = endpoints_for(sim.handle)
    stream = KlineStream.for_series(endpoints, SERIES, silence_timeout=5)
    collect = Collector()
    with trio.fail_after(10):
        async with trio.open_nursery() as nursery:
            await nursery.start(stream.run, collect)
            assert stream.statistics().connected
            await sim.wait_streams(1)
            sim.clock.advance(15_000)  # the :45 forming update
            (forming,) = await collect.wait_for(1)
            sim.clock.advance(15_000)  # the close
            _, closed = await collect.wait_for(2)
            nursery.cancel_scope.cancel()
        assert not stream.statistics().connected
        assert (forming.closed, closed.closed) == (False, True)
        assert forming.candle.candle_time == closed.candle.candle_time == BUCKET_S
        assert forming.symbol == "BTCUSDT" and forming.interval == "1m"
        async with BinanceRest.open(endpoints) as rest:
            fetched = await rest.fetch_closed_range(SERIES, BUCKET_S, BUCKET_S)
        assert fetched.candles == (closed.candle,)
        stats = stream.statistics()
        assert (stats.connects, stats.forming, stats.closed, stats.malformed) == (1, 1, 1, 0)


async def test_silent_stream_raises_stalled(sim):
    stream = KlineStream.for_series(endpoints_for(sim.handle), SERIES, silence_timeout=0.3)
    collect = Collector()
    with trio.fail_after(10):
        sim.clock.set_speed(600)  # a message every 25 ms while not silent
        async with trio.open_nursery() as nursery:

            async def silence_after_first_update():
                await collect.wait_for(1)
                sim.go_silent()

            nursery.start_soon(silence_after_first_update)
            start = trio.current_time()
            with pytest.raises(StreamStalled) as raised:
                await stream.run(collect)
        assert raised.value.silence_timeout == 0.3
        assert raised.value.detail == "upstream_error:stream_stalled"
        assert trio.current_time() - start >= 0.3
        # The client closed its side: the simulator sees the stream go away.
        while sim.statistics().open_streams:
            await trio.sleep(0.01)


async def test_time_spent_in_the_callback_is_not_silence(sim):
    stream = KlineStream.for_series(endpoints_for(sim.handle), SERIES, silence_timeout=0.2)
    seen = []

    async def slow(update):
        seen.append(update)
        await trio.sleep(0.3)

    with trio.fail_after(10):
        sim.clock.set_speed(600)
        async with trio.open_nursery() as nursery:
            nursery.start_soon(stream.run, slow)
            while len(seen) < 3:
                await trio.sleep(0.05)
            nursery.cancel_scope.cancel()


async def test_malformed_messages_are_counted_and_skipped(sim):
    stream = KlineStream.for_series(endpoints_for(sim.handle), SERIES, silence_timeout=5)
    collect = Collector()
    with trio.fail_after(10):
        async with trio.open_nursery() as nursery:
            await nursery.start(stream.run, collect)
            await sim.wait_streams(1)
            assert await sim.inject_malformed(7) == 1
            sim.clock.advance(30_000)
            (update,) = await collect.wait_for(1)
            nursery.cancel_scope.cancel()
        stats = stream.statistics()
        assert stats.malformed == 7 and stats.messages == 8
        assert stats.last_malformed
        assert update.closed and update.candle.candle_time == BUCKET_S
        assert all(math.isfinite(v) for v in update.candle.as_row())


async def test_dropped_stream_raises_closed(sim):
    stream = KlineStream.for_series(endpoints_for(sim.handle), SERIES)
    with trio.fail_after(10):
        async with trio.open_nursery() as nursery:

            async def drop_when_connected():
                await sim.wait_streams(1)
                sim.drop_streams()

            nursery.start_soon(drop_when_connected)
            with pytest.raises(StreamClosed) as raised:
                await stream.run(Collector())
        assert raised.value.code == 1006


async def test_refused_and_rejected_connects_raise_unavailable(sim):
    endpoints = endpoints_for(sim.handle)
    with trio.fail_after(10):
        await sim.refuse_connections()
        with pytest.raises(StreamUnavailable, match=r"ConnectionRefusedError|OSError"):
            await KlineStream.for_series(endpoints, SERIES).run(Collector())
        await sim.accept_connections()
        bad_path = KlineStream(endpoints.futures_ws + "/ws/btcusdt@depth")
        with pytest.raises(StreamUnavailable, match="HTTP 404"):
            await bad_path.run(Collector())
        assert bad_path.statistics().connects == 0


async def test_connect_timeout_raises_unavailable():
    # A listener that never answers the WebSocket handshake.
    listeners = await trio.open_tcp_listeners(0, host="127.0.0.1")
    port = listeners[0].socket.getsockname()[1]
    try:
        with trio.fail_after(10):
            stream = KlineStream(f"ws://127.0.0.1:{port}/ws/btcusdt@kline_1m", connect_timeout=0.2)
            with pytest.raises(StreamUnavailable, match="timed out"):
                await stream.run(Collector())
    finally:
        for listener in listeners:
            await listener.aclose()


async def test_reconnect_after_a_drop_backfills_the_gap():
    # What an ingest job does: stream, lose the stream, backfill over REST, stream again.
    config = SimConfig(start_ms=START_MS, speed=0, control_port=None)
    with trio.fail_after(10):
        async with open_simexchange(config) as sim:
            endpoints = endpoints_for(sim.handle)
            stream = KlineStream.for_series(endpoints, SERIES, silence_timeout=5)
            collect = Collector()
            async with trio.open_nursery() as nursery:

                async def cut_after_first_final():
                    await sim.wait_streams(1)
                    sim.clock.advance(30_000)
                    await collect.wait_for(1)
                    sim.drop_streams()

                nursery.start_soon(cut_after_first_final)
                with pytest.raises(StreamClosed):
                    await stream.run(collect)
            sim.clock.advance(3 * 60_000)  # three buckets close while disconnected
            async with BinanceRest.open(endpoints) as rest:
                gap = await rest.fetch_closed_range(SERIES, BUCKET_S + 60)
            assert [c.candle_time for c in gap.candles] == [BUCKET_S + 60 * i for i in (1, 2, 3)]
            assert stream.statistics().connects == 1


def test_only_websocket_urls():
    with pytest.raises(ValueError, match="ws://"):
        KlineStream("http://127.0.0.1:1/ws/btcusdt@kline_1m")
