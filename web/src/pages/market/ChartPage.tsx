// One series' price with its regimes and events, a window (start/end) and the regime model to
// choose, and the events listed with their evidence.
import { useState } from "react";

import type { Api } from "../../api/client";
import { Legend, PriceChart } from "../../components/PriceChart";
import { money, utc } from "../../format";
import { useLoad } from "../../hooks/useLoad";
import { chartHash } from "./MarketPage";

export function ChartPage({ api, id, regime }: { api: Api; id: string; regime: "wyckoff" | "hmm" }) {
  const [start, setStart] = useState("");
  const [end, setEnd] = useState("");
  const [range, setRange] = useState<{ start?: string; end?: string }>({});
  const [kind, setKind] = useState("");
  const [log, setLog] = useState<boolean | null>(null);
  const [rows, setRows] = useState(50);
  const chart = useLoad(
    () => api.get("/market/chart", { series: id, regime, start: range.start, end: range.end }),
    [api, id, regime, range],
  );
  const c = chart.data;
  const logScale = log ?? (c ? Math.max(...c.h) / Math.max(1e-12, Math.min(...c.l)) > 4 : false);
  const shown = (c?.events ?? []).filter((e) => !kind || e.kind === kind).slice().reverse();
  return (
    <section>
      <div className="run-header">
        <h2 data-testid="chart-title">{c?.label ?? id}</h2>
        <a href="#/market">all series</a>
      </div>
      <form
        className="filters"
        onSubmit={(e) => {
          e.preventDefault();
          setRange({ start: start || undefined, end: end || undefined });
        }}
      >
        <label className="check">
          regimes
          <select
            value={regime}
            onChange={(e) => (window.location.hash = chartHash(id, e.target.value))}
            data-testid="regime-select"
          >
            <option value="wyckoff">Wyckoff phases</option>
            <option value="hmm">HMM states (walk-forward)</option>
          </select>
        </label>
        <input placeholder="start (2021-01-01)" value={start} onChange={(e) => setStart(e.target.value)} data-testid="chart-start" />
        <input placeholder="end" value={end} onChange={(e) => setEnd(e.target.value)} data-testid="chart-end" />
        <button type="submit" data-testid="chart-apply">
          Apply
        </button>
        <label className="check">
          <input type="checkbox" checked={logScale} onChange={(e) => setLog(e.target.checked)} /> log scale
        </label>
      </form>
      {chart.error && (
        <p className="error" data-testid="chart-error">
          {chart.error}
        </p>
      )}
      {!c && !chart.error && <p className="muted">Analysing…</p>}
      {c && (
        <>
          <PriceChart chart={c} log={logScale} />
          <Legend chart={c} />
          <h3>Events</h3>
          <div className="filters">
            <select value={kind} onChange={(e) => setKind(e.target.value)} data-testid="event-kind">
              <option value="">every kind</option>
              {Object.keys(c.event_counts).map((k) => (
                <option key={k} value={k}>
                  {k.replace(/_/g, " ")} ({c.event_counts[k]})
                </option>
              ))}
            </select>
            <span className="muted">newest first; {c.events.length} of {Object.values(c.event_counts).reduce((a, b) => a + b, 0)} returned</span>
          </div>
          <table data-testid="event-table">
            <thead>
              <tr>
                <th>bar (UTC)</th>
                <th>event</th>
                <th className="num">price</th>
                <th>confirmed</th>
                <th>evidence</th>
              </tr>
            </thead>
            <tbody>
              {shown.slice(0, rows).map((e, i) => (
                <tr key={`${e.ts}-${e.kind}-${i}`} data-testid="event-row">
                  <td>{utc(e.ts, false)}</td>
                  <td>{e.kind.replace(/_/g, " ")}</td>
                  <td className="num">{money(e.price)}</td>
                  <td>{e.confirmed_ts === null ? "—" : utc(e.confirmed_ts, false)}</td>
                  <td className="muted">{e.detail}</td>
                </tr>
              ))}
            </tbody>
          </table>
          {shown.length > rows && (
            <button type="button" onClick={() => setRows(shown.length)} data-testid="events-all">
              Show all {shown.length}
            </button>
          )}
        </>
      )}
    </section>
  );
}
