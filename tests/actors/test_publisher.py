"""The publisher: per-subscriber positions, lagging and resync, system events, forming drops."""

from __future__ import annotations

import json

from actors.outbox import Outbox
from actors.publisher import Publisher, Subscription

SID = "binance:spot:PUB/USDT:1m"


def row(t: int) -> tuple:
    return (t, 1.0, 1.0, 1.0, 1.0, 1.0)


class Ledger:
    """The rows a publisher may read as due (what the actor would read from SQLite)."""

    def __init__(self) -> None:
        self.rows: list[tuple] = []
        self.reads = 0

    async def due(self, last_sent: int | None) -> list[tuple]:
        self.reads += 1
        return [r for r in self.rows if last_sent is None or r[0] > last_sent]


def make(capacity: int = 100) -> tuple[Publisher, Ledger, Outbox, Subscription]:
    ledger = Ledger()
    publisher = Publisher(SID, 60, 5000, {}, ledger.due)
    outbox = Outbox(capacity)
    sub = Subscription(outbox, None, supports_batch=False)
    publisher.subscribers[outbox.conn_id] = sub
    return publisher, ledger, outbox, sub


def drain(outbox: Outbox) -> list[dict]:
    return [json.loads(outbox.receive_nowait()) for _ in range(outbox.pending())]


async def test_publish_sends_the_written_rows_without_a_read():
    publisher, ledger, outbox, sub = make()
    sub.last_sent = 60
    ledger.rows = [row(60), row(120), row(180)]
    await publisher.publish([row(120), row(180)], prev_head=60)
    assert [f["candle"]["candle_time"] for f in drain(outbox)] == [120, 180]
    assert sub.last_sent == 180 and ledger.reads == 0


async def test_full_outbox_marks_lagging_and_resync_sends_the_rest_then_pending_events():
    publisher, ledger, outbox, sub = make(capacity=2)
    ledger.rows = [row(t) for t in (60, 120, 180)]
    await publisher.publish(ledger.rows, prev_head=None)
    assert sub.lagging and outbox.take_lagging() == {SID}
    publisher.broadcast_rewind(60)  # held while lagging
    assert sub.pending_rewind == 60
    assert [f["candle"]["candle_time"] for f in drain(outbox)] == [60, 120]
    await publisher.resync(outbox.conn_id)
    frames = drain(outbox)
    assert frames[0]["candle"]["candle_time"] == 180
    assert frames[1]["type"] == "system" and frames[1]["data"] == {"from_time": 60}
    assert not sub.lagging and sub.pending_rewind is None


async def test_rebuild_event_reaches_every_subscriber():
    publisher, _, outbox, _ = make()
    publisher.broadcast_rebuild(600)
    (frame,) = drain(outbox)
    assert frame["event"] == "factor.rebuild" and frame["data"] == {"to_time": 600}


async def test_forming_skips_subscribers_past_it_and_drops_closed_outboxes():
    publisher, _, outbox, sub = make()
    sub.last_sent = 120
    publisher.offer_forming(row(120))
    assert outbox.pending() == 0
    publisher.offer_forming(row(180))
    assert drain(outbox)[0]["type"] == "candle_forming"
    outbox.close()
    publisher.offer_forming(row(240))
    assert publisher.subscribers == {}
