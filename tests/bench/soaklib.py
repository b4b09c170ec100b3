"""The soak driver shared by `bench_soak.py` and the short soak test.

The simulated exchange feeds N whitelisted 1m series (pinned live jobs) into a real `canvas
serve` process. Simulated time moves in cycles: an exchange-wide outage that jumps the clock
ahead (every job reconnects and backfills the hole over REST, as after Binance's daily
disconnect), then a live stretch at a fast clock (every close arrives on the job's stream,
goes through store → factors → overlay → WebSocket, while clients read frames, draw deltas
and candles), then replay packages for the cycle; one derived timeframe is subscribed and read.
At each simulated day it samples the server (RSS, descriptors, disk, WAL, mailboxes) and the
latencies of the day; at the end it checks that nothing was lost.
"""

from __future__ import annotations

import json
import random
import tempfile
import time
from collections import defaultdict
from collections.abc import Callable
from pathlib import Path
from typing import Any

import attrs
import httpx
import trio
import trio_websocket
from benchlib import canvas_process, percentile, rss_mb
from soakcheck import (
    delivery_problem,
    disk_usage,
    exchange_candles,
    fd_count,
    ledger_problem,
    read_ledger,
)

from canvas.rollup import rollup
from canvas.simexchange import SimConfig
from canvas.simexchange.server import SimExchange

TF = 60
MINUTE_MS = 60_000
DAY_MIN = 1440
START_MS = 1_767_225_600_000  # 2026-01-01T00:00Z, a minute boundary
# `baseline` (the whitelist, held in memory) does no work: its latency is the load on the
# machine, against which the others are judged.
READS = ("baseline", "candles", "frame_live", "draw_delta_0", "draw_delta_next")


@attrs.define
class SoakConfig:
    series: int = 50
    days: float = 30.0
    speed: float = 600.0
    cycle_min: int = 720  # simulated minutes per cycle (live stretch + outage)
    live_min: int = 60  # of which live, on the fast clock
    replay_every_min: int = 240  # one replay package per this many simulated minutes
    derived: str = "5m"
    read_interval_s: float = 0.05
    max_wall_s: float = 1500.0  # stop early (and say so) past this
    bootstrap: int = 500  # candles each series starts with; also the replay window


@attrs.define
class Sample:
    """One row of the report: the server at the end of a simulated day."""

    day: float
    candles: int
    rss_mb: float
    fds: int
    disk_mb: float
    bytes_per_candle: float
    ledger_bytes_per_candle: float  # the series ledgers alone (with WAL, no replay packages)
    replay_mb: float  # replay packages (capped by REPLAY_PACKAGE_MAX_MB and age)
    wal_mb: float
    wal_max_mb: float
    mailbox_max: int
    p50: dict[str, float]
    p99: dict[str, float]
    count: dict[str, int]
    patch_p50: float = float("nan")  # versions per incremental draw/delta reply
    patch_p99: float = float("nan")
    # Every latency of the day, by kind (for percentiles over several days).
    raw: dict[str, list[float]] = attrs.field(factory=dict, repr=False)


@attrs.define
class SoakResult:
    samples: list[Sample] = attrs.Factory(list)
    stopped_early: bool = False
    lost: dict[str, str] = attrs.Factory(dict)  # series → what differs from the exchange
    delivery_problems: dict[str, str] = attrs.Factory(dict)
    delivered: int = 0
    errors: dict[str, int] = attrs.Factory(lambda: defaultdict(int))  # unexpected replies
    wall_s: float = 0.0


@attrs.define
class _Live:
    """The current live stretch: sim ms `s0` happened at trio time `r0`; clock `speed`."""

    r0: float = 0.0
    s0: int = 0
    s_end: int = 0
    speed: float = 0.0
    on: bool = False

    def real_at(self, sim_ms: int) -> float:
        return self.r0 + (sim_ms - self.s0) / (self.speed * 1000)


def symbols_for(n: int) -> tuple[tuple[str, ...], list[str]]:
    syms = tuple(f"S{i:03d}USDT" for i in range(n))
    return syms, [f"binance:futures:S{i:03d}/USDT:1m" for i in range(n)]


