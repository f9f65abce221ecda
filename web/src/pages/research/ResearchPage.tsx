// The research runs of the runs folder: backtests (and each sweep's best run) in a table that
// sorts by any column and filters by text, strategy, timeframe and a minimum Sharpe; two
// ticked runs open their config diff. Then the sweeps with their promotion gates, and links
// to MLflow's UI and optuna-dashboard.
import { useMemo, useState } from "react";

import type { Api, Schemas } from "../../api/client";
import { utc } from "../../format";
import { useLoad } from "../../hooks/useLoad";
import { GatesBadge } from "./SweepPage";
import { METRICS } from "./metrics";

type Run = Schemas["ResearchRun"];
type Sweep = Schemas["ResearchSweep"];
type Tracked = Schemas["TrackedRun"];

const INFO: { key: "id" | "strategy" | "symbols" | "timeframe" | "created"; title: string }[] = [
  { key: "created", title: "created (UTC)" },
  { key: "strategy", title: "strategy" },
  { key: "symbols", title: "symbols" },
  { key: "timeframe", title: "tf" },
];

interface Sort {
  key: string;
  desc: boolean;
}

function value(r: Run, key: string): string | number | null {
  if (key === "created" || key === "strategy" || key === "symbols" || key === "timeframe" || key === "id") {
    return r[key];
  }
  const x = r.metrics[key];
  return x === null || x === undefined || !Number.isFinite(x) ? null : x;
}

function compare(a: Run, b: Run, s: Sort): number {
  const x = value(a, s.key);
  const y = value(b, s.key);
  if (x === null && y === null) return 0;
  if (x === null) return 1; // missing values last, whatever the direction
  if (y === null) return -1;
  const c = typeof x === "number" && typeof y === "number" ? x - y : String(x).localeCompare(String(y));
  return s.desc ? -c : c;
}

