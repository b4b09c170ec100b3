// Canvas's chart page: wires the views together and keeps the URL the source of truth.
//
//   /?series_id=binance:futures:BTC/USDT:1m              the live chart (default view)
//   /?series_id=...&view=replay                           replay of that series
//   /?view=ops                                            ingest jobs and series actors
//   &bars=N (100..5000)                                   candles loaded at first (2000)
//
// Without a series_id the page opens the first whitelisted series. `window.__canvas` is a
// small read-only hook for tests and benchmarks: what the chart holds and draws, as data.

import { Api } from "./api.js";
import { ChartView } from "./chart.js";
import { Features } from "./features.js";
import { HealthLamp } from "./health.js";
import { LiveSession } from "./live.js";
import { OpsView } from "./ops.js";
import { Picker } from "./picker.js";
import { ReplaySession } from "./replay.js";
import { TIMEFRAMES, parseSeries, venueLabel, withTimeframe } from "./series.js";

const FALLBACK_SERIES = "binance:futures:BTC/USDT:1m";
const DEFAULT_BARS = 2000;
const VIEWS = new Set(["chart", "replay", "ops"]);
const $ = (id) => document.getElementById(id);

function pageUrl(seriesId, view, bars) {
  // ':' and '/' are legal in a query string: keep the series_id readable in the address bar.
  const sid = encodeURIComponent(seriesId).replace(/%3A/g, ":").replace(/%2F/g, "/");
  let url = `/?series_id=${sid}`;
  if (view !== "chart") url += `&view=${view}`;
  if (bars !== DEFAULT_BARS) url += `&bars=${bars}`;
  return url;
}

class App {
  constructor() {
    this.api = new Api();
    this.session = null;
    this.whitelist = [];
    this.ui = {
      connection: (state) => this.connection(state),
      notice: (text) => this.notice(text),
      history: (text) => this.historyStatus(text),
    };
  }

  async boot() {
    this.chart = new ChartView($("chart"), $("legend-ohlc"));
    this.chart.onVisibleRange((range) => this.session?.onRange?.(range));
    this.features = new Features(this.api, $("legend-features"), () => this.redraw());
    this.features.render();
    this.health = new HealthLamp(this.api, $("health-lamp"));
    this.ops = new OpsView(this.api);
    this.buildTimeframes();
    for (const tab of document.querySelectorAll(".tab")) {
      tab.addEventListener("click", () => this.navigate(this.seriesId, tab.dataset.view));
    }
    window.addEventListener("popstate", () => this.fromUrl(false));
    this.picker = new Picker({
      api: this.api,
      whitelist: this.whitelist,
      go: (sid) => this.navigate(sid, this.view === "ops" ? "chart" : this.view),
      current: () => parseSeries(this.seriesId),
    });
    const whitelist = this.api
      .get("/api/market/whitelist")
      .then((reply) => this.whitelist.push(...(reply.series_ids || [])))
      .catch(() => null);
    // Only a page without a series_id needs the whitelist before it can open a series.
    if (!parseSeries(new URLSearchParams(window.location.search).get("series_id"))) {
      await whitelist;
    }
    this.fromUrl(false);
    // The catalog only refines labels and defaults: the chart does not wait for it.
    this.features.load().then(() => this.redraw());
  }

  fromUrl(push) {
    const params = new URLSearchParams(window.location.search);
    let sid = params.get("series_id");
    let invalid = null;
    if (sid !== null && !parseSeries(sid)) {
      invalid = sid;
      sid = null;
    }
    sid = sid || this.whitelist[0] || FALLBACK_SERIES;
    const view = VIEWS.has(params.get("view")) ? params.get("view") : "chart";
    const bars = Math.min(5000, Math.max(100, Number(params.get("bars")) || DEFAULT_BARS));
    this.bars = bars;
    this.open(sid, view, push);
    if (invalid !== null) this.notice(`Not a valid series_id: ${invalid}`);
  }

  navigate(seriesId, view) {
    if (seriesId === this.seriesId && view === this.view) return;
    this.open(seriesId, view, true);
  }

