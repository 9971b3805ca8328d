// Number, unit and time formatting shared by every view.

const NS = [
  [86400e9, 'd'], [3600e9, 'h'], [60e9, 'min'], [1e9, 's'], [1e6, 'ms'], [1e3, 'µs'], [1, 'ns'],
];
const BYTES = [[1 << 30, 'GiB'], [1 << 20, 'MiB'], [1 << 10, 'KiB'], [1, 'B']];

function scaled(v, table) {
  const abs = Math.abs(v);
  for (const [size, suffix] of table) {
    if (abs >= size) return `${trim(v / size)} ${suffix}`;
  }
  return `${trim(v)} ${table[table.length - 1][1]}`;
}

function trim(x) {
  if (x === 0) return '0';
  const abs = Math.abs(x);
  const digits = abs >= 100 ? 0 : abs >= 10 ? 1 : 2;
  return x.toFixed(digits).replace(/\.0+$|(\.\d*?)0+$/, '$1');
}

/** Formats a value of `unit` (a profile type's sample unit) for people. */
export function formatValue(v, unit) {
  if (!Number.isFinite(v)) return String(v);
  if (unit === 'nanoseconds') return scaled(v, NS);
  if (unit === 'bytes') return scaled(v, BYTES);
  const abs = Math.abs(v);
  if (abs >= 1e9) return `${trim(v / 1e9)} G`;
  if (abs >= 1e6) return `${trim(v / 1e6)} M`;
  if (abs >= 1e4) return `${trim(v / 1e3)} k`;
  return trim(v);
}

/** A share in percent with sensible precision. */
export function percent(part, whole) {
  if (!whole) return '0%';
  const p = (100 * part) / whole;
  return `${p >= 10 ? p.toFixed(1) : p.toFixed(2)}%`;
}

/** A signed percentage change, `new` when the base is zero. */
export function change(before, after) {
  if (before === 0) return after === 0 ? '0%' : 'new';
  const p = (100 * (after - before)) / before;
  return `${p > 0 ? '+' : ''}${p.toFixed(1)}%`;
}

const pad = (n) => String(n).padStart(2, '0');

/** Local time as `YYYY-MM-DD HH:MM[:SS]`. */
export function formatTime(ms, seconds = false) {
  const d = new Date(ms);
  const s = `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())} ${pad(d.getHours())}:${pad(d.getMinutes())}`;
  return seconds ? `${s}:${pad(d.getSeconds())}` : s;
}

/** Short axis label: HH:MM, or MM-DD HH:MM when the range spans days. */
export function axisTime(ms, spanMs) {
  const d = new Date(ms);
  const hm = `${pad(d.getHours())}:${pad(d.getMinutes())}`;
  return spanMs > 2 * 86400e3 ? `${pad(d.getMonth() + 1)}-${pad(d.getDate())} ${hm}` : hm;
}

const UNITS = { s: 1e3, m: 60e3, h: 3600e3, d: 86400e3, w: 7 * 86400e3 };

/**
 * Resolves a time expression to epoch ms: `now`, `now-1h`, `now-30m`, an
 * epoch in seconds or milliseconds, or anything `Date.parse` accepts.
 */
export function resolveTime(expr, now = Date.now()) {
  const s = String(expr).trim();
  if (s === 'now') return now;
  const rel = /^now-(\d+)([smhdw])$/.exec(s);
  if (rel) return now - Number(rel[1]) * UNITS[rel[2]];
  if (/^\d+$/.test(s)) return s.length <= 10 ? Number(s) * 1000 : Number(s);
  const parsed = Date.parse(s);
  if (Number.isNaN(parsed)) throw new Error(`cannot read time "${s}": use now, now-1h, an epoch or a date`);
  return parsed;
}
