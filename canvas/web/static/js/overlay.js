// A series primitive that paints polylines (pens, zhongshu edges, anchors) and zhongshu boxes
// on the chart's own canvas, in the library's coordinate space, so they scroll and zoom with
// the candles in the same frame.
//
// Points are placed by time through a logical (bar) index computed from the loaded candle
// times, so a point before the first loaded bar or after the last (a pen that starts in
// history not loaded yet, a leg ending at a bar still on its way) lands where it belongs
// instead of vanishing.

class Renderer {
  constructor(primitive, layer) {
    this.primitive = primitive;
    this.layer = layer;
  }

  draw(target) {
    target.useMediaCoordinateSpace(({ context, mediaSize }) => {
      if (this.layer === "boxes") this.primitive.paintBoxes(context, mediaSize);
      else this.primitive.paintLines(context, mediaSize);
    });
  }
}

class PaneView {
  constructor(primitive, layer) {
    this.layer = layer;
    this._renderer = new Renderer(primitive, layer);
  }

  zOrder() {
    return this.layer === "boxes" ? "bottom" : "normal";
  }

  renderer() {
    return this._renderer;
  }
}

export class OverlayPrimitive {
  /** `timeline` has `logicalOf(time)`: the fractional bar index of a time. */
  constructor(timeline) {
    this.timeline = timeline;
    this.polylines = [];
    this.boxes = [];
    this.chart = null;
    this.series = null;
    this.requestUpdate = null;
    this.views = [new PaneView(this, "boxes"), new PaneView(this, "lines")];
  }

  attached({ chart, series, requestUpdate }) {
    this.chart = chart;
    this.series = series;
    this.requestUpdate = requestUpdate;
  }

  detached() {
    this.chart = null;
    this.series = null;
    this.requestUpdate = null;
  }

  paneViews() {
    return this.views;
  }

  /** Replace what is drawn and repaint. */
  setItems(polylines, boxes) {
    this.polylines = polylines;
    this.boxes = boxes;
    if (this.requestUpdate) this.requestUpdate();
  }

  x(time) {
    const logical = this.timeline.logicalOf(time);
    if (logical === null) return null;
    return this.chart.timeScale().logicalToCoordinate(logical);
  }

  y(price) {
    return this.series.priceToCoordinate(price);
  }

  paintBoxes(ctx, size) {
    if (!this.chart) return;
    for (const box of this.boxes) {
      const x1 = this.x(box.from);
      const x2 = this.x(box.to);
      const y1 = this.y(box.top);
      const y2 = this.y(box.bottom);
      if ([x1, x2, y1, y2].some((v) => v === null)) continue;
      if (Math.max(x1, x2) < 0 || Math.min(x1, x2) > size.width) continue;
      ctx.fillStyle = box.fill;
      ctx.fillRect(Math.min(x1, x2), Math.min(y1, y2), Math.abs(x2 - x1), Math.abs(y2 - y1));
    }
  }

  paintLines(ctx, size) {
    if (!this.chart) return;
    ctx.lineJoin = "round";
    ctx.lineCap = "round";
    for (const line of this.polylines) {
      const pts = [];
      for (const p of line.points) {
        const x = this.x(p.time);
        const y = this.y(p.value);
        if (x !== null && y !== null) pts.push([x, y]);
      }
      if (pts.length < 2) continue;
      const xs = pts.map((p) => p[0]);
      if (Math.max(...xs) < -50 || Math.min(...xs) > size.width + 50) continue;
      ctx.beginPath();
      ctx.strokeStyle = line.color;
      ctx.lineWidth = line.width;
      ctx.setLineDash(line.dashed ? [6, 4] : []);
      ctx.moveTo(pts[0][0], pts[0][1]);
      for (let i = 1; i < pts.length; i += 1) ctx.lineTo(pts[i][0], pts[i][1]);
      ctx.stroke();
    }
    ctx.setLineDash([]);
  }
}