@attrs.define(eq=False)
class Soak:
    """One soak run against one server process and one simulated exchange."""

    cfg: SoakConfig
    sim: SimExchange
    client: httpx.AsyncClient
    port: int
    pid: int
    data_dir: Path
    series_ids: list[str]
    report: Callable[[Sample], None]
    live: _Live = attrs.Factory(_Live)
    lat: dict[str, list[float]] = attrs.Factory(lambda: defaultdict(list))
    mailbox_max: int = 0
    received: dict[str, list[int]] = attrs.Factory(lambda: defaultdict(list))
    # Each series' draw cursor as a chart client left it: refreshed at the end of every live
    # stretch, so an incremental read covers at most one cycle (the outage's backfill and the
    # live minutes so far), whatever the series' age — the read a client makes after Binance's
    # daily disconnect. Its cost follows the versions since the cursor (§5), not history.
    cursors: dict[str, int] = attrs.Factory(dict)
    patch_sizes: list[int] = attrs.Factory(list)
    result: SoakResult = attrs.Factory(SoakResult)

    @property
    def derived_id(self) -> str:
        return self.series_ids[0].rsplit(":", 1)[0] + ":" + self.cfg.derived

    async def subscriber(self, sid: str, task_status=trio.TASK_STATUS_IGNORED) -> None:
        """One WebSocket client: records every closed candle time it receives, and for the
        ones closed during a live stretch, the exchange close → receipt latency."""
        url = f"ws://127.0.0.1:{self.port}/ws/market"
        async with trio_websocket.open_websocket_url(url) as ws:
            await ws.send_message(
                json.dumps({"type": "subscribe", "series_id": sid, "supports_batch": True})
            )
            task_status.started()
            got = self.received[sid]
            tf = TF if sid.endswith(":1m") else TF * int(self.cfg.derived[:-1])
            while True:
                msg = json.loads(await ws.get_message())
                if msg["type"] == "candle_closed":
                    times = [msg["candle"]["candle_time"]]
                elif msg["type"] == "candles_batch":
                    times = [c["candle_time"] for c in msg["candles"]]
                else:
                    continue
                now = trio.current_time()
                got.extend(times)
                live = self.live
                if live.on and tf == TF:
                    close_ms = (times[-1] + TF) * 1000
                    if live.s0 < close_ms <= live.s_end:
                        self.lat["delivery"].append((now - live.real_at(close_ms)) * 1000)

    async def timed(self, kind: str, path: str, **params: Any) -> httpx.Response:
        t0 = time.perf_counter()
        r = await self.client.get(path, params=params)
        self.lat[kind].append((time.perf_counter() - t0) * 1000)
        if r.status_code != 200:
            self.result.errors[f"{kind} {r.status_code} {r.text[:80]}"] += 1
        return r

    async def reader(self) -> None:
        """Reads while the clock runs: each tick one series, every read kind."""
        rng = random.Random(1)
        ids = [*self.series_ids, self.derived_id]
        while True:
            await trio.sleep(self.cfg.read_interval_s)
            if not self.live.on:
                continue
            sid = rng.choice(ids)
            await self.timed("baseline", "/api/market/whitelist")
            await self.timed("candles", "/api/market/candles", series_id=sid, limit=500)
            await self.timed("frame_live", "/api/frame/live", series_id=sid)
            await self.timed("draw_delta_0", "/api/draw/delta", series_id=sid)
            r = await self.timed(
                "draw_delta_next",
                "/api/draw/delta",
                series_id=sid,
                cursor_version_id=self.cursors.get(sid, 0),
            )
            if r.status_code == 200:
                reply = r.json()
                self.cursors[sid] = reply["next_cursor"]["version_id"]
                self.patch_sizes.append(len(reply["instruction_catalog_patch"]))

    async def refresh_cursors(self) -> None:
        """Every series' cursor to its head (a one-candle window keeps the read small)."""
        for sid in [*self.series_ids, self.derived_id]:
            r = await self.client.get(
                "/api/draw/delta", params={"series_id": sid, "window_candles": 1}
            )
            if r.status_code == 200:
                self.cursors[sid] = r.json()["next_cursor"]["version_id"]

    async def ingest_state(self) -> dict[str, Any]:
        return (await self.client.get("/api/market/debug/ingest_state")).json()

    async def mailbox_watch(self) -> None:
        while True:
            await trio.sleep(0.5)
            if self.live.on:
                state = await self.ingest_state()
                depth = max((s["mailbox_depth"] for s in state["series"]), default=0)
                self.mailbox_max = max(self.mailbox_max, depth)

    async def caught_up(self) -> None:
        """Until every series stored, analysed and derived the last closed minute."""
        target = self.sim.clock.now_ms() // MINUTE_MS * TF - TF
        wanted = set(self.series_ids)
        while True:
            state = await self.ingest_state()
            done = {
                s["series_id"]
                for s in state["series"]
                if s["store_head_time"] == target
                and s["factor_head_time"] == target
                and s["overlay_head_time"] == target
            }
            if wanted <= done:
                return
            await trio.sleep(0.05)

    async def live_stretch(self, minutes: int) -> None:
        clock = self.sim.clock
        start = clock.now_ms()
        self.live = _Live(trio.current_time(), start, start + minutes * MINUTE_MS, self.cfg.speed)
        self.live.on = True
        clock.set_speed(self.cfg.speed)
        await clock.wait_until(self.live.s_end)
        clock.set_speed(0)
        await self.caught_up()
        self.live.on = False
        await self.refresh_cursors()

    async def outage(self, minutes: int) -> None:
        """The exchange drops every connection and is away for `minutes` of sim time."""
        await self.sim.refuse_connections()
        self.sim.clock.advance(minutes * MINUTE_MS)
        await self.sim.accept_connections()
        await self.caught_up()

    async def replay_builds(self, since_ms: int) -> None:
        """One package per `replay_every_min` of simulated time since `since_ms`, each
        ending at its own time (so each is a new build, never a cached package)."""
        step = self.cfg.replay_every_min * MINUTE_MS
        now = self.sim.clock.now_ms()
        for end_ms in range(since_ms + step, now + 1, step):
            await self.replay_build(end_ms // 1000 - TF)

    async def replay_build(self, to_time: int) -> None:
        t0 = time.perf_counter()
        body = {
            "series_id": self.series_ids[0],
            "to_time": to_time,
            "window_candles": self.cfg.bootstrap,
        }
        r = await self.client.post("/api/replay/build", json=body)
        if r.status_code != 200:
            self.result.errors[f"replay_build {r.status_code} {r.text[:80]}"] += 1
            return
        job = r.json()["job_id"]
        status = "building"
        while status == "building":
            await trio.sleep(0.05)
            r = await self.client.get("/api/replay/status", params={"job_id": job})
            status = r.json()["status"]
        if status != "done":
            self.result.errors[f"replay_build {r.text[:80]}"] += 1
            return
        await self.timed("replay_window", "/api/replay/window", job_id=job, target_idx=0)
        self.lat["replay_build"].append((time.perf_counter() - t0) * 1000)

    async def sample(self, day: float) -> None:
        state = await self.ingest_state()
        candles = sum(j.get("closed_candles", 0) for j in state["jobs"])
        disk = disk_usage(self.data_dir)
        stored = sum(len(v) for v in self.received.values())
        s = Sample(
            day=day,
            candles=candles,
            rss_mb=rss_mb(self.pid),
            fds=fd_count(self.pid),
            disk_mb=disk.total / 2**20,
            bytes_per_candle=disk.total / max(1, stored),
            ledger_bytes_per_candle=disk.ledgers / max(1, stored),
            replay_mb=disk.replay / 2**20,
            wal_mb=disk.wal / 2**20,
            wal_max_mb=disk.wal_max / 2**20,
            mailbox_max=self.mailbox_max,
            p50={k: percentile(v, 50) for k, v in self.lat.items()},
            p99={k: percentile(v, 99) for k, v in self.lat.items()},
            count={k: len(v) for k, v in self.lat.items()},
            patch_p50=percentile(self.patch_sizes, 50),
            patch_p99=percentile(self.patch_sizes, 99),
            raw={k: list(v) for k, v in self.lat.items()},
        )
        self.result.samples.append(s)
        self.report(s)
        self.lat.clear()
        self.patch_sizes.clear()
        self.mailbox_max = 0

    async def run(self) -> None:
        cfg = self.cfg
        began = time.perf_counter()
        cycles = int(cfg.days * DAY_MIN // cfg.cycle_min)
        per_day = DAY_MIN / cfg.cycle_min
        async with trio.open_nursery() as n:
            await self.caught_up()
            await self.refresh_cursors()
            for sid in [*self.series_ids, self.derived_id]:
                await n.start(self.subscriber, sid)
            n.start_soon(self.reader)
            n.start_soon(self.mailbox_watch)
            for cycle in range(1, cycles + 1):
                # The outage first, so that every live stretch, the first one too, follows
                # a reconnect and its backfill (and reads after it look alike).
                cycle_start = self.sim.clock.now_ms()
                await self.outage(cfg.cycle_min - cfg.live_min)
                await self.live_stretch(cfg.live_min)
                await self.replay_builds(cycle_start)
                if cycle % max(1, round(per_day)) == 0 or cycle == cycles:
                    await self.sample(cycle / per_day)
                if time.perf_counter() - began > cfg.max_wall_s:
                    self.result.stopped_early = cycle < cycles
                    break
            await self.settled()
            n.cancel_scope.cancel()
        self.result.wall_s = time.perf_counter() - began
        await self.verify()

    async def settled(self) -> None:
        """Until every subscriber has everything its ledger holds (deliveries in flight)."""
        with trio.move_on_after(30):
            while True:
                heads = {s: await self.head(s) for s in [*self.series_ids, self.derived_id]}
                if all(self.received[s] and self.received[s][-1] == h for s, h in heads.items()):
                    return
                await trio.sleep(0.1)

    async def head(self, sid: str) -> int | None:
        r = await self.client.get("/api/market/candles", params={"series_id": sid, "limit": 1})
        return r.json()["server_head_time"]

    async def verify(self) -> None:
        """Ledger = the exchange's candles from the bootstrap on; derived = roll-up of the base;
        every subscriber got every stored candle once, in order."""
        problems = self.result.lost
        base = self.sim.handle.futures_rest_base
        ledgers = {}
        for i, sid in enumerate(self.series_ids):
            stored = ledgers[sid] = await read_ledger(self.client, sid)
            if not stored:
                problems[sid] = "empty ledger"
                continue
            truth = await exchange_candles(base, f"S{i:03d}USDT", stored[0][0], stored[-1][0])
            if (what := ledger_problem(stored, truth)) is not None:
                problems[sid] = what
        derived = ledgers[self.derived_id] = await read_ledger(self.client, self.derived_id)
        tf = TF * int(self.cfg.derived[:-1])
        rolled = rollup(ledgers[self.series_ids[0]], tf)
        expected = [r for r in rolled if r[0] >= derived[0][0]] if derived else []
        if derived != expected:
            problems[self.derived_id] = f"{len(derived)} vs roll-up {len(expected)}"
        for sid, stored in ledgers.items():
            what = delivery_problem(self.received[sid], [c[0] for c in stored])
            if what is not None:
                self.result.delivery_problems[sid] = what
        self.result.delivered = sum(len(v) for v in self.received.values())


async def soak(cfg: SoakConfig, report: Callable[[Sample], None]) -> SoakResult:
    """Run the soak: start the sim and a server, drive the cycles, verify; stop both."""
    symbols, series_ids = symbols_for(cfg.series)
    sim = SimExchange(
        SimConfig(
            symbols=symbols,
            speed=0,
            start_ms=START_MS,
            messages_per_bucket=2,
            extras=False,
            control_port=None,
        )
    )
    async with trio.open_nursery() as nursery:
        h = await nursery.start(sim.run)
        with tempfile.TemporaryDirectory() as tmp:
            wl = Path(tmp) / "whitelist.json"
            wl.write_text(json.dumps({"series_ids": series_ids}))
            data_dir = Path(tmp) / "data"
            settings = dict(
                enable_ingest="1",
                enable_debug_api="1",
                whitelist_path=str(wl),
                ingest_bootstrap_candles=str(cfg.bootstrap),
                derived_timeframes=cfg.derived,
                binance_futures_base_url=h.futures_rest_base,
                binance_spot_base_url=h.spot_rest_base,
                binance_futures_ws_base_url=h.futures_ws_base,
                binance_spot_ws_base_url=h.spot_ws_base,
            )
            with canvas_process(data_dir, **settings) as (url, pid):
                port = int(url.rsplit(":", 1)[1])
                async with httpx.AsyncClient(base_url=url, timeout=60) as client:
                    run = Soak(cfg, sim, client, port, pid, data_dir, series_ids, report)
                    await run.run()
        nursery.cancel_scope.cancel()
    return run.result
