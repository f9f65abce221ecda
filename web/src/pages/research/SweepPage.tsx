// A sweep: its promotion gates (value, rule, pass/fail and why, with the source of each
// threshold), the out-of-sample result, the best parameters and run, its report pages.
import type { Api, Schemas } from "../../api/client";
import { ReportFrame } from "../../components/ReportFrame";
import { text } from "../../format";
import { useLoad } from "../../hooks/useLoad";
import { metricText } from "./metrics";

type Sweep = Schemas["ResearchSweep"];

export function GatesBadge({ sweep }: { sweep: Sweep }) {
  if (sweep.gates_passed === null || sweep.gates_passed === undefined) {
    return <span className="badge">no gates</span>;
  }
  const failed = (sweep.gates ?? []).filter((g) => g.ok !== true).length;
  return sweep.gates_passed ? (
    <span className="badge ok">all pass</span>
  ) : (
    <span className="badge risk-halted">{failed} not passed</span>
  );
}

export function SweepPage({ api, id }: { api: Api; id: string }) {
  const sweeps = useLoad(() => api.get("/research/sweeps"), [api]);
  const links = useLoad(() => api.get("/research/links"), [api]);
  if (sweeps.error) return <p className="error">{sweeps.error}</p>;
  if (!sweeps.data) return <p className="muted">Loading…</p>;
  const sweep = sweeps.data.find((s) => s.id === id);
  if (!sweep) return <p className="error">No sweep {id} in the runs folder.</p>;
  if (sweep.error) return <p className="error">Sweep {id} cannot be read: {sweep.error}</p>;
  return (
    <section>
      <div className="run-header">
        <h2>
          Sweep {sweep.study} <span className="muted">{sweep.created}</span>
        </h2>
        <GatesBadge sweep={sweep} />
      </div>
      <p className="muted">
        {sweep.strategy} · objective {sweep.objective ?? "?"} · {sweep.n_trials ?? "?"} trials · storage{" "}
        <code>{sweep.storage ?? "—"}</code>
        {links.data && (
          <>
            {" "}
            ·{" "}
            <a href={links.data.optuna_dashboard} target="_blank" rel="noopener noreferrer">
              optuna-dashboard
            </a>{" "}
            ·{" "}
            <a href={links.data.mlflow_ui} target="_blank" rel="noopener noreferrer">
              MLflow
            </a>
          </>
        )}
      </p>
      <h3>Promotion gates</h3>
      {sweep.gates ? (
        <table data-testid="gates">
          <thead>
            <tr>
              <th>gate</th>
              <th className="num">value</th>
              <th>rule</th>
              <th>result</th>
              <th>why</th>
              <th>threshold from</th>
            </tr>
          </thead>
          <tbody>
            {sweep.gates.map((g) => (
              <tr key={g.gate} data-testid="gate">
                <td>{g.gate}</td>
                <td className="num">{g.value === null || g.value === undefined ? "not measured" : text(g.value)}</td>
                <td>
                  <code>{g.rule}</code>
                </td>
                <td>
                  {g.ok === true ? (
                    <span className="badge ok">pass</span>
                  ) : g.ok === false ? (
                    <span className="badge risk-halted">fail</span>
                  ) : (
                    <span className="badge">not measured</span>
                  )}
                </td>
                <td>{g.why}</td>
                <td className="muted">{g.source}</td>
              </tr>
            ))}
          </tbody>
        </table>
      ) : (
        <p className="muted">This sweep was written without a gate table (gates.json).</p>
      )}
      <div className="grid">
        <div>
          <h3>Out of sample</h3>
          <table data-testid="sweep-oos">
            <tbody>
              {Object.entries(sweep.out_of_sample ?? {}).map(([k, v]) => (
                <tr key={k}>
                  <td>{k}</td>
                  <td className="num">{metricText(k, v)}</td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
        <div>
          <h3>Best parameters</h3>
          <table>
            <tbody>
              {Object.entries(sweep.best_params ?? {}).map(([k, v]) => (
                <tr key={k}>
                  <td>{k}</td>
                  <td className="num">{text(v)}</td>
                </tr>
              ))}
            </tbody>
          </table>
          {sweep.best_run && (
            <p>
              <a href={`#/research/run/${encodeURIComponent(sweep.best_run)}`} data-testid="best-run-link">
                The best run and its tearsheet
              </a>
            </p>
          )}
          {sweep.parity && (
            <p className="muted">
              Live-replay parity: {sweep.parity.passed ? "passed" : "failed"}
            </p>
          )}
        </div>
      </div>
      {(sweep.pages ?? []).map((p) => (
        <div key={p}>
          <h3>{p}</h3>
          <ReportFrame api={api} id={sweep.id} kind="sweep" page={p} title={`${sweep.study} ${p}`} />
        </div>
      ))}
    </section>
  );
}
