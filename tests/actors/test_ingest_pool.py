"""The per-market connection pool on its own, against the simulated exchange."""

from __future__ import annotations

import trio
from helpers import eventually

from actors.stream_pool import StreamPool
from canvas.exchange.errors import StreamClosed
from canvas.simexchange import SimConfig, open_simexchange

START_MS = 1_735_689_630_000
BTC, ETH, SOL = "btcusdt@kline_1m", "ethusdt@kline_1m", "solusdt@kline_1m"


async def test_new_connections_wait_for_the_per_minute_limit():
    async with open_simexchange(SimConfig(start_ms=START_MS, speed=0)) as sim:
        pool = StreamPool("spot", sim.handle.spot_ws_base, per_connection=1, opens_per_minute=2)
        async with trio.open_nursery() as nursery:
            await nursery.start(pool.run)
            with trio.fail_after(10):
                a = await pool.attach(BTC, "BTCUSDT", "1m")
                b = await pool.attach(ETH, "ETHUSDT", "1m")
                assert a.connection_id != b.connection_id
            third_live = trio.Event()

            async def third() -> None:
                await pool.attach(SOL, "SOLUSDT", "1m")
                third_live.set()

            nursery.start_soon(third)
            # A third connection is due, but two opened this minute: it waits, unopened.
            with trio.move_on_after(0.5):
                await third_live.wait()
            assert not third_live.is_set()
            assert sim.statistics().connections_accepted == 2
            nursery.cancel_scope.cancel()


async def test_a_restarting_job_takes_over_its_stream_and_leaving_unsubscribes():
    async with open_simexchange(SimConfig(start_ms=START_MS, speed=0)) as sim:
        pool = StreamPool("spot", sim.handle.spot_ws_base)
        async with trio.open_nursery() as nursery:
            await nursery.start(pool.run)
            with trio.fail_after(10):
                old = await pool.attach(BTC, "BTCUSDT", "1m")
                other = await pool.attach(ETH, "ETHUSDT", "1m")
                # The same stream again before the old lease left (a job restarting).
                new = await pool.attach(BTC, "BTCUSDT", "1m")
                assert isinstance(old.error, StreamClosed)
                pool.detach(old)  # the ending job's cleanup changes nothing any more
                assert new.connection_id == other.connection_id
                assert sim.statistics().kline_streams == 2
                pool.detach(new)

                async def unsubscribed():
                    return sim.statistics().kline_streams == 1

                await eventually(unsubscribed)
                sim.clock.advance(60_000)
                update = await other.receive()
                while not update.closed:
                    update = await other.receive()
                assert update.candle.candle_time == (START_MS // 60_000) * 60
                assert sim.statistics().connections_accepted == 1
            nursery.cancel_scope.cancel()


async def test_an_empty_connection_waits_before_closing():
    async with open_simexchange(SimConfig(start_ms=START_MS, speed=0)) as sim:
        pool = StreamPool("spot", sim.handle.spot_ws_base, empty_grace_s=0.3)
        async with trio.open_nursery() as nursery:
            await nursery.start(pool.run)
            with trio.fail_after(10):
                first = await pool.attach(BTC, "BTCUSDT", "1m")
                carrier = first.connection_id
                pool.detach(first)
                # The only series left and came back: the same connection carries it again.
                again = await pool.attach(BTC, "BTCUSDT", "1m")
                assert again.connection_id == carrier
                assert sim.statistics().connections_accepted == 1
                pool.detach(again)

                async def closed():
                    return sim.statistics().open_streams == 0 and not pool.conns

                await eventually(closed)
            nursery.cancel_scope.cancel()
