// One series' live feed over /ws/market (CONTRACT §3): subscribe with `since` = the last
// candle the page holds and `supports_batch`, hand every frame on with its arrival time, and
// after a dropped socket reconnect with backoff and subscribe again from the last candle —
// the server then sends exactly what the page is missing (§3.4), so nothing is lost and the
// page's own time check drops nothing but true repeats.

const BACKOFF_START_MS = 500;
const BACKOFF_MAX_MS = 15000;

export class MarketFeed {
  /**
   * `since()` returns the last closed candle_time held (or null); `onFrame(msg, arrivedAt)`
   * gets each parsed frame; `onState(state)` gets "connecting" | "live" | "reconnecting".
   */
  constructor({ api, seriesId, since, onFrame, onState }) {
    this.api = api;
    this.seriesId = seriesId;
    this.since = since;
    this.onFrame = onFrame;
    this.onState = onState;
    this.ws = null;
    this.stopped = false;
    this.delay = BACKOFF_START_MS;
    this.timer = null;
    this.opens = 0;
  }

  start() {
    this.connect();
  }

  connect() {
    if (this.stopped) return;
    this.onState(this.opens ? "reconnecting" : "connecting");
    const ws = new WebSocket(this.api.wsUrl("/ws/market"));
    this.ws = ws;
    ws.onopen = () => {
      if (ws !== this.ws) return;
      this.opens += 1;
      this.delay = BACKOFF_START_MS;
      const since = this.since();
      ws.send(
        JSON.stringify({
          type: "subscribe",
          series_id: this.seriesId,
          since: since === null ? null : since,
          supports_batch: true,
        }),
      );
      this.onState("live");
    };
    ws.onmessage = (event) => {
      if (ws !== this.ws) return;
      const arrivedAt = performance.now();
      let msg;
      try {
        msg = JSON.parse(event.data);
      } catch {
        return;
      }
      this.onFrame(msg, arrivedAt);
    };
    ws.onclose = () => {
      if (ws !== this.ws || this.stopped) return;
      this.ws = null;
      this.onState("reconnecting");
      // Jitter keeps many pages from reconnecting in step after a server restart.
      const wait = this.delay / 2 + Math.random() * (this.delay / 2);
      this.delay = Math.min(BACKOFF_MAX_MS, this.delay * 2);
      this.timer = setTimeout(() => this.connect(), wait);
    };
  }

  /** Close the socket as a network failure would (the test hook); the feed reconnects. */
  drop() {
    if (this.ws) this.ws.close(4000, "dropped by page");
  }

  stop() {
    this.stopped = true;
    clearTimeout(this.timer);
    if (this.ws) {
      const ws = this.ws;
      this.ws = null;
      ws.close(1000, "page left the series");
    }
  }
}
