// Two runs side by side: the config keys whose values differ (grekko compare's diff), then
// their key metrics.
import type { Api } from "../../api/client";
import { useLoad } from "../../hooks/useLoad";
import { METRICS } from "./metrics";

export function DiffPage({ api, a, b }: { api: Api; a: string; b: string }) {
  const diff = useLoad(() => api.get("/research/diff", { a, b }), [api, a, b]);
  const runs = useLoad(
    () => Promise.all([api.get("/research/run", { run: a }), api.get("/research/run", { run: b })]),
    [api, a, b],
  );
  if (diff.error) return <p className="error">{diff.error}</p>;
  if (!diff.data) return <p className="muted">Loading…</p>;
  const d = diff.data;
  return (
    <section>
      <h2>Config diff</h2>
      <p>
        A: <a href={`#/research/run/${encodeURIComponent(a)}`}>{a}</a>
        <br />
        B: <a href={`#/research/run/${encodeURIComponent(b)}`}>{b}</a>
      </p>
      <p className="muted" data-testid="diff-summary">
        {d.rows.length} key(s) differ, {d.equal} equal
        {d.unshared ? `, ${d.unshared} only in one run (not compared)` : ""}
      </p>
      {d.rows.length === 0 ? (
        <p data-testid="diff-identical">The configs are identical.</p>
      ) : (
        <table data-testid="diff">
          <thead>
            <tr>
              <th>key</th>
              <th>A</th>
              <th>B</th>
            </tr>
          </thead>
          <tbody>
            {d.rows.map((r) => (
              <tr key={r.key} data-testid="diff-row">
                <td>
                  <code>{r.key}</code>
                </td>
                <td>{r.a}</td>
                <td>{r.b}</td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
      {runs.data && (
        <>
          <h3>Metrics</h3>
          <table data-testid="diff-metrics">
            <thead>
              <tr>
                <th>metric</th>
                <th className="num">A</th>
                <th className="num">B</th>
              </tr>
            </thead>
            <tbody>
              {METRICS.map((m) => (
                <tr key={m.key}>
                  <td>{m.title}</td>
                  <td className="num">{m.fmt(runs.data?.[0].metrics[m.key])}</td>
                  <td className="num">{m.fmt(runs.data?.[1].metrics[m.key])}</td>
                </tr>
              ))}
            </tbody>
          </table>
        </>
      )}
    </section>
  );
}
