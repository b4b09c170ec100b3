// The chart: lightweight-charts 5 with a candlestick series, a volume histogram, pivot and
// anchor markers (createSeriesMarkers) and the overlay primitive for lines and boxes.
// It keeps its own copy of the closed candles so sessions and tests can read what is drawn.

import { featureCounts, renderDrawings } from "./drawings.js";
import { OverlayPrimitive } from "./overlay.js";
import { formatVolume, pricePrecision } from "./series.js";

const LWC = window.LightweightCharts;
const UP = "#26a69a";
const DOWN = "#ef5350";

function toBar(c) {
  return { time: c.candle_time, open: c.open, high: c.high, low: c.low, close: c.close };
}

function toVolume(c) {
  return {
    time: c.candle_time,
    value: c.volume,
    color: c.close >= c.open ? "rgba(38,166,154,0.45)" : "rgba(239,83,80,0.45)",
  };
}

export class ChartView {
  constructor(container, legendOhlc) {
    this.legendOhlc = legendOhlc;
    this.candles = []; // closed candles, ascending by candle_time
    this.forming = null; // the open bucket's latest update, drawn after the closed ones
    this.tf = 60;
    this.precision = 2;
    this.rangeListeners = [];
    this.chart = LWC.createChart(container, {
      autoSize: true,
      layout: {
        background: { type: "solid", color: "#131722" },
        textColor: "#b2b5be",
        fontSize: 12,
        fontFamily: "-apple-system, BlinkMacSystemFont, 'Segoe UI', Roboto, Ubuntu, sans-serif",
      },
      grid: {
        vertLines: { color: "rgba(42,46,57,0.55)" },
        horzLines: { color: "rgba(42,46,57,0.55)" },
      },
      rightPriceScale: { borderColor: "#2a2e39", scaleMargins: { top: 0.2, bottom: 0.2 } },
      timeScale: {
        borderColor: "#2a2e39",
        timeVisible: true,
        secondsVisible: false,
        rightOffset: 8,
        barSpacing: 7,
      },
      crosshair: {
        mode: LWC.CrosshairMode.Normal,
        vertLine: { color: "#758696", labelBackgroundColor: "#2a2e39" },
        horzLine: { color: "#758696", labelBackgroundColor: "#2a2e39" },
      },
    });
    this.candleSeries = this.chart.addSeries(LWC.CandlestickSeries, {
      upColor: UP,
      downColor: DOWN,
      wickUpColor: UP,
      wickDownColor: DOWN,
      borderVisible: false,
    });
    this.volumeSeries = this.chart.addSeries(LWC.HistogramSeries, {
      priceScaleId: "volume",
      priceFormat: { type: "volume" },
      lastValueVisible: false,
      priceLineVisible: false,
    });
    this.chart.priceScale("volume").applyOptions({ scaleMargins: { top: 0.82, bottom: 0 } });
    this.markers = LWC.createSeriesMarkers(this.candleSeries, []);
    this.overlay = new OverlayPrimitive(this);
    this.candleSeries.attachPrimitive(this.overlay);
    this.chart.timeScale().subscribeVisibleLogicalRangeChange((range) => {
      for (const fn of this.rangeListeners) fn(range);
    });
    this.chart.subscribeCrosshairMove((param) => this.showOhlc(param));
  }

  /** Call `fn(logicalRange)` whenever the visible range changes (scrolling, zooming). */
  onVisibleRange(fn) {
    this.rangeListeners.push(fn);
  }

  /** Forget everything drawn (a new series, or entering/leaving replay). */
  reset(tf) {
    this.tf = tf;
    this.candles = [];
    this.forming = null;
    this.candleSeries.setData([]);
    this.volumeSeries.setData([]);
    this.setDrawings({ markers: [], polylines: [], boxes: [] });
    this.showOhlc(null);
  }

  /** Replace every candle; `keepView` keeps the visible bars where they are. */
  setCandles(candles, { keepView = false, shift = 0 } = {}) {
    const range = keepView ? this.chart.timeScale().getVisibleLogicalRange() : null;
    this.candles = candles;
    if (this.forming && candles.length && this.forming.candle_time <= candles.at(-1).candle_time) {
      this.forming = null;
    }
    const all = this.forming ? [...candles, this.forming] : candles;
    this.applyPrecision(all);
    this.candleSeries.setData(all.map(toBar));
    this.volumeSeries.setData(all.map(toVolume));
    if (range) {
      this.chart.timeScale().setVisibleLogicalRange({ from: range.from + shift, to: range.to + shift });
    }
    this.showOhlc(null);
  }

  /** Older candles before the first loaded one: the view stays on the same bars. */
  prependCandles(older) {
    this.setCandles([...older, ...this.candles], { keepView: true, shift: older.length });
  }