  open(seriesId, view, push) {
    const series = parseSeries(seriesId);
    this.seriesId = seriesId;
    this.view = view;
    const url = pageUrl(seriesId, view, this.bars);
    if (push) window.history.pushState(null, "", url);
    else window.history.replaceState(null, "", url);
    if (this.session) this.session.stop();
    this.session = null;
    this.notice(null);
    this.historyStatus(null);
    this.header(series);
    const ops = view === "ops";
    $("ops-view").classList.toggle("hidden", !ops);
    $("chart-view").classList.toggle("hidden", ops);
    $("connection").classList.toggle("hidden", ops);
    if (ops) {
      this.ops.start();
      document.title = "Operations · Canvas";
      return;
    }
    this.ops.stop();
    this.picker.remember(seriesId);
    this.health.watch(seriesId);
    document.title = `${series.symbol} ${series.timeframe} · ${venueLabel(series)} · Canvas`;
    const ctx = {
      api: this.api,
      chart: this.chart,
      features: this.features,
      series,
      bars: this.bars,
      ui: this.ui,
    };
    const session = view === "replay" ? new ReplaySession(ctx) : new LiveSession(ctx);
    this.session = session;
    session.start().catch((err) => {
      if (this.session === session) this.notice(`Could not load ${seriesId}: ${err.message}`);
    });
  }

  header(series) {
    $("symbol-name").textContent = series.symbol;
    $("symbol-venue").textContent = venueLabel(series);
    $("legend-symbol").textContent = `${series.symbol} · ${series.timeframe}`;
    $("legend-meta").textContent = venueLabel(series);
    for (const b of document.querySelectorAll("#timeframes button")) {
      b.classList.toggle("active", b.dataset.tf === series.timeframe);
    }
    for (const tab of document.querySelectorAll(".tab")) {
      tab.classList.toggle("active", tab.dataset.view === this.view);
    }
  }

  buildTimeframes() {
    const group = $("timeframes");
    for (const tf of TIMEFRAMES) {
      const b = document.createElement("button");
      b.textContent = tf;
      b.dataset.tf = tf;
      b.title = `${tf} candles (derived timeframes are rolled up from 1m)`;
      b.addEventListener("click", () => {
        const view = this.view === "ops" ? "chart" : this.view;
        this.navigate(withTimeframe(this.seriesId, tf), view);
      });
      group.append(b);
    }
  }

  redraw() {
    if (this.session instanceof LiveSession) this.session.redraw();
    else if (this.session instanceof ReplaySession && this.session.idx >= 0) this.session.paint();
  }

  connection(state) {
    const el = $("connection");
    el.className = `connection ${state}`;
    $("connection-text").textContent = state;
  }

  notice(text) {
    const el = $("chart-notice");
    el.textContent = text || "";
    el.classList.toggle("hidden", !text);
  }

  historyStatus(text) {
    const el = $("history-status");
    el.textContent = text || "";
    el.classList.toggle("hidden", !text);
    clearTimeout(this.historyTimer);
    // A finished load ("Start of history", an error) fades; one in progress ("…") stays.
    if (text && !text.endsWith("…")) {
      this.historyTimer = setTimeout(() => el.classList.add("hidden"), 4000);
    }
  }
}

const app = new App();

window.__canvas = {
  /** The view, the series and the session's progress (phase, first paint, socket opens…). */
  state: () => ({
    view: app.view,
    seriesId: app.seriesId,
    ...(app.session ? app.session.snapshot() : {}),
  }),
  /** Bars as the chart library holds them (closed candles, then any forming one). */
  bars: () => app.chart.candleSeries.data().map((b) => ({ ...b })),
  /** The closed candles the page holds, in the API's shape. */
  candles: () => app.chart.candles.map((c) => ({ ...c })),
  forming: () => (app.chart.forming ? { ...app.chart.forming } : null),
  volumes: () => app.chart.volumeSeries.data().map((b) => ({ time: b.time, value: b.value })),
  markers: () => app.chart.markers.markers().map((m) => ({ ...m })),
  lines: () => (app.chart.drawn ? app.chart.drawn.polylines : []),
  boxes: () => (app.chart.drawn ? app.chart.drawn.boxes : []),
  counts: () => (app.session ? app.session.rendered.counts : null),
  latencies: () => (app.session && app.session.stats ? [...app.session.stats.latencies] : []),
  features: () => ({ flags: { ...app.features.flags }, catalog: app.features.catalog }),
  health: () => app.health.last,
  ops: () => app.ops.last,
  /** Close the live WebSocket as a network failure would; the page reconnects by itself. */
  dropSocket: () => app.session?.feed?.drop(),
  replay: {
    play: () => app.session?.play?.(),
    pause: () => app.session?.pause?.(),
    step: (n = 1) => app.session?.step?.(n),
    seek: (i) => app.session?.seek?.(i),
  },
};

app.boot().catch((err) => app.notice(`Canvas page failed to start: ${err.message}`));
