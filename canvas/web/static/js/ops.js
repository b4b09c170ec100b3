// The operator's view: GET /api/market/debug/ingest_state (CONTRACT §2.6) as two tables —
// ingest jobs and live series actors — refreshed every few seconds while the view is open.
// Without the debug API the route is 404 and the view says how to turn it on.

import { ApiError } from "./api.js";
import { formatAge, formatTime } from "./series.js";

const REFRESH_MS = 3000;
const $ = (id) => document.getElementById(id);

function cell(value, cls) {
  const td = document.createElement("td");
  const empty = value === null || value === undefined || value === "";
  if (cls && !(cls === "err" && empty)) td.className = cls;
  if (value instanceof Node) td.append(value);
  else td.textContent = empty ? "—" : String(value);
  return td;
}

function badge(state) {
  const span = document.createElement("span");
  span.className = `badge ${state}`;
  span.textContent = state;
  return span;
}

function seriesLink(sid) {
  const a = document.createElement("a");
  a.href = `/?series_id=${encodeURIComponent(sid)}`;
  a.textContent = sid;
  return a;
}

function table(el, headers, rows) {
  const head = document.createElement("tr");
  for (const [label, cls] of headers) {
    const th = document.createElement("th");
    th.textContent = label;
    if (cls === "num") th.style.textAlign = "right";
    head.append(th);
  }
  const body = rows.length
    ? rows
    : [(() => {
        const tr = document.createElement("tr");
        const td = cell("none");
        td.colSpan = headers.length;
        td.className = "muted";
        tr.append(td);
        return tr;
      })()];
  el.replaceChildren(head, ...body);
}

export class OpsView {
  constructor(api) {
    this.api = api;
    this.timer = null;
    this.running = false;
    this.last = null;
  }

  start() {
    this.running = true;
    this.refresh();
  }

  stop() {
    this.running = false;
    clearTimeout(this.timer);
  }

  async refresh() {
    clearTimeout(this.timer);
    try {
      const state = await this.api.get("/api/market/debug/ingest_state");
      if (!this.running) return;
      this.last = state;
      this.render(state);
    } catch (err) {
      if (!this.running) return;
      this.off(err);
    }
    if (this.running) this.timer = setTimeout(() => this.refresh(), REFRESH_MS);
  }

  off(err) {
    const note = $("ops-note");
    note.classList.remove("hidden");
    $("ops-content").classList.add("hidden");
    if (err instanceof ApiError && err.status === 404) {
      note.innerHTML =
        "The debug API is off on this server, so ingest jobs and series actors are not shown. " +
        "Start Canvas with <code>TRADE_CANVAS_ENABLE_DEBUG_API=1</code> (the demo has it on).";
    } else {
      note.textContent = `Could not read ingest state: ${err.message}`;
    }
    $("ops-meta").textContent = "";
  }

  render(state) {
    $("ops-note").classList.add("hidden");
    $("ops-content").classList.remove("hidden");
    const now = state.generated_at_ms / 1000;
    const ingest = state.ingest_enabled === false ? " · live ingest off" : "";
    $("ops-meta").textContent =
      `${state.jobs.length} jobs · ${state.series.length} series actors${ingest} · ` +
      `updated ${new Date(state.generated_at_ms).toISOString().slice(11, 19)} UTC`;
    const ago = (t) => (t ? formatAge(now - t) + " ago" : "—");
    table(
      $("ops-jobs"),
      [["Series"], ["Source"], ["State"], ["Connection"], ["Pinned"], ["Refs", "num"], ["Started"],
        ["Last message"],
        ["Closed", "num"], ["Crashes", "num"], ["Retry in"], ["Last error"]],
      state.jobs.map((job) => {
        const tr = document.createElement("tr");
        tr.dataset.seriesId = job.series_id;
        tr.dataset.connection = job.connection ?? "";
        tr.append(
          cell(seriesLink(job.series_id)),
          cell(job.source),
          cell(badge(job.state)),
          // The shared exchange connection carrying the job's stream (CONTRACT §8 rev 4).
          cell(job.connection),
          cell(job.pinned ? "yes" : "no"),
          cell(job.refcount, "num"),
          cell(ago(job.started_at)),
          cell(ago(job.last_message_at)),
          cell(job.closed_candles, "num"),
          cell(job.crashes, "num"),
          cell(job.next_retry_in_s === null ? null : `${Number(job.next_retry_in_s).toFixed(1)} s`),
          cell(job.last_error, "err"),
        );
        return tr;
      }),
    );
    table(
      $("ops-series"),
      [["Series"], ["State"], ["Mailbox", "num"], ["Store head"], ["Factor head"], ["Overlay head"],
        ["Subscribers", "num"], ["Lagging", "num"], ["Crashes", "num"], ["Last error"]],
      state.series.map((s) => {
        const tr = document.createElement("tr");
        tr.dataset.seriesId = s.series_id;
        tr.append(
          cell(seriesLink(s.series_id)),
          cell(s.state ? badge(s.state) : null),
          cell(s.mailbox_depth, "num"),
          cell(formatTime(s.store_head_time)),
          cell(formatTime(s.factor_head_time)),
          cell(formatTime(s.overlay_head_time)),
          cell(s.subscribers, "num"),
          cell(s.lagging_subscribers, "num"),
          cell(s.crashes, "num"),
          cell(s.last_error, "err"),
        );
        return tr;
      }),
    );
  }
}
