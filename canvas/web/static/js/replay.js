// Replay (CONTRACT §7): prepare and build a package for the series on screen, show the build,
// then play it bar by bar from /api/replay/window — the package's own candles, its draw state
// (base + patch, checkpoints + diffs) and its factor snapshots at each bar.

import { renderDrawings, replayDefinitions } from "./drawings.js";
import { formatTime } from "./series.js";

const MAX_WINDOW_CANDLES = 2000;
const MIN_WINDOW_CANDLES = 100;
const POLL_MS = 250;
const START_BAR = 99; // open a few bars in, so the first view has context

const $ = (id) => document.getElementById(id);
const ICON_PLAY = '<svg viewBox="0 0 16 16" width="14" height="14"><path d="M5 3l8 5-8 5z" fill="currentColor"/></svg>';
const ICON_PAUSE =
  '<svg viewBox="0 0 16 16" width="14" height="14"><path d="M4 3h3v10H4zM9 3h3v10H9z" fill="currentColor"/></svg>';
const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

function toCandle(k) {
  return { candle_time: k.time, open: k.open, high: k.high, low: k.low, close: k.close, volume: k.volume };
}

/** "12 major · 40 minor" for a factor snapshot: list lengths of its history, keys of its head. */
function describe(snapshot) {
  if (!snapshot) return "absent";
  const parts = [];
  for (const [key, value] of Object.entries(snapshot.history || {})) {
    if (Array.isArray(value)) parts.push(`${value.length} ${key}`);
  }
  const head = Object.keys(snapshot.head || {}).filter((k) => snapshot.head[k] !== null);
  if (head.length) parts.push(`head: ${head.join(", ")}`);
  return parts.join(" · ") || "—";
}

export class ReplaySession {
  /** ctx: {api, chart, features, series (parsed), ui: {connection, notice}} */
  constructor(ctx) {
    Object.assign(this, ctx);
    this.sid = this.series.id;
    this.windows = new Map();
    this.status = "preparing";
    this.total = 0;
    this.idx = -1;
    this.shown = -1;
    this.playing = false;
    this.stopped = false;
    this.chain = Promise.resolve();
    this.rendered = renderDrawings([], () => true, null, null);
    this.onKey = (e) => this.key(e);
    this.bindControls();
  }

  bindControls() {
    this.handlers = [
      ["replay-start", () => this.seek(0)],
      ["replay-back", () => this.step(-1)],
      ["replay-step", () => this.step(1)],
      ["replay-play", () => (this.playing ? this.pause() : this.play())],
    ].map(([id, fn]) => {
      const button = $(id);
      button.onclick = fn;
      return button;
    });
    $("replay-seek").oninput = (e) => this.seek(Number(e.target.value));
    document.addEventListener("keydown", this.onKey);
  }

  key(e) {
    if (e.target instanceof HTMLInputElement && e.target.type === "text") return;
    if (this.status !== "ready") return;
    if (e.key === " ") this.playing ? this.pause() : this.play();
    else if (e.key === "ArrowRight") this.step(1);
    else if (e.key === "ArrowLeft") this.step(-1);
    else if (e.key === "Home") this.seek(0);
    else return;
    e.preventDefault();
  }

  building(text, failed = false) {
    $("replay-bar").classList.remove("hidden");
    $("replay-build").classList.remove("hidden");
    $("replay-controls").classList.add("hidden");
    $("replay-build-text").textContent = text;
    $("replay-progress").classList.toggle("error", failed);
    document.querySelector("#replay-build .spinner").classList.toggle("stopped", failed);
  }

  async start() {
    this.chart.reset(this.series.tf);
    this.ui.connection("replay");
    document.getElementById("chart-view").classList.add("replaying");
    try {
      await this.build();
    } catch (err) {
      if (this.stopped) return;
      this.status = "error";
      this.building(`Replay unavailable: ${err.detail || err.message}`, true);
      return;
    }
    if (this.stopped) return;
    this.status = "ready";
    $("replay-build").classList.add("hidden");
    $("replay-controls").classList.remove("hidden");
    $("replay-seek").max = String(this.total - 1);
    await this.seek(Math.min(START_BAR, this.total - 1));
  }

  /** prepare → build → poll status until the package is done (§7.1, §7.3, §7.4). */
  async build() {
    this.building("Reading the series…");
    const page = await this.api.get("/api/market/candles", {
      series_id: this.sid,
      limit: MAX_WINDOW_CANDLES,
    });
    const n = page.candles.length;
    if (n < MIN_WINDOW_CANDLES) {
      throw new Error(`needs ${MIN_WINDOW_CANDLES} stored candles, this series has ${n}`);
    }
    const toTime = page.candles.at(-1).candle_time;
    this.building(`Preparing factors and drawings up to ${formatTime(toTime)}…`);
    const prep = await this.api.post("/api/replay/prepare", {
      series_id: this.sid,
      to_time: toTime,
      window_candles: n,
    });
    this.building(`Building a package of ${n} bars…`);
    const started = performance.now();
    let reply = await this.api.post("/api/replay/build", {
      series_id: this.sid,
      to_time: prep.aligned_time,
      window_candles: n,
      window_size: 500,
      snapshot_interval: 25,
    });
    this.jobId = reply.job_id;
    for (;;) {
      if (this.stopped) return;
      reply = await this.api.get("/api/replay/status", { job_id: this.jobId });
      if (reply.status === "done") break;
      if (reply.status === "error") throw new Error(reply.error || "build failed");
      const secs = ((performance.now() - started) / 1000).toFixed(1);
      this.building(`Building a package of ${n} bars… ${secs} s (job ${this.jobId.slice(0, 8)})`);
      await sleep(POLL_MS);
    }
    this.metadata = reply.metadata;
    this.total = reply.metadata.total_candles;
    this.windowSize = reply.metadata.window_size;
  }

