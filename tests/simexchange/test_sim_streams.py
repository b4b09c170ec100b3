"""The simulator's kline streams on a real socket: forming/final cadence and stream faults."""

import itertools
import json

import pytest
import trio
import trio_websocket

from canvas.simexchange import SimConfig, open_simexchange

from .conftest import START_MS, ws_client

MINUTE = 60_000
BUCKET = START_MS - START_MS % MINUTE


async def next_message(ws, timeout=2.0):
    with trio.fail_after(timeout):
        return json.loads(await ws.get_message())


async def assert_quiet(ws, seconds=0.2):
    with trio.move_on_after(seconds):
        message = await ws.get_message()
        pytest.fail(f"unexpected message {message}")


async def test_forming_updates_then_one_final_matching_rest(sim, http):
    with trio.fail_after(10):
        url = sim.handle.futures_ws_base + "/ws/btcusdt@kline_1m"
        async with ws_client(url) as ws:
            await sim.wait_streams(1)
            # Four messages per bucket: forming at :15, :30 and :45, the final at the close.
            # The clock starts at :30, so the :45 update and the final are still due.
            sim.clock.advance(15_000)
            forming = await next_message(ws)
            assert forming["e"] == "kline" and forming["s"] == "BTCUSDT"
            k = forming["k"]
            assert (k["t"], k["T"], k["i"], k["x"]) == (BUCKET, BUCKET + MINUTE - 1, "1m", False)
            assert forming["E"] == START_MS + 15_000
            await assert_quiet(ws)
            sim.clock.advance(15_000)
            final = await next_message(ws)
            assert final["k"]["x"] is True and final["k"]["t"] == BUCKET
            assert final["k"]["o"] == k["o"] and float(final["k"]["v"]) >= float(k["v"])

        rows = (
            await http.get(
                sim.handle.futures_rest_base + "/fapi/v1/klines",
                params={"symbol": "BTCUSDT", "interval": "1m", "startTime": BUCKET, "limit": 1},
            )
        ).json()
        row = rows[0]
        fk = final["k"]
        assert [fk["t"], fk["o"], fk["h"], fk["l"], fk["c"], fk["v"], fk["T"]] == row[:7]


async def test_clock_jump_sends_every_missed_final_in_order(sim):
    with trio.fail_after(10):
        async with ws_client(sim.handle.spot_ws_base + "/ws/ethusdt@kline_1m") as ws:
            await sim.wait_streams(1)
            sim.clock.advance(3 * MINUTE)
            finals = [await next_message(ws) for _ in range(3)]
            assert [m["k"]["t"] for m in finals] == [BUCKET + i * MINUTE for i in range(3)]
            assert all(m["k"]["x"] for m in finals)
            assert all(a["k"]["c"] == b["k"]["o"] for a, b in itertools.pairwise(finals))


@pytest.mark.slow
async def test_real_speed_cadence():
    config = SimConfig(start_ms=BUCKET, speed=120, messages_per_bucket=3, control_port=None)
    with trio.fail_after(10):
        async with open_simexchange(config) as sim:
            url = sim.handle.spot_ws_base + "/ws/bnbusdt@kline_1m"
            async with ws_client(url) as ws:
                messages = []
                while sum(m["k"]["x"] for m in messages) < 2:
                    messages.append(await next_message(ws))
        finals = [m["k"]["t"] for m in messages if m["k"]["x"]]
        assert finals[1] == finals[0] + MINUTE
        second_bucket = [m for m in messages if m["k"]["t"] == finals[1]]
        # At most two forming updates per bucket, then exactly one final.
        assert 1 <= len(second_bucket) <= 3 and second_bucket[-1]["k"]["x"]
        assert not any(m["k"]["x"] for m in second_bucket[:-1])


async def test_unknown_paths_are_rejected_and_unknown_symbols_stay_quiet(sim):
    with trio.fail_after(10):
        with pytest.RaisesGroup(trio_websocket.ConnectionRejected) as rejected:
            async with ws_client(sim.handle.futures_ws_base + "/ws/btcusdt@depth"):
                pass
        assert rejected.value.exceptions[0].status_code == 404
        async with ws_client(sim.handle.futures_ws_base + "/ws/nopeusdt@kline_1m") as ws:
            await sim.wait_streams(1)
            sim.clock.advance(2 * MINUTE)
            await assert_quiet(ws)


async def test_drop_cuts_streams_without_a_close_frame(sim):
    with trio.fail_after(10):
        url = sim.handle.spot_ws_base + "/ws/btcusdt@kline_1m"
        async with ws_client(url) as a, ws_client(url) as b:
            await sim.wait_streams(2)
            assert sim.drop_streams() == 2
            for ws in (a, b):
                with pytest.raises(trio_websocket.ConnectionClosed) as closed:
                    await ws.get_message()
                assert closed.value.reason.code == 1006
        while sim.statistics().open_streams:
            await trio.sleep(0.01)


async def test_silence_skips_messages_but_keeps_streams_open(sim):
    with trio.fail_after(10):
        url = sim.handle.spot_ws_base + "/ws/btcusdt@kline_1m"
        async with ws_client(url) as ws:
            await sim.wait_streams(1)
            sim.go_silent()
            sim.clock.advance(MINUTE)
            await assert_quiet(ws)
            sim.resume_streams()
            sim.clock.advance(MINUTE)
            final = await next_message(ws)
            # The final due during the silence is lost, as in a real outage.
            assert final["k"]["t"] == BUCKET + MINUTE and final["k"]["x"]
            assert sim.statistics().open_streams == 1


async def test_malformed_messages_are_sent_on_every_stream(sim):
    with trio.fail_after(10):
        url = sim.handle.spot_ws_base + "/ws/btcusdt@kline_1m"
        async with ws_client(url) as ws:
            await sim.wait_streams(1)
            assert await sim.inject_malformed(3) == 1
            raw = [await ws.get_message() for _ in range(3)]
            assert raw[0] == '{"e":"kline","E":'
            assert "k" not in json.loads(raw[1])
            assert json.loads(raw[2])["k"]["o"] == "NaN"
            sim.clock.advance(MINUTE)
            assert (await next_message(ws))["k"]["x"]
