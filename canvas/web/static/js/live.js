// The live chart of one series: history over HTTP, then /ws/market; drawings from
// /api/frame/live, then /api/draw/delta from the cursor after each closed candle.
//
// WebSocket frames are handled strictly in order through one promise chain, so a `gap` that
// re-reads the missing range over HTTP finishes before the next candle is drawn. Draw reads
// go through one loop as well (at most one in flight; a read asked for meanwhile runs once
// after it), so a reset to cursor 0 after factor.rewind/rebuild can never be overtaken by an
// older incremental reply.

import { ApiError } from "./api.js";
import { DrawState, renderDrawings } from "./drawings.js";
import { MarketFeed } from "./feed.js";

const PAGE_LIMIT = 5000; // the contract's largest `limit`
const HISTORY_PAGE = 1000;
const LOAD_OLDER_AT = 20; // bars from the left edge at which older candles are fetched

export class LiveSession {
  /** ctx: {api, chart, features, series (parsed), bars, ui: {connection, notice, history}} */
  constructor(ctx) {
    Object.assign(this, ctx);
    this.sid = this.series.id;
    this.draw = new DrawState();
    this.windowCandles = Math.min(PAGE_LIMIT, Math.max(100, this.bars));
    this.queue = Promise.resolve();
    this.stopped = false;
    this.drawBusy = false;
    this.drawAgain = false;
    this.drawReset = false;
    this.history = { loading: false, exhausted: false };
    this.rendered = renderDrawings([], () => true, null, null);
    this.stats = {
      phase: "loading",
      firstPaintMs: null,
      latencies: [],
      closedReceived: 0,
      drawResets: 0, // draw state re-read from cursor 0 (after factor.rewind / factor.rebuild)
      gapsFilled: 0,
    };
    this.feed = null;
  }

  async start() {
    this.chart.reset(this.series.tf);
    const [page, frame] = await Promise.all([
      this.api.get("/api/market/candles", { series_id: this.sid, limit: this.bars }),
      this.readFrame(),
    ]);
    if (this.stopped) return;
    this.stats.dataMs = performance.now();
    this.chart.setCandles(page.candles);
    this.chart.fitRecent();
    this.history.exhausted = page.candles.length < this.bars;
    if (frame) this.draw.apply(frame.draw_state, 0);
    this.redraw();
    this.stats.handedMs = performance.now();
    this.stats.phase = "live";
    requestAnimationFrame(() => {
      this.stats.firstPaintMs = performance.now();
    });
    this.feed = new MarketFeed({
      api: this.api,
      seriesId: this.sid,
      since: () => this.chart.lastTime(),
      onFrame: (msg, arrivedAt) => this.enqueue(msg, arrivedAt),
      onState: (state) => this.ui.connection(state),
    });
    this.feed.start();
  }

  stop() {
    this.stopped = true;
    if (this.feed) this.feed.stop();
  }

  async readFrame() {
    try {
      return await this.api.get("/api/frame/live", {
        series_id: this.sid,
        window_candles: this.windowCandles,
      });
    } catch (err) {
      if (err instanceof ApiError && err.status === 404) return null; // no candles yet
      this.drawingsFailed(err);
      return null;
    }
  }

  enqueue(msg, arrivedAt) {
    this.queue = this.queue
      .then(() => (this.stopped ? null : this.handle(msg, arrivedAt)))
      .catch((err) => this.ui.notice(`Live update failed: ${err.message}`));
  }

  async handle(msg, arrivedAt) {
    if (msg.series_id !== undefined && msg.series_id !== this.sid) return;
    switch (msg.type) {
      case "candle_closed":
        this.addClosed([msg.candle], arrivedAt);
        break;
      case "candles_batch":
        this.addClosed(msg.candles, arrivedAt);
        break;
      case "candle_forming":
        this.chart.setForming(msg.candle);
        break;
      case "gap":
        await this.fillGap(msg.actual_time);
        break;
      case "system":
        if (msg.event === "factor.rewind") await this.reloadCandles();
        this.resetDrawings();
        break;
      case "error":
        this.ui.notice(`Server: ${msg.code} ${msg.message}`);
        break;
      default:
        break;
    }
  }

  /** Append closed candles newer than the last one held (older ones are repeats). */
  addClosed(candles, arrivedAt) {
    let last = this.chart.lastTime();
    let added = 0;
    for (const c of candles) {
      if (last !== null && c.candle_time <= last) continue;
      this.chart.appendClosed(c);
      last = c.candle_time;
      added += 1;
    }
    if (!added) return;
    this.stats.closedReceived += added;
    if (arrivedAt !== undefined) {
      // The chart paints on the next animation frame; this callback runs after that paint.
      requestAnimationFrame(() => {
        const lat = this.stats.latencies;
        lat.push(performance.now() - arrivedAt);
        if (lat.length > 2000) lat.splice(0, lat.length - 2000);
      });
    }
    this.redraw();
    this.scheduleDraw();
  }