  stop() {
    this.stopped = true;
    this.playing = false;
    document.removeEventListener("keydown", this.onKey);
    for (const b of this.handlers) b.onclick = null;
    $("replay-seek").oninput = null;
    $("replay-bar").classList.add("hidden");
    $("replay-info").classList.add("hidden");
    document.getElementById("chart-view").classList.remove("replaying");
  }

  loadWindow(k) {
    if (!this.windows.has(k)) {
      const p = this.api.get("/api/replay/window", {
        job_id: this.jobId,
        target_idx: k * this.windowSize,
      });
      p.catch(() => this.windows.delete(k));
      this.windows.set(k, p);
    }
    return this.windows.get(k);
  }

  bar(idx) {
    return this.cache[Math.floor(idx / this.windowSize)].window.kline[idx % this.windowSize];
  }

  /** Show bar `idx` (queued behind any bar still being shown). */
  seek(idx) {
    const target = Math.max(0, Math.min(this.total - 1, idx));
    this.chain = this.chain.then(() => this.show(target)).catch((err) => {
      this.ui.notice(`Replay failed: ${err.detail || err.message}`);
      this.pause();
    });
    return this.chain;
  }

  step(delta) {
    this.pause();
    return this.seek(this.idx + delta);
  }

  async show(idx) {
    if (this.stopped || this.status !== "ready") return;
    const k = Math.floor(idx / this.windowSize);
    const loads = [];
    for (let i = 0; i <= Math.min(k + 1, Math.ceil(this.total / this.windowSize) - 1); i += 1) {
      loads.push(this.loadWindow(i)); // the next window too: playing never waits at a boundary
    }
    this.cache = await Promise.all(loads.slice(0, k + 1));
    if (this.stopped) return;
    if (idx === this.shown + 1 && this.shown >= 0) {
      this.chart.appendClosed(toCandle(this.bar(idx)));
    } else {
      const candles = [];
      for (let i = 0; i <= idx; i += 1) candles.push(toCandle(this.bar(i)));
      this.chart.setCandles(candles);
      if (this.shown < 0) this.chart.fitRecent();
    }
    this.shown = idx;
    this.idx = idx;
    this.paint();
  }

  /** Draw state and factor snapshots at the current bar. */
  paint() {
    const win = this.cache[Math.floor(this.idx / this.windowSize)];
    const t = this.bar(this.idx).time;
    this.rendered = this.chart.showDrawings(replayDefinitions(win.window, this.idx, t), this.features);
    this.snapshots = this.snapshotsAt(win.factor_snapshots || [], t);
    const rows = Object.entries(this.snapshots).map(
      ([name, snap]) => `<div class="factor"><span>${name}</span><span>${describe(snap)}</span></div>`,
    );
    const info = $("replay-info");
    info.innerHTML = `<div class="head">Factor state at bar</div>${rows.join("") || "<div class='muted'>no factor output yet</div>"}`;
    info.classList.remove("hidden");
    $("replay-seek").value = String(this.idx);
    $("replay-position").textContent = `bar ${this.idx + 1} / ${this.total} · ${formatTime(t)}`;
  }

  /** Newest record per factor at or before t (a null snapshot: the factor is absent). */
  snapshotsAt(records, t) {
    const out = {};
    for (const r of records) {
      if (r.candle_time <= t) out[r.factor_name] = r.snapshot;
    }
    for (const name of Object.keys(out)) if (out[name] === null) delete out[name];
    return out;
  }

  play() {
    if (this.playing || this.status !== "ready") return;
    if (this.idx >= this.total - 1) this.seek(0);
    this.playing = true;
    $("replay-play").innerHTML = ICON_PAUSE;
    const tick = async () => {
      if (!this.playing || this.stopped) return;
      const began = performance.now();
      await this.seek(this.idx + 1);
      if (this.idx >= this.total - 1) {
        this.pause();
        return;
      }
      const speed = Number($("replay-speed").value) || 10;
      setTimeout(tick, Math.max(0, 1000 / speed - (performance.now() - began)));
    };
    tick();
  }

  pause() {
    this.playing = false;
    $("replay-play").innerHTML = ICON_PLAY;
  }

  snapshot() {
    return {
      status: this.status,
      jobId: this.jobId || null,
      total: this.total,
      idx: this.idx,
      playing: this.playing,
      windowSize: this.windowSize || null,
      barTime: this.idx >= 0 && this.cache ? this.bar(this.idx).time : null,
      factors: this.snapshots ? Object.keys(this.snapshots) : [],
    };
  }
}