  /** A newly closed candle (time after every loaded closed candle). */
  appendClosed(c) {
    const forming = this.forming;
    this.candles.push(c);
    if (forming && forming.candle_time !== c.candle_time) {
      // The forming bar is of another bucket: one whose final update never reached us (then
      // it is dropped by setCandles) or a later one (then it stays after this candle). The
      // library only updates the last bar, so redraw the series.
      this.setCandles(this.candles, { keepView: true });
      return;
    }
    this.forming = null;
    this.candleSeries.update(toBar(c));
    this.volumeSeries.update(toVolume(c));
    this.showOhlc(null);
  }

  /** The open bucket's latest update (not stored; replaced by its closed candle later). */
  setForming(c) {
    const last = this.candles.at(-1);
    if (last && c.candle_time <= last.candle_time) return;
    if (this.forming && c.candle_time < this.forming.candle_time) return;
    this.forming = c;
    this.candleSeries.update(toBar(c));
    this.volumeSeries.update(toVolume(c));
    this.showOhlc(null);
  }

  /**
   * Draw the active instructions `pairs` ([id, definition]) whose features are switched on in
   * `features`, markers limited to the loaded bars; returns what was drawn (with counts).
   */
  showDrawings(pairs, features) {
    const rendered = renderDrawings(
      pairs,
      (feature) => features.visible(feature),
      this.firstTime(),
      this.lastTime(),
    );
    this.setDrawings(rendered);
    features.observe(featureCounts(pairs));
    return rendered;
  }

  /** Markers, polylines and boxes from drawings.renderDrawings. */
  setDrawings({ markers, polylines, boxes }) {
    this.markers.setMarkers(markers.map((m) => ({ ...m })));
    this.overlay.setItems(polylines, boxes);
    this.drawn = { markers, polylines, boxes };
  }

  fitRecent(bars = 150) {
    const n = this.candles.length + (this.forming ? 1 : 0);
    if (n === 0) return;
    this.chart.timeScale().setVisibleLogicalRange({ from: Math.max(-2, n - bars), to: n + 8 });
  }

  firstTime() {
    return this.candles.length ? this.candles[0].candle_time : null;
  }

  lastTime() {
    return this.candles.length ? this.candles.at(-1).candle_time : null;
  }

  /** The fractional bar index of `time` (for the overlay); extrapolated by tf off the ends. */
  logicalOf(time) {
    const c = this.candles;
    const n = c.length;
    if (n === 0) return null;
    if (time <= c[0].candle_time) return (time - c[0].candle_time) / this.tf;
    if (time >= c[n - 1].candle_time) return n - 1 + (time - c[n - 1].candle_time) / this.tf;
    let lo = 0;
    let hi = n - 1;
    while (hi - lo > 1) {
      const mid = (lo + hi) >> 1;
      if (c[mid].candle_time <= time) lo = mid;
      else hi = mid;
    }
    const a = c[lo].candle_time;
    const b = c[hi].candle_time;
    return lo + (time - a) / (b - a);
  }

  applyPrecision(all) {
    if (!all.length) return;
    const precision = pricePrecision(all.at(-1).close);
    if (precision === this.precision) return;
    this.precision = precision;
    this.candleSeries.applyOptions({
      priceFormat: { type: "price", precision, minMove: 10 ** -precision },
    });
  }

  /** TradingView-style O/H/L/C/V readout of the bar under the crosshair (else the last). */
  showOhlc(param) {
    let bar = param && param.seriesData ? param.seriesData.get(this.candleSeries) : null;
    let volume = param && param.seriesData ? param.seriesData.get(this.volumeSeries) : null;
    if (!bar) {
      const last = this.forming || this.candles.at(-1);
      if (!last) {
        this.legendOhlc.textContent = "";
        return;
      }
      bar = toBar(last);
      volume = { value: last.volume };
    }
    const p = this.precision;
    const change = bar.close - bar.open;
    const pct = bar.open ? (change / bar.open) * 100 : 0;
    const cls = change >= 0 ? "up" : "down";
    const sign = change >= 0 ? "+" : "";
    this.legendOhlc.innerHTML =
      `<span><b>O</b><i class="${cls}">${bar.open.toFixed(p)}</i></span>` +
      `<span><b>H</b><i class="${cls}">${bar.high.toFixed(p)}</i></span>` +
      `<span><b>L</b><i class="${cls}">${bar.low.toFixed(p)}</i></span>` +
      `<span><b>C</b><i class="${cls}">${bar.close.toFixed(p)}</i></span>` +
      `<span class="${cls}">${sign}${change.toFixed(p)} (${sign}${pct.toFixed(2)}%)</span>` +
      `<span><b>Vol</b>${volume ? formatVolume(volume.value) : "—"}</span>`;
  }
}
