// One depth capture's heat map: resting size by price over time, the traded price over it, the
// spoofing candidates marked; the replay's own check (events whose top of book was compared).
import { useState } from "react";

import type { Api } from "../../api/client";
import { HeatMap } from "../../components/HeatMap";
import { money, utc } from "../../format";
import { useLoad } from "../../hooks/useLoad";

export function BookPage({ api, id }: { api: Api; id: string }) {
  const [span, setSpan] = useState(10);
  const book = useLoad(() => api.get("/market/book", { capture: id, span_bps: span }), [api, id, span]);
  const b = book.data;
  return (
    <section>
      <div className="run-header">
        <h2 data-testid="book-title">Order book {id}</h2>
        <a href="#/market">all captures</a>
      </div>
      <div className="filters">
        <label className="check">
          reach beyond the mid&apos;s range
          <select value={span} onChange={(e) => setSpan(Number(e.target.value))} data-testid="book-span">
            {[2, 5, 10, 25, 50].map((v) => (
              <option key={v} value={v}>
                {v} bp
              </option>
            ))}
          </select>
        </label>
      </div>
      {book.error && (
        <p className="error" data-testid="book-error">
          {book.error}
        </p>
      )}
      {!b && !book.error && <p className="muted">Rebuilding the book…</p>}
      {b && (
        <>
          <HeatMap book={b} />
          <div className="legend">
            <span className="legend-item">
              <span className="key key-trade" /> traded price (VWAP per column, its range)
            </span>
            <span className="legend-item">
              <span className="key key-bid" /> best bid
            </span>
            <span className="legend-item">
              <span className="key key-ask" /> best ask
            </span>
            <span className="legend-item">× spoofing candidate (largest {b.spoofs.length} of {b.spoofs_total})</span>
          </div>
          <p className="muted" data-testid="book-check">
            {b.events.toLocaleString("en-US")} depth events, {b.gaps} gaps; the map&apos;s book matched the
            replay&apos;s top of book after{" "}
            {(b.checked - b.mismatches).toLocaleString("en-US")} of {b.checked.toLocaleString("en-US")} applied events.
          </p>
          <h3>Largest spoofing candidates</h3>
          <table data-testid="spoof-table">
            <thead>
              <tr>
                <th>placed (UTC)</th>
                <th>side</th>
                <th className="num">price</th>
                <th className="num">size</th>
                <th className="num">notional</th>
                <th className="num">life (s)</th>
              </tr>
            </thead>
            <tbody>
              {b.spoofs.slice(0, 20).map((s, i) => (
                <tr key={i}>
                  <td>{utc(s.ts)}</td>
                  <td>{s.side}</td>
                  <td className="num">{money(s.price)}</td>
                  <td className="num">{Number(s.qty.toPrecision(8))}</td>
                  <td className="num">{money(s.notional, 0)}</td>
                  <td className="num">{s.life_s.toFixed(2)}</td>
                </tr>
              ))}
            </tbody>
          </table>
        </>
      )}
    </section>
  );
}
