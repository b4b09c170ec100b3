"""Shared exchange connections of one market: many series' kline streams on a few combined-stream
connections, joined and left by SUBSCRIBE / UNSUBSCRIBE without disturbing the others, opened
at a bounded rate and renewed before the exchange's 24-hour limit (CONTRACT §8 rev 4).

Each connection has one reader task that dispatches by stream name into per-series leases
(bounded channels, never waited on), and one control task that sends join/leave batches at
most `control_per_second` times a second. Jobs (actors/ingest_jobs.py) own the leases.
"""

from __future__ import annotations

import itertools
import logging

import attrs
import trio

from actors.throttle import SlidingWindow
from canvas.exchange.combined import CombinedConnection, ControlReply, StreamMessage
from canvas.exchange.errors import (
    KlineParseError,
    StreamClosed,
    StreamError,
    StreamStalled,
    StreamUnavailable,
)
from canvas.exchange.kline_parse import KlineUpdate, parse_kline_message

log = logging.getLogger("canvas.ingest.pool")

SUBSCRIBE, UNSUBSCRIBE = "SUBSCRIBE", "UNSUBSCRIBE"


@attrs.frozen
class StreamRestarted:
    """Delivered to a lease whose stream moved to a renewed connection: what closed meanwhile
    must be backfilled before going on."""

    connection: str


@attrs.define(eq=False)
class Lease:
    """One series' stream on the pool: the updates its connection delivers, in order.

    Delivery never waits: when the job falls behind, forming updates are dropped and a dropped
    closed update sets `lost_closed`, so the job backfills over REST instead.
    """

    stream: str
    symbol: str
    interval: str
    capacity: int
    conn: _Conn | None = None
    messages: int = 0
    malformed: int = 0
    last_malformed: str | None = None
    lost_closed: bool = False
    error: BaseException | None = None
    _settled: trio.Event = attrs.Factory(trio.Event)
    _send: trio.MemorySendChannel[KlineUpdate | StreamRestarted] = attrs.field(init=False)
    _recv: trio.MemoryReceiveChannel[KlineUpdate | StreamRestarted] = attrs.field(init=False)

    def __attrs_post_init__(self) -> None:
        self._send, self._recv = trio.open_memory_channel(self.capacity)

    @property
    def connection_id(self) -> str | None:
        return self.conn.ident if self.conn is not None else None

    def deliver(self, item: KlineUpdate | StreamRestarted) -> None:
        try:
            self._send.send_nowait(item)
        except trio.WouldBlock:
            if not isinstance(item, KlineUpdate) or item.closed:
                self.lost_closed = True
        except trio.ClosedResourceError:
            return  # the job's end is closed: it failed already and is on its way out

    def settle(self) -> None:
        """The stream is live on its connection: the job may backfill and follow it."""
        self._settled.set()

    def fail(self, error: BaseException) -> None:
        """End the lease: `receive` raises `error` once what was delivered is consumed."""
        if self.error is None:
            self.error = error
            self._send.close()
            self._settled.set()

    async def wait_live(self) -> None:
        await self._settled.wait()
        if self.error is not None:
            raise self.error

    async def receive(self) -> KlineUpdate | StreamRestarted:
        """The next update or restart marker; raises the error the lease failed with."""
        try:
            return await self._recv.receive()
        except trio.EndOfChannel:
            assert self.error is not None
            raise self.error from None

    def take_lost_closed(self) -> bool:
        lost, self.lost_closed = self.lost_closed, False
        return lost


@attrs.define(eq=False)
class _Conn:
    """One combined-stream connection, open or being opened."""

    ident: str
    limiter: SlidingWindow
    adopt_from: _Conn | None = None
    leases: dict[str, Lease] = attrs.Factory(dict)
    live: set[str] = attrs.Factory(set)
    ops: list[tuple[str, str]] = attrs.Factory(list)
    wake: trio.Event = attrs.Factory(trio.Event)
    replies: dict[int, ControlReply] = attrs.Factory(dict)
    reply_event: trio.Event = attrs.Factory(trio.Event)
    opened_at: float | None = None
    retiring: bool = False
    switched: bool = False
    settled: trio.Event = attrs.Factory(trio.Event)
    scope: trio.CancelScope = attrs.Factory(trio.CancelScope)

    def load(self) -> int:
        """Streams it carries or will carry (a successor counts what it takes over)."""
        adopting = self.adopt_from is not None and not self.switched
        return len(self.leases) + (len(self.adopt_from.leases) if adopting else 0)

    def push(self, method: str, stream: str) -> None:
        self.ops.append((method, stream))
        self.wake.set()


