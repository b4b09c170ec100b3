// The series picker: the whitelist (with health lamps), recently opened series, the series
// live on the server (debug API), Binance's top markets, or any series_id typed in.

import { paintLamp, readHealth } from "./health.js";
import { parseSeries, venueLabel, withTimeframe } from "./series.js";

const RECENT_KEY = "canvas.recent.v1";
const RECENT_MAX = 8;

function loadRecent() {
  try {
    const list = JSON.parse(localStorage.getItem(RECENT_KEY) || "[]");
    return Array.isArray(list) ? list.filter((s) => parseSeries(s)) : [];
  } catch {
    return [];
  }
}

function el(tag, cls, text) {
  const node = document.createElement(tag);
  if (cls) node.className = cls;
  if (text !== undefined) node.textContent = text;
  return node;
}

export class Picker {
  /** `go(seriesId)` opens a series; `current()` returns the parsed current series. */
  constructor({ api, whitelist, go, current }) {
    this.api = api;
    this.whitelist = whitelist;
    this.go = go;
    this.current = current;
    this.root = document.getElementById("picker");
    this.button = document.getElementById("symbol-button");
    this.input = document.getElementById("picker-input");
    this.error = document.getElementById("picker-error");
    this.market = "futures";
    this.top = null;
    this.active = [];
    this.health = new Map();
    this.button.addEventListener("click", (e) => {
      e.stopPropagation();
      this.toggle();
    });
    document.addEventListener("click", (e) => {
      if (!this.root.contains(e.target)) this.close();
    });
    document.addEventListener("keydown", (e) => {
      if (e.key === "Escape") this.close();
    });
    this.input.addEventListener("input", () => this.render());
    this.input.addEventListener("keydown", (e) => {
      if (e.key === "Enter") this.submit();
    });
    for (const b of document.querySelectorAll("#picker-market button")) {
      b.addEventListener("click", () => {
        this.market = b.dataset.market;
        for (const o of document.querySelectorAll("#picker-market button")) {
          o.classList.toggle("active", o === b);
        }
        this.loadTop();
      });
    }
  }

  /** Remember an opened series at the top of the recent list. */
  remember(seriesId) {
    const list = [seriesId, ...loadRecent().filter((s) => s !== seriesId)].slice(0, RECENT_MAX);
    try {
      localStorage.setItem(RECENT_KEY, JSON.stringify(list));
    } catch {
      // Private mode: no recent list.
    }
  }

  toggle() {
    if (this.root.classList.contains("hidden")) this.open();
    else this.close();
  }

  open() {
    this.root.classList.remove("hidden");
    this.button.classList.add("open");
    this.error.classList.add("hidden");
    this.input.value = "";
    this.input.focus();
    this.health = new Map(); // one health read per series per opening, not per keystroke
    this.render();
    this.loadActive();
    this.loadTop();
  }

  close() {
    this.root.classList.add("hidden");
    this.button.classList.remove("open");
  }

  async loadActive() {
    try {
      const state = await this.api.get("/api/market/debug/ingest_state");
      this.active = (state.series || []).map((s) => s.series_id);
    } catch {
      this.active = [];
    }
    this.render();
  }

  async loadTop() {
    const market = this.market;
    this.top = { loading: true, market };
    this.render();
    try {
      const reply = await this.api.get("/api/market/top_markets", { market, limit: 20 });
      this.top = { items: reply.items || [], market };
    } catch (err) {
      this.top = { error: String(err.detail || err.message), market };
    }
    if (market === this.market) this.render();
  }

  submit() {
    const text = this.input.value.trim();
    if (!text) return;
    const cur = this.current();
    let candidate = text;
    if (!parseSeries(text) && /^[A-Za-z0-9]+\/[A-Za-z0-9]+$/.test(text)) {
      // A bare symbol: same exchange, market and timeframe as the chart.
      candidate = `${cur.exchange}:${cur.market}:${text.toUpperCase()}:${cur.timeframe}`;
    }
    if (!parseSeries(candidate)) {
      this.error.textContent =
        "Not a series_id: exchange:market:BASE/QUOTE:timeframe, e.g. binance:spot:ETH/USDT:5m";
      this.error.classList.remove("hidden");
      return;
    }
    this.close();
    this.go(candidate);
  }

  matches(text) {
    const q = this.input.value.trim().toLowerCase();
    return !q || text.toLowerCase().includes(q);
  }

  item(seriesId, extra) {
    const parsed = parseSeries(seriesId);
    const li = el("li");
    if (seriesId === this.current().id) li.classList.add("current");
    li.append(el("span", "sym", parsed ? parsed.symbol : seriesId));
    if (parsed) li.append(el("span", "muted", `${venueLabel(parsed)} · ${parsed.timeframe}`));
    if (extra) li.append(extra);
    li.title = seriesId;
    li.addEventListener("click", () => {
      this.close();
      this.go(seriesId);
    });
    return li;
  }

  fill(id, ids, emptyText, decorate) {
    const list = document.getElementById(id);
    const items = ids.filter((s) => this.matches(s)).map((s) => this.item(s, decorate?.(s)));
    const empty = ids.length ? "No match" : emptyText;
    list.replaceChildren(...(items.length ? items : [el("li", "empty", empty)]));
  }

  render() {
    this.fill("picker-whitelist", this.whitelist, "No whitelisted series", (sid) => {
      const lamp = el("span", "lamp hidden");
      if (!this.health.has(sid)) this.health.set(sid, readHealth(this.api, sid));
      this.health.get(sid).then((h) => paintLamp(lamp, h));
      return lamp;
    });
    this.fill("picker-recent", loadRecent(), "Nothing opened yet");
    this.fill("picker-active", this.active, "None (or the debug API is off)");
    this.renderTop();
  }

  renderTop() {
    const list = document.getElementById("picker-top");
    const top = this.top;
    if (!top || top.loading) {
      list.replaceChildren(el("li", "empty", "Loading…"));
      return;
    }
    if (top.error) {
      list.replaceChildren(el("li", "empty", `Unavailable: ${top.error}`));
      return;
    }
    const tf = this.current().timeframe;
    const rows = top.items
      .filter((it) => this.matches(`${it.symbol_id}:${tf}`))
      .map((it) => {
        const change = it.price_change_percent;
        const num = el("span", "num " + (change >= 0 ? "up" : "down"));
        num.textContent = change === null ? "—" : `${change >= 0 ? "+" : ""}${change.toFixed(2)}%`;
        return this.item(withTimeframe(`${it.symbol_id}:1m`, tf), num);
      });
    list.replaceChildren(...(rows.length ? rows : [el("li", "empty", "No markets")]));
  }
}
