// Series identifiers (CONTRACT §1.1, §1.2) and small formatting helpers.

export const TIMEFRAMES = ["1m", "5m", "15m", "1h", "4h", "1d"];
const UNIT = { m: 60, h: 3600, d: 86400 };
const VENUE = { spot: "Spot", futures: "Futures" };

/** Split a series_id into its parts, or return null when it is not valid. */
export function parseSeries(id) {
  if (typeof id !== "string") return null;
  const parts = id.split(":");
  if (parts.length < 4 || parts.some((p) => p === "" || /[\s\u0000-\u001f]/.test(p))) return null;
  const timeframe = parts[parts.length - 1];
  const match = /^([1-9][0-9]*)([mhd])$/.exec(timeframe);
  const symbol = parts.slice(2, -1).join(":");
  const market = parts[1];
  if (!match || !(market in VENUE) || !/^[^/]+\/[^/:]+/.test(symbol)) return null;
  return {
    id,
    exchange: parts[0],
    market,
    symbol,
    timeframe,
    tf: Number(match[1]) * UNIT[match[2]],
  };
}

/** The same series on another timeframe. */
export function withTimeframe(id, timeframe) {
  const parts = id.split(":");
  parts[parts.length - 1] = timeframe;
  return parts.join(":");
}

/** "Binance Futures" for a parsed series. */
export function venueLabel(series) {
  const exchange = series.exchange.charAt(0).toUpperCase() + series.exchange.slice(1);
  return `${exchange} ${VENUE[series.market]}`;
}

/** Decimal places that show a price of this size sensibly (2 for BTC, 8 for tiny coins). */
export function pricePrecision(price) {
  if (!(price > 0)) return 2;
  const digits = Math.ceil(-Math.log10(price)) + 4;
  return Math.min(8, Math.max(2, digits));
}

/** "2026-12-07 03:12 UTC" for a Unix time in seconds. */
export function formatTime(t) {
  if (t === null || t === undefined) return "—";
  return new Date(t * 1000).toISOString().slice(0, 16).replace("T", " ") + " UTC";
}

/** "3m 12s" / "2h 5m" for a duration in seconds. */
export function formatAge(seconds) {
  if (seconds === null || seconds === undefined || !isFinite(seconds)) return "—";
  const s = Math.max(0, Math.round(seconds));
  if (s < 60) return `${s}s`;
  if (s < 3600) return `${Math.floor(s / 60)}m ${s % 60}s`;
  if (s < 86400) return `${Math.floor(s / 3600)}h ${Math.floor((s % 3600) / 60)}m`;
  return `${Math.floor(s / 86400)}d ${Math.floor((s % 86400) / 3600)}h`;
}

/** Compact volume: 1.2K, 3.4M. */
export function formatVolume(v) {
  if (!isFinite(v)) return "—";
  const abs = Math.abs(v);
  if (abs >= 1e9) return (v / 1e9).toFixed(2) + "B";
  if (abs >= 1e6) return (v / 1e6).toFixed(2) + "M";
  if (abs >= 1e3) return (v / 1e3).toFixed(2) + "K";
  return v.toFixed(abs >= 100 ? 0 : 2);
}
