// The order book's resting depth over time (a canvas: one cell per price bin and time column,
// brighter = more size, on a log scale since depth is heavy-tailed), with the best bid and ask,
// the traded price (VWAP and range per column) and the spoofing candidates drawn over it as SVG.
import { useEffect, useRef } from "react";

import type { Schemas } from "../api/client";
import { money, utc } from "../format";

type Book = Schemas["BookHeatMap"];

const W = 1000;
const H = 420;

/** Dark blue → violet → orange → pale yellow, for t in [0, 1]. */
const STOPS: [number, number, number][] = [
  [12, 16, 40],
  [70, 30, 110],
  [180, 60, 90],
  [240, 140, 40],
  [252, 240, 170],
];

export function colour(t: number): [number, number, number] {
  const u = Math.min(1, Math.max(0, t)) * (STOPS.length - 1);
  const i = Math.min(STOPS.length - 2, Math.floor(u));
  const k = u - i;
  const a = STOPS[i];
  const b = STOPS[i + 1];
  return [0, 1, 2].map((j) => Math.round(a[j] + k * (b[j] - a[j]))) as [number, number, number];
}

function line(xs: number[], ys: (number | null)[]): string {
  let out = "";
  let pen = false;
  ys.forEach((v, i) => {
    if (v === null) {
      pen = false;
      return;
    }
    out += `${pen ? "L" : "M"}${xs[i].toFixed(1)},${v.toFixed(1)} `;
    pen = true;
  });
  return out.trim();
}

export function HeatMap({ book }: { book: Book }) {
  const canvas = useRef<HTMLCanvasElement>(null);
  const nT = book.times.length;
  const nP = book.price_edges.length - 1;
  const pLo = book.price_edges[0];
  const pHi = book.price_edges[nP];
  const colW = W / nT;
  const t0 = book.times[0] - (book.times[1] - book.times[0]);
  const tSpan = book.times[nT - 1] - t0;
  const x = (ms: number) => ((ms - t0) / tSpan) * W;
  const y = (p: number | null) => (p === null ? null : (1 - (p - pLo) / (pHi - pLo)) * H);
  const centres = book.times.map((_, i) => (i + 0.5) * colW);

  useEffect(() => {
    const c = canvas.current;
    const ctx = c?.getContext("2d");
    if (!c || !ctx) return;
    const img = ctx.createImageData(nT, nP);
    const top = Math.log1p(book.max_qty || 1);
    for (let p = 0; p < nP; p++) {
      const row = book.qty[p];
      const yRow = nP - 1 - p; // the highest price bin on the first row
      for (let t = 0; t < nT; t++) {
        const q = row[t];
        const at = 4 * (yRow * nT + t);
        if (q === null) {
          img.data.set([40, 40, 40, 255], at); // the book was not known
          continue;
        }
        const [r, g, b] = colour(Math.log1p(q) / top);
        img.data.set([r, g, b, 255], at);
      }
    }
    c.width = nT;
    c.height = nP;
    ctx.putImageData(img, 0, 0);
  }, [book, nT, nP]);

  const vwap = line(centres, book.trade_vwap.map(y));
  return (
    <figure className="chart heatmap" data-testid="heatmap">
      <figcaption>
        <span>
          {book.capture} · {nP} price bins × {nT} columns · max {money(book.max_qty, 4)} per bin
        </span>
        <span>
          {book.trades.toLocaleString("en-US")} trades · {book.spoofs_total} spoofing candidates
        </span>
      </figcaption>
      <div className="heat-wrap">
        <canvas ref={canvas} className="heat-canvas" data-testid="heat-canvas" />
        <svg viewBox={`0 0 ${W} ${H}`} preserveAspectRatio="none" className="heat-overlay" data-testid="heat-overlay">
          <path className="best-bid" d={line(centres, book.best_bid.map(y))} />
          <path className="best-ask" d={line(centres, book.best_ask.map(y))} />
          {book.trade_high.map((h, i) =>
            h === null || book.trade_low[i] === null ? null : (
              <line
                key={i}
                className="trade-range"
                x1={centres[i]}
                x2={centres[i]}
                y1={y(h) ?? 0}
                y2={y(book.trade_low[i]) ?? 0}
              />
            ),
          )}
          <path className="trade-line" d={vwap} data-testid="trade-line" />
          {book.spoofs.map((s, i) => (
            <path
              key={i}
              className={`spoof spoof-${s.side}`}
              data-testid="spoof"
              d={`M${x(s.ts) - 4},${(y(s.price) ?? 0) - 4} l8,8 m0,-8 l-8,8`}
            >
              <title>
                spoofing candidate: {s.side} {Number(s.qty.toPrecision(8))} at {money(s.price)} placed {utc(s.ts)}, pulled after{" "}
                {s.life_s.toFixed(2)} s (notional {money(s.notional, 0)})
              </title>
            </path>
          ))}
        </svg>
      </div>
      <div className="chart-axis">
        <span>{utc(book.times[0])}</span>
        <span>
          {money(pLo)} – {money(pHi)} · tick {book.tick_size}
        </span>
        <span>{utc(book.times[nT - 1])}</span>
      </div>
    </figure>
  );
}
