// Equity and drawdown since the run's start, drawn as SVG (no chart library: a few hundred
// bytes of code instead of a dependency, and nothing that needs an inline style or eval).
import { money, pct, utc } from "../format";

export interface Point {
  ts: number;
  equity: number;
}

const W = 720;
const H_EQ = 180;
const H_DD = 80;
const PAD = 4;

/** Running drawdown: equity over its running peak, minus one (0 at a new high). */
export function drawdowns(points: Point[]): number[] {
  let peak = -Infinity;
  return points.map((p) => {
    peak = Math.max(peak, p.equity);
    return peak > 0 ? p.equity / peak - 1 : 0;
  });
}

function path(xs: number[], ys: number[]): string {
  return xs.map((x, i) => `${i === 0 ? "M" : "L"}${x.toFixed(1)},${ys[i].toFixed(1)}`).join(" ");
}

export function EquityChart({ points }: { points: Point[] }) {
  if (points.length === 0) {
    return (
      <p className="muted" data-testid="equity-empty">
        No closed bar yet.
      </p>
    );
  }
  const shown = points.length;
  if (points.length === 1) points = [points[0], { ...points[0], ts: points[0].ts + 1 }]; // a flat line
  const dd = drawdowns(points);
  const t0 = points[0].ts;
  const t1 = points[points.length - 1].ts;
  const span = Math.max(1, t1 - t0);
  const lo = Math.min(...points.map((p) => p.equity));
  const hi = Math.max(...points.map((p) => p.equity));
  // A flat curve sits in the middle of its panel.
  const range = hi - lo || Math.max(1, Math.abs(hi) * 0.001);
  const floor = hi - lo ? lo : lo - range / 2;
  const worst = Math.min(...dd, -1e-9);
  const xs = points.map((p) => PAD + ((p.ts - t0) / span) * (W - 2 * PAD));
  const eqY = points.map((p) => PAD + (1 - (p.equity - floor) / range) * (H_EQ - 2 * PAD));
  const ddY = dd.map((d) => PAD + (d / worst) * (H_DD - 2 * PAD));
  const area = `${path(xs, ddY)} L${xs[xs.length - 1].toFixed(1)},${PAD} L${xs[0].toFixed(1)},${PAD} Z`;
  const last = points[points.length - 1];
  return (
    <figure className="chart" data-testid="equity-chart">
      <figcaption>
        <span>
          equity {money(last.equity)} (low {money(lo)}, high {money(hi)})
        </span>
        <span>
          drawdown {pct(dd[dd.length - 1])} (max {pct(Math.min(...dd))})
        </span>
      </figcaption>
      <svg viewBox={`0 0 ${W} ${H_EQ}`} role="img" aria-label="equity" data-testid="equity-svg">
        <path className="equity-line" d={path(xs, eqY)} />
      </svg>
      <svg viewBox={`0 0 ${W} ${H_DD}`} role="img" aria-label="drawdown" data-testid="drawdown-svg">
        <path className="drawdown-area" d={area} />
      </svg>
      <div className="chart-axis">
        <span>{utc(t0, false)}</span>
        <span>{shown} bars shown</span>
        <span>{utc(t1, false)}</span>
      </div>
    </figure>
  );
}
