// The metrics the research tables show, and how each reads (the names are metrics.json's).
import { money, pct } from "../../format";

export interface MetricColumn {
  key: string;
  title: string;
  fmt: (x: number | null | undefined) => string;
  /** larger is better (for the filters' "at least") */
  higher: boolean;
}

const num = (digits: number) => (x: number | null | undefined) =>
  x === null || x === undefined || !Number.isFinite(x) ? "—" : x.toFixed(digits);

export const METRICS: MetricColumn[] = [
  { key: "final_equity", title: "final equity", fmt: (x) => money(x), higher: true },
  { key: "total_return", title: "return", fmt: (x) => pct(x), higher: true },
  { key: "sharpe_ratio", title: "Sharpe", fmt: num(2), higher: true },
  { key: "sortino_ratio", title: "Sortino", fmt: num(2), higher: true },
  { key: "max_drawdown", title: "max DD", fmt: (x) => pct(x), higher: true },
  { key: "n_trades", title: "trades", fmt: num(0), higher: true },
  { key: "win_rate", title: "win rate", fmt: (x) => pct(x, 1), higher: true },
  { key: "profit_factor", title: "profit factor", fmt: num(2), higher: true },
];

/** Any metric by name: ratios as percentages where the name says so. */
export function metricText(name: string, x: number | null | undefined): string {
  const known = METRICS.find((m) => m.key === name);
  if (known) return known.fmt(x);
  if (x === null || x === undefined || !Number.isFinite(x)) return "—";
  if (/return|drawdown$|rate|exposure|volatility|value_at_risk/.test(name)) return pct(x);
  return Number.isInteger(x) ? String(x) : x.toPrecision(5);
}