export function ResearchPage({ api, go }: { api: Api; go: (hash: string) => void }) {
  const runs = useLoad(() => api.get("/research/runs"), [api]);
  const sweeps = useLoad(() => api.get("/research/sweeps"), [api]);
  const links = useLoad(() => api.get("/research/links"), [api]);
  const tracked = useLoad(() => api.get("/research/mlflow"), [api]);
  const inMlflow = useMemo(
    () => new Map((tracked.data ?? []).filter((t) => t.folder).map((t) => [t.folder as string, t.url])),
    [tracked.data],
  );
  const [sort, setSort] = useState<Sort>({ key: "created", desc: true });
  const [text, setText] = useState("");
  const [strategy, setStrategy] = useState("");
  const [timeframe, setTimeframe] = useState("");
  const [minSharpe, setMinSharpe] = useState("");
  const [picked, setPicked] = useState<string[]>([]);

  const all = useMemo(() => runs.data ?? [], [runs.data]);
  const strategies = useMemo(() => [...new Set(all.map((r) => r.strategy))].sort(), [all]);
  const timeframes = useMemo(() => [...new Set(all.map((r) => r.timeframe))].sort(), [all]);
  const shown = useMemo(() => {
    const needle = text.trim().toLowerCase();
    const floor = minSharpe.trim() === "" ? null : Number(minSharpe);
    return all
      .filter((r) => !strategy || r.strategy === strategy)
      .filter((r) => !timeframe || r.timeframe === timeframe)
      .filter((r) => !needle || `${r.id} ${r.symbols} ${r.config_id}`.toLowerCase().includes(needle))
      .filter((r) => floor === null || !Number.isFinite(floor) || (r.metrics.sharpe_ratio ?? -Infinity) >= floor)
      .sort((a, b) => compare(a, b, sort));
  }, [all, text, strategy, timeframe, minSharpe, sort]);

  const header = (key: string, title: string, numeric: boolean) => (
    <th key={key} className={numeric ? "num sortable" : "sortable"}>
      <button
        type="button"
        className="sort"
        data-testid={`sort-${key}`}
        onClick={() => setSort((s) => ({ key, desc: s.key === key ? !s.desc : numeric }))}
      >
        {title}
        {sort.key === key ? (sort.desc ? " ▼" : " ▲") : ""}
      </button>
    </th>
  );
  const toggle = (id: string) =>
    setPicked((p) => (p.includes(id) ? p.filter((x) => x !== id) : [...p.slice(-1), id]));

  return (
    <section>
      <div className="run-header">
        <h2>Research runs</h2>
        {links.data && (
          <p className="links" data-testid="research-links">
            <a href={links.data.mlflow_ui} target="_blank" rel="noopener noreferrer">
              MLflow
            </a>{" "}
            ·{" "}
            <a href={links.data.optuna_dashboard} target="_blank" rel="noopener noreferrer">
              optuna-dashboard
            </a>{" "}
            · <span className="muted">runs folder</span> <code>{links.data.runs_dir}</code>
          </p>
        )}
      </div>
      <div className="filters">
        <input
          placeholder="filter: id, symbol, config id"
          value={text}
          data-testid="filter-text"
          onChange={(e) => setText(e.target.value)}
        />
        <select value={strategy} data-testid="filter-strategy" onChange={(e) => setStrategy(e.target.value)}>
          <option value="">every strategy</option>
          {strategies.map((s) => (
            <option key={s}>{s}</option>
          ))}
        </select>
        <select value={timeframe} data-testid="filter-timeframe" onChange={(e) => setTimeframe(e.target.value)}>
          <option value="">every timeframe</option>
          {timeframes.map((s) => (
            <option key={s}>{s}</option>
          ))}
        </select>
        <input
          placeholder="Sharpe at least"
          inputMode="decimal"
          value={minSharpe}
          data-testid="filter-sharpe"
          onChange={(e) => setMinSharpe(e.target.value)}
        />
        <button
          type="button"
          disabled={picked.length !== 2}
          data-testid="diff-picked"
          onClick={() => go(`#/research/diff/${encodeURIComponent(picked[0])}/${encodeURIComponent(picked[1])}`)}
        >
          Diff the two ticked runs
        </button>
        <span className="muted" data-testid="runs-count">
          {shown.length} of {all.length} runs
        </span>
      </div>
      {runs.error && <p className="error">{runs.error}</p>}
      {runs.data && all.length === 0 && (
        <p className="muted" data-testid="research-empty">
          No backtest in the runs folder: <code>grekko backtest</code> writes them there.
        </p>
      )}
      {all.length > 0 && (
        <table data-testid="research-runs">
          <thead>
            <tr>
              <th />
              {INFO.map((c) => header(c.key, c.title, false))}
              {METRICS.map((m) => header(m.key, m.title, true))}
              <th>run</th>
              <th />
            </tr>
          </thead>
          <tbody>
            {shown.map((r) => (
              <tr key={r.id} data-testid="research-run">
                <td>
                  <input
                    type="checkbox"
                    aria-label={`pick ${r.id}`}
                    data-testid="pick"
                    checked={picked.includes(r.id)}
                    onChange={() => toggle(r.id)}
                  />
                </td>
                <td>{r.created}</td>
                <td>{r.strategy}</td>
                <td>{r.symbols}</td>
                <td>{r.timeframe}</td>
                {METRICS.map((m) => (
                  <td key={m.key} className="num" data-metric={m.key}>
                    {m.fmt(r.metrics[m.key])}
                  </td>
                ))}
                <td>
                  <a href={`#/research/run/${encodeURIComponent(r.id)}`} data-testid="research-run-link">
                    {r.config_id}
                  </a>
                  {r.sweep ? <span className="muted"> (best of a sweep)</span> : null}
                </td>
                <td>
                  {inMlflow.has(r.id) ? (
                    <a href={inMlflow.get(r.id)} target="_blank" rel="noopener noreferrer" data-testid="run-mlflow">
                      MLflow
                    </a>
                  ) : null}
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
      <h3>Sweeps</h3>
      {sweeps.error && <p className="error">{sweeps.error}</p>}
      <SweepList sweeps={sweeps.data} />
      <h3>Tracked in MLflow</h3>
      {tracked.error && <p className="error">{tracked.error}</p>}
      <TrackedList runs={tracked.data} />
    </section>
  );
}

function SweepList({ sweeps }: { sweeps: Sweep[] | null }) {
  if (!sweeps) return <p className="muted">Loading…</p>;
  if (sweeps.length === 0) return <p className="muted">No sweep in the runs folder (<code>grekko sweep</code>).</p>;
  return (
    <table data-testid="research-sweeps">
      <thead>
        <tr>
          <th>study</th>
          <th>created (UTC)</th>
          <th>objective</th>
          <th className="num">trials</th>
          <th className="num">OOS Sharpe</th>
          <th>gates</th>
        </tr>
      </thead>
      <tbody>
        {sweeps.map((s) => (
          <tr key={s.id}>
            <td>
              <a href={`#/research/sweep/${encodeURIComponent(s.id)}`} data-testid="sweep-link">
                {s.study}
              </a>
            </td>
            <td>{s.created}</td>
            <td>{s.objective ?? "—"}</td>
            <td className="num">{s.n_trials ?? "—"}</td>
            <td className="num">{s.out_of_sample?.sharpe_ratio?.toFixed(2) ?? "—"}</td>
            <td>{s.error ? <span className="error">{s.error}</span> : <GatesBadge sweep={s} />}</td>
          </tr>
        ))}
      </tbody>
    </table>
  );
}

function TrackedList({ runs }: { runs: Tracked[] | null }) {
  if (!runs) return <p className="muted">Loading…</p>;
  if (runs.length === 0) {
    return <p className="muted">No run in the runs folder's MLflow store (<code>--track</code> logs there).</p>;
  }
  return (
    <table data-testid="research-mlflow">
      <thead>
        <tr>
          <th>started (UTC)</th>
          <th>experiment</th>
          <th>run</th>
          <th>strategy</th>
          <th>status</th>
          <th className="num">Sharpe</th>
          <th>run folder</th>
        </tr>
      </thead>
      <tbody>
        {runs.map((t) => (
          <tr key={t.run_id} data-testid="tracked-run">
            <td>{utc(t.start_ms)}</td>
            <td>{t.experiment}</td>
            <td>
              <a href={t.url} target="_blank" rel="noopener noreferrer">
                {t.name ?? t.run_id}
              </a>
            </td>
            <td>{t.strategy ?? "—"}</td>
            <td>{t.status}</td>
            <td className="num">{t.metrics.sharpe_ratio?.toFixed(2) ?? "—"}</td>
            <td>
              {t.folder ? (
                <a href={`#/research/run/${encodeURIComponent(t.folder)}`} data-testid="tracked-folder">
                  {t.config_id ?? t.folder}
                </a>
              ) : (
                <span className="muted">not in this runs folder</span>
              )}
            </td>
          </tr>
        ))}
      </tbody>
    </table>
  );
}
