// One backtest run: what it ran on, every metric, its resolved config, and its tearsheet
// embedded (a sandboxed frame, see ReportFrame).
import type { Api } from "../../api/client";
import { ReportFrame } from "../../components/ReportFrame";
import { useLoad } from "../../hooks/useLoad";
import { METRICS, metricText } from "./metrics";

export function ResearchRunPage({ api, id }: { api: Api; id: string }) {
  const run = useLoad(() => api.get("/research/run", { run: id }), [api, id]);
  if (run.error) return <p className="error">{run.error}</p>;
  if (!run.data) return <p className="muted">Loading…</p>;
  const r = run.data;
  const others = Object.keys(r.metrics)
    .filter((k) => !METRICS.some((m) => m.key === k))
    .sort();
  return (
    <section>
      <h2 data-testid="research-run-title">
        {r.strategy} {r.symbols} {r.timeframe} <span className="muted">{r.config_id}</span>
      </h2>
      <p className="muted">
        <code>{r.id}</code> · {r.start} → {r.end} · {r.bars} bars
        {r.sweep ? (
          <>
            {" "}
            · best run of <a href={`#/research/sweep/${encodeURIComponent(r.sweep)}`}>its sweep</a>
          </>
        ) : null}
      </p>
      <div className="cards">
        {METRICS.map((m) => (
          <div className="card" key={m.key}>
            <span className="label">{m.title}</span>
            <span className="value">{m.fmt(r.metrics[m.key])}</span>
          </div>
        ))}
      </div>
      <h3>Tearsheet</h3>
      {r.tearsheet ? (
        <ReportFrame api={api} id={r.id} kind="run" page="tearsheet.html" title={`tearsheet of ${r.id}`} />
      ) : (
        <p className="muted">This run was written without a tearsheet (experiment.tearsheet=false).</p>
      )}
      <div className="grid">
        <div>
          <h3>Other metrics</h3>
          <table data-testid="research-metrics">
            <tbody>
              {others.map((k) => (
                <tr key={k}>
                  <td>{k}</td>
                  <td className="num">{metricText(k, r.metrics[k])}</td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
        <div>
          <h3>Config</h3>
          <table data-testid="research-config">
            <tbody>
              {Object.entries(r.config)
                .sort(([a], [b]) => a.localeCompare(b))
                .map(([k, v]) => (
                  <tr key={k}>
                    <td>
                      <code>{k}</code>
                    </td>
                    <td>{v}</td>
                  </tr>
                ))}
            </tbody>
          </table>
        </div>
      </div>
    </section>
  );
}