@attrs.define(eq=False)
class StreamPool:
    """The connections of one market. `run` is long-lived; jobs `attach` and `detach`."""

    market: str
    ws_base: str
    per_connection: int = 200
    opens_per_minute: int = 5
    control_per_second: int = 5
    # Binance closes a connection after 24 h; renew well before, make-before-break.
    lifetime_s: float = 23 * 3600.0
    renew_retry_s: float = 60.0
    silence_timeout_s: float = 30.0
    reply_timeout_s: float = 10.0
    lease_capacity: int = 256
    empty_grace_s: float = 60.0
    conns: list[_Conn] = attrs.Factory(list)
    opened_total: int = 0
    _opens: SlidingWindow = attrs.field(init=False)
    _serial: itertools.count = attrs.Factory(lambda: itertools.count(1))
    _nursery: trio.Nursery | None = None

    def __attrs_post_init__(self) -> None:
        self._opens = SlidingWindow(self.opens_per_minute, 60.0)

    async def run(self, *, task_status: trio.TaskStatus[StreamPool] = trio.TASK_STATUS_IGNORED):
        async with trio.open_nursery() as nursery:
            self._nursery = nursery
            task_status.started(self)
            await trio.sleep_forever()

    async def attach(self, stream: str, symbol: str, interval: str) -> Lease:
        """Put `stream` on a connection; returns once it is live there (so a backfill read
        after this misses nothing). Raises the StreamError that kept it from going live."""
        lease = Lease(stream, symbol, interval, self.lease_capacity)
        self._place(lease)
        try:
            await lease.wait_live()
        except BaseException:
            self.detach(lease)
            raise
        return lease

    def detach(self, lease: Lease) -> None:
        """Take `stream` off its connection (UNSUBSCRIBE); the others never notice."""
        conn, lease.conn = lease.conn, None
        lease.fail(StreamClosed(None, "detached"))
        if conn is None or conn.leases.get(lease.stream) is not lease:
            return
        del conn.leases[lease.stream]
        if conn.opened_at is not None:
            conn.push(UNSUBSCRIBE, lease.stream)
        if conn.load() == 0 and not conn.retiring:
            assert self._nursery is not None
            self._nursery.start_soon(self._close_if_still_empty, conn)

    async def _close_if_still_empty(self, conn: _Conn) -> None:
        # An empty connection stays a while: closing it at once would make a series that
        # leaves and comes back spend one of the few new connections a minute allowed.
        await trio.sleep(self.empty_grace_s)
        if conn.load() == 0 and not conn.retiring:
            conn.retiring = True
            conn.scope.cancel()

    def _place(self, lease: Lease) -> None:
        name = lease.stream
        for conn in self.conns:
            stale = conn.leases.get(name)
            if stale is not None:
                # A job ending (evicted, restarting) still holds the stream: hand it over.
                stale.conn = None
                stale.fail(StreamClosed(None, "superseded"))
                conn.leases[name], lease.conn = lease, conn
                if name in conn.live:
                    lease.settle()
                return
        conn = next(
            (c for c in self.conns if not c.retiring and c.load() < self.per_connection), None
        )
        if conn is None:
            conn = self._open_conn()
        conn.leases[name], lease.conn = lease, conn
        if conn.opened_at is not None:
            conn.push(SUBSCRIBE, name)

    def _open_conn(self, adopt_from: _Conn | None = None) -> _Conn:
        limiter = SlidingWindow(self.control_per_second, 1.0)
        conn = _Conn(f"{self.market}#{next(self._serial)}", limiter, adopt_from)
        self.conns.append(conn)
        assert self._nursery is not None, "StreamPool.run is not running"
        self._nursery.start_soon(self._run_conn, conn)
        return conn

    async def _run_conn(self, conn: _Conn) -> None:
        error: BaseException | None = None
        try:
            with conn.scope:
                await self._opens.acquire()
                await self._serve_conn(conn)
        except Exception as exc:
            error = _leaf(exc)
            if not isinstance(error, StreamError):
                log.exception("exchange connection %s failed", conn.ident)
        finally:
            self.conns.remove(conn)
            conn.settled.set()
            if conn.adopt_from is not None and not conn.switched:
                conn.adopt_from.retiring = False  # renewal failed: the old one goes on
            gone = error or StreamClosed(None, f"{conn.ident} closed")
            if error is not None:
                log.info(
                    "exchange connection %s lost (%s streams): %s",
                    conn.ident,
                    len(conn.leases),
                    error,
                )
            for lease in list(conn.leases.values()):
                if lease.conn is conn:
                    lease.conn = None
                    lease.fail(gone)
            conn.leases.clear()

    async def _serve_conn(self, conn: _Conn) -> None:
        names = set(conn.leases)
        if conn.adopt_from is not None:
            names |= set(conn.adopt_from.leases)
        if not names:
            return
        async with CombinedConnection.open(self.ws_base, sorted(names)) as cc:
            conn.opened_at = trio.current_time()
            self.opened_total += 1
            conn.live = set(names)
            if conn.adopt_from is not None:
                self._take_over(conn, names)
            for name in sorted(names - set(conn.leases)):
                conn.push(UNSUBSCRIBE, name)  # left while we connected
            for name, lease in conn.leases.items():
                if name in names:
                    lease.settle()
                else:
                    conn.push(SUBSCRIBE, name)  # joined while we connected
            async with trio.open_nursery() as nursery:
                nursery.start_soon(self._read, conn, cc)
                nursery.start_soon(self._control, conn, cc)
                nursery.start_soon(self._renew, conn)

    def _take_over(self, conn: _Conn, names: set[str]) -> None:
        """Move the predecessor's streams here; each restarts (and so backfills) once."""
        old = conn.adopt_from
        assert old is not None
        for name, lease in list(old.leases.items()):
            conn.leases[name], lease.conn = lease, conn
            lease.deliver(StreamRestarted(conn.ident))
        old.leases.clear()
        conn.switched = True
        conn.settled.set()
        old.scope.cancel()

    async def _read(self, conn: _Conn, cc: CombinedConnection) -> None:
        """Dispatch each message to its lease, everything one socket read brought at once."""
        while True:
            for message in await cc.receive_batch(self.silence_timeout_s):
                if isinstance(message, StreamMessage):
                    self._dispatch(conn, message)
                elif isinstance(message, ControlReply):
                    conn.replies[message.id] = message
                    event, conn.reply_event = conn.reply_event, trio.Event()
                    event.set()

    @staticmethod
    def _dispatch(conn: _Conn, message: StreamMessage) -> None:
        lease = conn.leases.get(message.stream)
        if lease is None or lease.conn is not conn:
            return
        lease.messages += 1
        try:
            update = parse_kline_message(message.data, symbol=lease.symbol, interval=lease.interval)
        except KlineParseError as exc:
            lease.malformed += 1
            lease.last_malformed = exc.message
            return
        lease.deliver(update)

    async def _control(self, conn: _Conn, cc: CombinedConnection) -> None:
        """Send queued joins/leaves in order, consecutive ones of a kind in one message."""
        while True:
            while not conn.ops:
                await conn.wake.wait()
                conn.wake = trio.Event()
            await conn.limiter.acquire()
            method, batch = conn.ops[0][0], []
            while conn.ops and conn.ops[0][0] == method:
                batch.append(conn.ops.pop(0)[1])
            reply = await self._ask(conn, cc, method, batch)
            if method == UNSUBSCRIBE:
                conn.live.difference_update(batch)
                continue
            for name in batch:
                lease = conn.leases.get(name)
                if reply.error is not None and lease is not None:
                    del conn.leases[name]
                    lease.conn = None
                    lease.fail(StreamUnavailable(f"{name}: SUBSCRIBE refused: {reply.error}"))
                elif reply.error is None:
                    conn.live.add(name)
                    if lease is not None:
                        lease.settle()

    async def _ask(
        self, conn: _Conn, cc: CombinedConnection, method: str, batch: list[str]
    ) -> ControlReply:
        ident = await cc.send_control(method, batch)
        with trio.move_on_after(self.reply_timeout_s):
            while ident not in conn.replies:
                await conn.reply_event.wait()
            return conn.replies.pop(ident)
        raise StreamStalled(self.reply_timeout_s)

    async def _renew(self, conn: _Conn) -> None:
        """Before the exchange's limit, open a successor carrying the same streams."""
        assert conn.opened_at is not None
        deadline = conn.opened_at + self.lifetime_s
        while True:
            await trio.sleep_until(deadline)
            conn.retiring = True
            successor = self._open_conn(adopt_from=conn)
            await successor.settled.wait()
            if successor.switched:
                return  # the successor cancels us once it carries our streams
            log.warning("renewing %s failed; it stays until the next try", conn.ident)
            deadline = trio.current_time() + self.renew_retry_s

    def statistics(self) -> list[dict[str, object]]:
        """Per connection: id, streams carried, seconds open (the operator's view)."""
        now = trio.current_time()
        return [
            {
                "id": c.ident,
                "streams": len(c.leases),
                "open_for_s": None if c.opened_at is None else round(now - c.opened_at, 3),
            }
            for c in self.conns
        ]


def _leaf(exc: BaseException) -> BaseException:
    while isinstance(exc, BaseExceptionGroup) and len(exc.exceptions) == 1:
        exc = exc.exceptions[0]
    return exc
