// How numbers and times read on the console: UTC, fixed decimals, no float noise.
export function utc(ms: number | null | undefined, seconds = true): string {
  if (ms === null || ms === undefined) return "—";
  const iso = new Date(ms).toISOString();
  return `${iso.slice(0, 10)} ${iso.slice(11, seconds ? 19 : 16)}Z`;
}

export function money(x: number | null | undefined, digits = 2): string {
  if (x === null || x === undefined || !Number.isFinite(x)) return "—";
  return x.toLocaleString("en-US", { minimumFractionDigits: digits, maximumFractionDigits: digits });
}

export function signed(x: number | null | undefined, digits = 2): string {
  if (x === null || x === undefined || !Number.isFinite(x)) return "—";
  return (x > 0 ? "+" : "") + money(x, digits);
}

export function pct(x: number | null | undefined, digits = 2): string {
  if (x === null || x === undefined || !Number.isFinite(x)) return "—";
  return `${(x * 100).toFixed(digits)}%`;
}

/** A decimal string from the API, trimmed of trailing zeros. */
export function qty(text: string | null | undefined): string {
  if (text === null || text === undefined) return "—";
  return text.includes(".") ? text.replace(/0+$/, "").replace(/\.$/, "") : text;
}

export function age(seconds: number | null | undefined): string {
  if (seconds === null || seconds === undefined || !Number.isFinite(seconds)) return "—";
  const s = Math.max(0, seconds);
  if (s < 90) return `${s.toFixed(0)} s`;
  if (s < 5400) return `${(s / 60).toFixed(0)} min`;
  if (s < 172_800) return `${(s / 3600).toFixed(1)} h`;
  return `${(s / 86_400).toFixed(1)} d`;
}

export function text(value: unknown): string {
  if (value === null || value === undefined) return "—";
  if (typeof value === "string") return value;
  if (typeof value === "number") return Number.isInteger(value) ? String(value) : value.toPrecision(6);
  return JSON.stringify(value);
}

/** A decimal string shown with at most 8 significant digits (fees, small amounts). */
export function short(text: string | null | undefined): string {
  if (text === null || text === undefined) return "—";
  const x = Number(text);
  return Number.isFinite(x) ? qty(String(Number(x.toPrecision(8)))) : text;
}
