// The runs this API serves (one run, or a portfolio run's strategies), with venue, strategy,
// risk state, equity, P&L and the age of the last bar.
import type { Schemas } from "../api/client";
import { RiskBadge } from "../components/Badges";
import { Table } from "../components/Table";
import { age, money, signed, utc } from "../format";
import type { Snapshot } from "../hooks/useRun";

type Sleeve = Schemas["SleeveRun"];
type Listed = Schemas["RunListed"];

export function RunsPage({ snapshot, onOpen }: { snapshot: Snapshot | null; onOpen: (runId: string) => void }) {
  if (!snapshot) return <p className="muted">Loading…</p>;
  const { strategies, pnl, risk, health } = snapshot;
  if (strategies.length === 0) {
    return (
      <p className="muted" data-testid="runs-empty">
        The log holds no run yet.
      </p>
    );
  }
  return (
    <section>
      <h2>Live runs</h2>
      <table data-testid="runs">
        <thead>
          <tr>
            <th>run</th>
            <th>venue</th>
            <th>strategy</th>
            <th>state</th>
            <th className="num">equity</th>
            <th className="num">P&amp;L since start</th>
            <th className="num">realised</th>
            <th className="num">last bar age</th>
          </tr>
        </thead>
        <tbody>
          {strategies.map((r) => (
            <tr key={r.run_id ?? "run"}>
              <td>
                <a
                  href={`#/run/${encodeURIComponent(r.run_id ?? "")}`}
                  data-testid="run-link"
                  onClick={(ev) => {
                    ev.preventDefault();
                    onOpen(r.run_id ?? "");
                  }}
                >
                  {r.run_id}
                </a>
              </td>
              <td>
                {r.venue} ({r.mode}
                {r.feed && r.feed !== r.venue ? `, ${r.feed}` : ""})
              </td>
              <td>{r.strategy ?? (r.strategies?.length ? `portfolio of ${r.strategies.length}` : "?")}</td>
              <td>
                <RiskBadge state={risk.state} />
              </td>
              <td className="num">{money(pnl.equity)}</td>
              <td className="num">{signed(pnl.equity_change)}</td>
              <td className="num">{signed(pnl.realised_pnl)}</td>
              <td className="num">{age(health.last_bar_age_s)}</td>
            </tr>
          ))}
          {strategies.flatMap((r) =>
            (r.strategies ?? []).map((s: Sleeve) => (
              <tr key={`${r.run_id}/${s.id}`} className="sleeve">
                <td>↳ {s.id}</td>
                <td />
                <td>{s.strategy}</td>
                <td>
                  <RiskBadge state={s.state} />
                </td>
                <td className="num">{money(s.equity)}</td>
                <td className="num" />
                <td className="num">{signed(s.realised_pnl)}</td>
                <td />
              </tr>
            )),
          )}
        </tbody>
      </table>
      <h3>Runs in the same state folder</h3>
      <Table<Listed>
        testId="state-runs"
        rows={snapshot.runs}
        rowKey={(r, i) => `${r.run_id}/${i}`}
        empty="No other run."
        columns={[
          { title: "run", cell: (r) => (r.served ? <strong>{r.run_id} (this one)</strong> : r.run_id) },
          { title: "venue", cell: (r) => `${r.venue ?? "?"} (${r.mode ?? "?"}${r.feed && r.feed !== r.venue ? `, ${r.feed}` : ""})` },
          { title: "strategy", cell: (r) => r.strategy ?? "—" },
          { title: "state", cell: (r) => <RiskBadge state={r.state} /> },
          { title: "reason", cell: (r) => r.reason ?? "" },
          { title: "started", cell: (r) => utc(r.started_ms, false) },
          { title: "last event", cell: (r) => utc(r.last_event_ms) },
        ]}
      />
      <p className="muted">
        One status API serves one run: watch another with its own <code>grekko-live api --run ID</code>.
      </p>
    </section>
  );
}
