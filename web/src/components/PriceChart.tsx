// Price with the market's regimes as shaded bands and the detected events as markers, drawn as
// SVG from /market/chart (the server has thinned the bars to a point budget; the analysis ran
// on every bar). Colours come from the stylesheet (classes), never from inline styles.
import type { Schemas } from "../api/client";
import { money, utc } from "../format";

type Chart = Schemas["MarketChart"];

const W = 1000;
const H = 360;
const PAD_Y = 8;

/** Marker shapes by event kind: up-triangles for bottoms, down-triangles for tops. */
const SHAPES: Record<string, "up" | "down" | "dot"> = {
  capitulation: "up",
  selling_climax: "up",
  spring: "up",
  breakout_up: "dot",
  bull_trap: "down",
  buying_climax: "down",
  upthrust: "down",
  breakout_down: "dot",
};

function marker(x: number, y: number, shape: "up" | "down" | "dot"): string {
  const s = 6;
  if (shape === "up") return `M${x},${y + 3} l${-s},${2 * s} l${2 * s},0 Z`; // below the price
  if (shape === "down") return `M${x},${y - 3} l${-s},${-2 * s} l${2 * s},0 Z`; // above it
  return `M${x - 3},${y} a3,3 0 1,0 6,0 a3,3 0 1,0 -6,0`;
}

/** The regime's index among its labels, for the band's colour class. */
function bandClass(chart: Chart, label: string): string {
  return `band band-${chart.regime}-${chart.regimes.indexOf(label)}`;
}

export function PriceChart({ chart, log }: { chart: Chart; log: boolean }) {
  const n = chart.t.length;
  if (n === 0) return <p className="muted">No bars.</p>;
  const t0 = chart.t[0];
  const t1 = chart.t[n - 1] + chart.bars_per_point * chart.bar_ms;
  const span = Math.max(1, t1 - t0);
  const lo = Math.min(...chart.l);
  const hi = Math.max(...chart.h);
  const f = (p: number) => (log ? Math.log(Math.max(p, 1e-12)) : p);
  const flo = f(lo);
  const frange = f(hi) - flo || 1;
  const x = (ts: number) => ((ts - t0) / span) * W;
  const y = (p: number) => PAD_Y + (1 - (f(p) - flo) / frange) * (H - 2 * PAD_Y);
  const step = (chart.bars_per_point * chart.bar_ms) / span * W;
  const mid = (i: number) => x(chart.t[i]) + step / 2;
  const close = chart.c.map((c, i) => `${i === 0 ? "M" : "L"}${mid(i).toFixed(1)},${y(c).toFixed(1)}`).join(" ");
  // the high-low envelope: along the highs, back along the lows
  const upper = chart.h.map((h, i) => `${i === 0 ? "M" : "L"}${mid(i).toFixed(1)},${y(h).toFixed(1)}`);
  const lower = chart.l.map((l, i) => `L${mid(i).toFixed(1)},${y(l).toFixed(1)}`).reverse();
  const envelope = `${upper.join(" ")} ${lower.join(" ")} Z`;
  const ticks = [0, 0.25, 0.5, 0.75, 1].map((q) => {
    const v = log ? Math.exp(flo + q * frange) : lo + q * (hi - lo);
    return { v, y: y(v) };
  });
  return (
    <figure className="chart market-chart" data-testid="price-chart">
      <figcaption>
        <span>
          {chart.label} · {chart.bars_total} bars ({chart.bars_per_point} per point) · low {money(lo)} · high{" "}
          {money(hi)}
        </span>
        <span>{log ? "log scale" : "linear scale"}</span>
      </figcaption>
      <svg viewBox={`0 0 ${W} ${H}`} role="img" aria-label="price with regimes and events" data-testid="price-svg">
        <g data-testid="bands">
          {chart.bands.map((b) => (
            <rect
              key={b.start}
              className={bandClass(chart, b.label)}
              data-testid="band"
              data-label={b.label}
              x={x(b.start).toFixed(1)}
              y={0}
              width={Math.max(0.5, x(b.end) - x(b.start)).toFixed(1)}
              height={H}
            >
              <title>
                {b.label}: {utc(b.start, false)} → {utc(b.end, false)}
              </title>
            </rect>
          ))}
        </g>
        {ticks.map((t) => (
          <g key={t.v} className="gridline">
            <line x1={0} x2={W} y1={t.y} y2={t.y} />
            <text x={4} y={t.y - 2}>
              {money(t.v, t.v < 10 ? 4 : 0)}
            </text>
          </g>
        ))}
        <path className="price-range" d={envelope} />
        <path className="price-line" d={close} data-testid="price-line" data-points={n} />
        <g data-testid="events">
          {chart.events.map((e, i) => (
            <path
              key={`${e.ts}-${e.kind}-${i}`}
              className={`event event-${e.kind}`}
              data-testid="event"
              data-kind={e.kind}
              data-ts={e.ts}
              d={marker(x(e.ts) + step / 2, y(e.price), SHAPES[e.kind] ?? "dot")}
            >
              <title>
                {e.kind.replace(/_/g, " ")} {utc(e.ts, false)} at {money(e.price)}
                {e.confirmed_ts !== null && e.confirmed_ts !== e.ts ? ` (confirmed ${utc(e.confirmed_ts, false)})` : ""}:{" "}
                {e.detail}
              </title>
            </path>
          ))}
        </g>
      </svg>
      <div className="chart-axis">
        <span>{utc(t0, false)}</span>
        <span>
          {chart.bands.length} regime bands{chart.bands_coarsened ? " (at the points' resolution)" : ""} ·{" "}
          {chart.events.length} events drawn
        </span>
        <span>{utc(t1, false)}</span>
      </div>
    </figure>
  );
}

export function Legend({ chart }: { chart: Chart }) {
  return (
    <div className="legend" data-testid="legend">
      {chart.regimes.map((r) => (
        <span key={r} className="legend-item">
          <svg viewBox="0 0 12 12" className="swatch">
            <rect className={bandClass(chart, r)} x={0} y={0} width={12} height={12} />
          </svg>
          {r}
        </span>
      ))}
      {Object.entries(chart.event_counts).map(([k, count]) => (
        <span key={k} className="legend-item">
          <svg viewBox="-8 -16 16 32" className="swatch swatch-event">
            <path className={`event event-${k}`} d={marker(0, 0, SHAPES[k] ?? "dot")} />
          </svg>
          {k.replace(/_/g, " ")} {count}
        </span>
      ))}
    </div>
  );
}
