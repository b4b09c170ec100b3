// Draw state (CONTRACT §5): the instruction catalog and active ids, and what the chart draws
// from them — pivot and anchor-switch markers, pen / zhongshu / anchor polylines, zhongshu
// boxes (ZHONGSHU-ANCHOR.md §4). Pure data: chart.js and overlay.js do the drawing.

const BOX_FILL = {
  "zhongshu.alive": ["rgba(22,163,74,0.2)", "rgba(220,38,38,0.18)"],
  "zhongshu.dead": ["rgba(74,222,128,0.12)", "rgba(248,113,113,0.1)"],
};
const MARKER_SHAPES = new Set(["circle", "square", "arrowUp", "arrowDown"]);

/** The live catalog: the latest version of each instruction and the active id list. */
export class DrawState {
  constructor() {
    this.catalog = new Map();
    this.active = [];
    this.cursor = 0;
    this.toTime = null;
  }

  /**
   * Apply a §5 reply read at `fromCursor`. At cursor 0 the reply describes everything (a
   * snapshot, or — before rev 4 — the full history), so the catalog starts afresh.
   */
  apply(reply, fromCursor) {
    if (fromCursor === 0) this.catalog.clear();
    for (const item of reply.instruction_catalog_patch || []) {
      const known = this.catalog.get(item.instruction_id);
      if (!known || known.version_id < item.version_id) this.catalog.set(item.instruction_id, item);
    }
    this.active = reply.active_ids || [];
    this.cursor = reply.next_cursor ? reply.next_cursor.version_id : this.cursor;
    this.toTime = reply.to_candle_time ?? this.toTime;
  }

  /** Active instructions as [id, definition] pairs. */
  *activeDefinitions() {
    for (const id of this.active) {
      const item = this.catalog.get(id);
      if (item) yield [id, item.definition];
    }
  }
}

/**
 * What the legend counts per feature (and its fallback list of features): confirmed pens (one
 * polyline chains them all), zhongshu boxes (two edges each), every other instruction once.
 */
export function featureCounts(pairs) {
  const counts = {};
  for (const [id, def] of pairs) {
    if (!def || !def.feature) continue;
    let n = 1;
    if (def.feature === "pen.confirmed") n = Math.max(0, (def.points || []).length - 1);
    else if (def.feature.startsWith("zhongshu.")) n = id.endsWith(":top") ? 1 : 0;
    counts[def.feature] = (counts[def.feature] || 0) + n;
  }
  return counts;
}

/**
 * What to draw: markers inside the loaded candle range [first, last], polylines and zhongshu
 * boxes of the visible features. `visible(feature)` says whether a feature is switched on.
 */
export function renderDrawings(pairs, visible, first, last) {
  const markers = [];
  const polylines = [];
  const halves = new Map();
  for (const [id, def] of pairs) {
    if (!def || !visible(def.feature || "")) continue;
    if (def.type === "marker") {
      if (first === null || def.time < first || def.time > last) continue;
      markers.push(toMarker(id, def));
    } else if (def.type === "polyline" && Array.isArray(def.points) && def.points.length >= 2) {
      polylines.push(toPolyline(id, def));
      const half = /^(zhongshu\.(?:alive|dead).*):(top|bottom)$/.exec(id);
      if (half) {
        const pair = halves.get(half[1]) || {};
        pair[half[2]] = def;
        halves.set(half[1], pair);
      }
    }
  }
  markers.sort((a, b) => a.time - b.time);
  const boxes = [];
  for (const [id, pair] of halves) {
    if (!pair.top || !pair.bottom) continue;
    const pts = pair.top.points;
    const fills = BOX_FILL[pair.top.feature] || BOX_FILL["zhongshu.dead"];
    boxes.push({
      id,
      feature: pair.top.feature,
      from: pts[0].time,
      to: pts[pts.length - 1].time,
      top: pair.top.points[0].value,
      bottom: pair.bottom.points[0].value,
      fill: (pair.top.entryDirection ?? 1) >= 0 ? fills[0] : fills[1],
    });
  }
  return { markers, polylines, boxes, counts: countOf(markers, polylines) };
}

function toMarker(id, def) {
  return {
    id,
    feature: def.feature,
    time: def.time,
    position: def.position === "belowBar" ? "belowBar" : "aboveBar",
    shape: MARKER_SHAPES.has(def.shape) ? def.shape : "circle",
    color: def.color || "#f59e0b",
    text: def.text || "",
    size: typeof def.size === "number" ? def.size : 1,
  };
}

function toPolyline(id, def) {
  return {
    id,
    feature: def.feature,
    points: def.points.map((p) => ({ time: p.time, value: p.value })),
    color: def.color || "#f59e0b",
    width: Math.min(4, Math.max(1, Number(def.lineWidth) || 1)),
    dashed: def.lineStyle === "dashed",
  };
}

function countOf(markers, polylines) {
  const byFeature = {};
  for (const item of [...markers, ...polylines]) {
    byFeature[item.feature] = (byFeature[item.feature] || 0) + 1;
  }
  const prefixed = (prefix) => polylines.filter((p) => p.feature.startsWith(prefix)).length;
  return {
    markers: markers.length,
    polylines: polylines.length,
    pivots: markers.filter((m) => m.feature.startsWith("pivot.")).length,
    pens: prefixed("pen."),
    zhongshu: prefixed("zhongshu."),
    anchor: prefixed("anchor."),
    anchorSwitch: markers.filter((m) => m.feature === "anchor.switch").length,
    byFeature,
  };
}

/**
 * The draw state of a replay window at bar `idx` (CONTRACT §7.5): the base catalog plus the
 * patch versions visible by that bar's time, and the active set from the nearest checkpoint
 * at or before idx with the later diffs applied.
 */
export function replayDefinitions(win, idx, barTime) {
  const catalog = new Map();
  for (const item of win.draw_catalog_base || []) catalog.set(item.instruction_id, item);
  for (const item of win.draw_catalog_patch || []) {
    if (item.visible_time > barTime) continue;
    const known = catalog.get(item.instruction_id);
    if (!known || known.version_id < item.version_id) catalog.set(item.instruction_id, item);
  }
  let checkpoint = null;
  for (const cp of win.draw_active_checkpoints || []) {
    if (cp.at_idx <= idx && (!checkpoint || cp.at_idx > checkpoint.at_idx)) checkpoint = cp;
  }
  const active = new Set(checkpoint ? checkpoint.active_ids : []);
  const from = checkpoint ? checkpoint.at_idx : -1;
  const diffs = (win.draw_active_diffs || [])
    .filter((d) => d.at_idx > from && d.at_idx <= idx)
    .sort((a, b) => a.at_idx - b.at_idx);
  for (const diff of diffs) {
    for (const id of diff.remove_ids || []) active.delete(id);
    for (const id of diff.add_ids || []) active.add(id);
  }
  const pairs = [];
  for (const id of [...active].sort()) {
    const item = catalog.get(id);
    if (item) pairs.push([id, item.definition]);
  }
  return pairs;
}
