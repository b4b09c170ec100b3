// Health lamps from GET /api/market/health (CONTRACT §2.9). The route exists only with
// ENABLE_KLINE_HEALTH_V2 or the debug API; a 404 means "not enabled" and no lamp is shown.

import { ApiError } from "./api.js";
import { formatAge } from "./series.js";

const POLL_MS = 10000;

/** One series' health, or null when the server does not offer it (404) or it fails. */
export async function readHealth(api, seriesId) {
  try {
    return await api.get("/api/market/health", { series_id: seriesId });
  } catch (err) {
    if (err instanceof ApiError && err.status === 404) return { disabled: true };
    return null;
  }
}

/** Paint a lamp element for a health reply. */
export function paintLamp(el, health) {
  if (!health || health.disabled) {
    el.classList.add("hidden");
    return;
  }
  el.classList.remove("hidden", "green", "yellow", "red");
  el.classList.add(health.status);
  const lag = health.missing_candles ? `, ${health.missing_candles} candles behind` : "";
  const backfill = health.backfill && health.backfill.state === "running"
    ? `, backfill ${Math.round(health.backfill.progress_pct || 0)}%`
    : "";
  el.title = `${health.status}: ${health.status_reason}${lag}${backfill}` +
    (health.lag_seconds !== null ? ` (head ${formatAge(health.lag_seconds)} ago)` : "");
}

/** The lamp beside the current series, refreshed every few seconds while it is shown. */
export class HealthLamp {
  constructor(api, el) {
    this.api = api;
    this.el = el;
    this.timer = null;
    this.seriesId = null;
    this.disabled = false;
    this.last = null;
  }

  watch(seriesId) {
    this.seriesId = seriesId;
    clearTimeout(this.timer);
    if (this.disabled) return;
    this.poll();
  }

  async poll() {
    const sid = this.seriesId;
    const health = await readHealth(this.api, sid);
    if (sid !== this.seriesId) return;
    this.last = health;
    if (health && health.disabled) this.disabled = true;
    paintLamp(this.el, health);
    if (!this.disabled) this.timer = setTimeout(() => this.poll(), POLL_MS);
  }
}