  /** Read what a `gap` announced over HTTP: everything after the last candle, below `actual`. */
  async fillGap(actual) {
    this.stats.gapsFilled += 1;
    for (;;) {
      const last = this.chart.lastTime();
      const page = await this.api.get("/api/market/candles", {
        series_id: this.sid,
        since: last,
        before: actual,
        limit: PAGE_LIMIT,
      });
      this.addClosed(page.candles);
      if (page.candles.length < PAGE_LIMIT) return;
    }
  }

  /** After late data (factor.rewind) a stored candle may have changed: re-read the newest. */
  async reloadCandles() {
    const held = this.chart.candles;
    if (!held.length) return;
    const last = held.at(-1).candle_time;
    const page = await this.api.get("/api/market/candles", {
      series_id: this.sid,
      before: last + 1,
      limit: Math.min(PAGE_LIMIT, held.length),
    });
    if (!page.candles.length) return;
    const from = page.candles[0].candle_time;
    const merged = held.filter((c) => c.candle_time < from).concat(page.candles);
    this.chart.setCandles(merged, { keepView: true, shift: merged.length - held.length });
    this.redraw();
  }

  resetDrawings() {
    this.drawReset = true;
    this.scheduleDraw();
  }

  scheduleDraw() {
    if (this.drawBusy) {
      this.drawAgain = true;
      return;
    }
    this.drawBusy = true;
    (async () => {
      try {
        do {
          this.drawAgain = false;
          await this.readDelta();
        } while (this.drawAgain && !this.stopped);
      } finally {
        this.drawBusy = false;
      }
    })();
  }

  async readDelta() {
    const cursor = this.drawReset ? 0 : this.draw.cursor;
    this.drawReset = false;
    let reply;
    try {
      reply = await this.api.get("/api/draw/delta", {
        series_id: this.sid,
        cursor_version_id: cursor,
        window_candles: this.windowCandles,
      });
    } catch (err) {
      this.drawingsFailed(err);
      return;
    }
    if (this.stopped) return;
    this.draw.apply(reply, cursor);
    if (cursor === 0) this.stats.drawResets += 1;
    this.ui.notice(null);
    this.redraw();
  }

  drawingsFailed(err) {
    const detail = err instanceof ApiError ? err.detail : err.message;
    this.ui.notice(`Drawings unavailable: ${detail}`);
  }

  /** Recompute markers, lines and boxes from the draw state and the feature toggles. */
  redraw() {
    this.rendered = this.chart.showDrawings([...this.draw.activeDefinitions()], this.features);
  }

  /** The visible range moved: near the left edge, page older candles in with `before`. */
  onRange(range) {
    if (!range || this.stopped || this.history.loading || this.history.exhausted) return;
    if (range.from < LOAD_OLDER_AT && this.chart.candles.length) this.loadOlder();
  }

  async loadOlder() {
    this.history.loading = true;
    this.ui.history("Loading older candles…");
    try {
      const page = await this.api.get("/api/market/candles", {
        series_id: this.sid,
        before: this.chart.firstTime(),
        limit: HISTORY_PAGE,
      });
      if (this.stopped) return;
      if (page.candles.length) this.chart.prependCandles(page.candles);
      this.history.exhausted = page.candles.length < HISTORY_PAGE;
      const wanted = Math.min(PAGE_LIMIT, this.chart.candles.length);
      if (wanted > this.windowCandles) {
        // Drawings for the older bars: read the draw state afresh over the wider window.
        this.windowCandles = wanted;
        this.resetDrawings();
      } else {
        this.redraw();
      }
      this.ui.history(this.history.exhausted ? "Start of history" : null);
    } catch (err) {
      this.ui.history(`Older candles failed: ${err.message}`);
    } finally {
      this.history.loading = false;
    }
  }

  /** Data for the test hook: what the chart holds and draws. */
  snapshot() {
    return {
      series_id: this.sid,
      phase: this.stats.phase,
      firstPaintMs: this.stats.firstPaintMs,
      dataMs: this.stats.dataMs ?? null,
      handedMs: this.stats.handedMs ?? null,
      closedReceived: this.stats.closedReceived,
      drawResets: this.stats.drawResets,
      gapsFilled: this.stats.gapsFilled,
      wsOpens: this.feed ? this.feed.opens : 0,
      cursor: this.draw.cursor,
      drawToTime: this.draw.toTime,
      windowCandles: this.windowCandles,
      historyExhausted: this.history.exhausted,
    };
  }
}
