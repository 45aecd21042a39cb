// Times, durations, rates and lookups for display (pure functions).

function pad(n, width = 2) {
  return String(n).padStart(width, "0");
}

export function toMs(iso) {
  const t = iso ? Date.parse(iso) : NaN;
  return Number.isFinite(t) ? t : null;
}

export function fmtTime(iso) {
  const t = toMs(iso);
  if (t === null) return "–";
  const d = new Date(t);
  return `${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())}.${pad(d.getMilliseconds(), 3)}`;
}

export function fmtDateTime(iso) {
  const t = toMs(iso);
  if (t === null) return "–";
  const d = new Date(t);
  const date = `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())}`;
  return `${date} ${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())}`;
}

export function fmtDuration(ms) {
  if (ms === null || ms === undefined || !Number.isFinite(ms)) return "–";
  if (ms < 1000) return `${Math.round(ms)} ms`;
  if (ms < 60000) return `${(ms / 1000).toFixed(ms < 10000 ? 2 : 1)} s`;
  const minutes = Math.floor(ms / 60000);
  if (minutes < 60) return `${minutes} min ${Math.round((ms % 60000) / 1000)} s`;
  return `${Math.floor(minutes / 60)} h ${minutes % 60} min`;
}

export function fmtRate(rate) {
  return rate === null || rate === undefined ? "–" : `${(100 * rate).toFixed(rate === 1 ? 0 : 1)} %`;
}

export function between(startIso, endIso) {
  const a = toMs(startIso);
  const b = toMs(endIso);
  return a === null || b === null ? null : Math.max(b - a, 0);
}

export function pick(obj, ...paths) {
  for (const path of paths) {
    let value = obj;
    for (const key of path.split(".")) value = value === null || value === undefined ? undefined : value[key];
    if (value !== undefined && value !== null) return value;
  }
  return undefined;
}

export function percentile(values, p) {
  if (!values.length) return null;
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))];
}
