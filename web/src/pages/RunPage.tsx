// One live run: what it trades, its equity and drawdown, positions, open orders, fills,
// decisions and risk refusals, the risk state and why, alerts, the kill switch, manual orders and
// the parents execution algorithms work.
import { useMemo } from "react";

import type { Api, Schemas } from "../api/client";
import type { StreamEvent } from "../api/stream";
import { LiveBadge, RiskBadge, StaleBadge } from "../components/Badges";
import { EquityChart } from "../components/EquityChart";
import { KillSwitch } from "../components/KillSwitch";
import { CancelOrder, ManualOrders } from "../components/ManualOrders";
import { Table } from "../components/Table";
import { WorkingOrders } from "../components/WorkingOrders";
import { age, money, pct, qty, short, signed, text, utc } from "../format";
import type { RunView } from "../hooks/useRun";
import type { Scope } from "../session";

type Order = Schemas["OrderOut"];
type Fill = Schemas["FillOut"];
type Position = Schemas["Position"];

const FINAL = new Set<Schemas["OrderState"]>(["FILLED", "CANCELLED", "REJECTED", "EXPIRED"]);

interface Refusal {
  seq: number;
  ts: number;
  symbol: string;
  side: string;
  size: string;
  action: string;
  rule: string;
  state: string;
  reason: string;
}

type Payload = Record<string, unknown>;
const str = (v: unknown): string => (v === null || v === undefined ? "—" : text(v));

/** The risk state in force at each seq, from the risk topic's state changes. */
function stateAt(risk: StreamEvent[]): (seq: number) => string {
  const changes: [number, string][] = [];
  for (const e of risk) {
    const p = e.payload as Payload;
    if (e.kind === "risk_state" && typeof p.state === "string") changes.push([e.seq, p.state]);
    else if (e.kind === "halted" || e.kind === "kill_switch") changes.push([e.seq, "HALTED"]);
    else if (e.kind === "resumed") changes.push([e.seq, "ACTIVE"]);
  }
  return (seq) => {
    let state = "—";
    for (const [at, s] of changes) {
      if (at > seq) break;
      state = s;
    }
    return state;
  };
}

const ALL_IN = 1e299; // the engine's "as much as the account allows" size

/** Refusals and shrinks: the risk engine's decisions on orders (risk_decision), the
 * decisions' own refused orders (a held or halted state refuses before an order exists), and
 * the engine's own rules (max_orders_per_day, max_drawdown) rejecting a planned order. */
export function refusalsOf(signals: StreamEvent[], risk: StreamEvent[]): Refusal[] {
  const out: Refusal[] = [];
  const state = stateAt(risk);
  for (const e of risk) {
    if (e.kind !== "risk_decision") continue;
    const p = e.payload as Payload;
    if (p.action === "approve") continue;
    out.push({
      seq: e.seq,
      ts: e.ts_ms,
      symbol: str(p.symbol),
      side: str(p.side),
      size: str(p.qty),
      action: str(p.action),
      rule: str(p.rule),
      state: str(p.state),
      reason: str(p.reason),
    });
  }
  for (const e of signals) {
    const p = e.payload as Payload;
    const refused = Array.isArray(p.refused) ? (p.refused as Payload[]) : [];
    refused.forEach((r) => {
      // The risk engine logged this refusal too (risk_decision, next to the decision): once.
      const logged = out.some(
        (o) => o.symbol === str(r.symbol) && o.rule === str(r.rule) && o.reason === str(r.reason) && Math.abs(o.seq - e.seq) <= 10,
      );
      if (logged) return;
      out.push({
        seq: e.seq,
        ts: typeof p.ts === "number" ? p.ts : e.ts_ms,
        symbol: str(r.symbol),
        side: typeof r.size === "number" ? (r.size > 0 ? "buy" : "sell") : "—",
        size: typeof r.size === "number" ? Math.abs(r.size).toPrecision(6) : str(r.size),
        action: "refuse",
        rule: str(r.rule),
        state: typeof r.state === "string" ? r.state : state(e.seq),
        reason: str(r.reason),
      });
    });
    const planned = Array.isArray(p.planned) ? (p.planned as Payload[]) : [];
    for (const r of planned) {
      if (r.status !== "rejected_risk") continue;
      const size = typeof r.size === "number" ? r.size : NaN;
      out.push({
        seq: e.seq,
        ts: typeof p.ts === "number" ? p.ts : e.ts_ms,
        symbol: str(r.symbol),
        side: size > 0 ? "buy" : size < 0 ? "sell" : "—",
        size: Math.abs(size) >= ALL_IN ? "all-in" : Number.isFinite(size) ? Math.abs(size).toPrecision(6) : "—",
        action: "refuse",
        rule: str(r.rule),
        state: state(e.seq),
        reason: `the engine's ${str(r.rule)} limit refused this ${str(r.kind)} order`,
      });
    }
  }
  return out.sort((a, b) => b.seq - a.seq);
}

function acted(p: Payload): boolean {
  return [p.intents, p.planned, p.refused].some((x) => Array.isArray(x) && x.length > 0);
}

/** What a decision did: its planned orders (size, symbol, status or rule), refusals, orders sent. */
function decisionSummary(p: Payload): string {
  const planned = Array.isArray(p.planned) ? (p.planned as Payload[]) : [];
  const parts = planned.map((o) => {
    const size = typeof o.size === "number" ? o.size : NaN;
    const amount = Math.abs(size) >= ALL_IN ? "all-in" : Number.isFinite(size) ? Math.abs(size).toPrecision(6) : "?";
    const side = size > 0 ? "buy" : "sell";
    const why = o.status === "rejected_risk" ? `refused by ${str(o.rule)}` : str(o.status);
    return `${side} ${amount} ${str(o.symbol)} ${str(o.kind)} (${why})`;
  });
  const refused = Array.isArray(p.refused) ? (p.refused as Payload[]) : [];
  parts.push(...refused.map((r) => `refused by ${str(r.rule)}: ${str(r.reason)}`));
  const sent = Array.isArray(p.intents) ? p.intents.length : 0;
  if (sent > 0) parts.push(`${sent} order${sent > 1 ? "s" : ""} sent`);
  return parts.length > 0 ? parts.join("; ") : "no order";
}

function alertText(e: StreamEvent): string {
  const p = e.payload as Payload;
  if (e.kind === "risk_state") return `${str(p.previous)} → ${str(p.state)}: ${str(p.reason)}`;
  if (e.kind === "kill_switch") return `engaged${p.flatten ? " with flatten" : ""}: ${str(p.reason)}`;
  if (e.kind === "kill_switch_done") {
    const still = Array.isArray(p.still_open) ? p.still_open.length : 0;
    const flat = Array.isArray(p.flattened) && p.flattened.length > 0 ? `, flattened ${p.flattened.length}` : "";
    return `${str(p.cancelled)} open order(s) cancelled, ${still} still open${flat}`;
  }
  if (e.kind === "reconciled") return `reconciliation found differences`;
  if (e.kind === "manual_order") {
    const what = [p.action, p.side, p.qty, p.symbol].filter((v) => typeof v === "string" && v !== "");
    const outcome =
      p.outcome === "refused" ? `refused by ${str(p.rule)}: ${str(p.refusal)}` : str(p.outcome).replace("_", " ");
    return `manual ${what.join(" ")} (${str(p.reason)}) → ${outcome}`;
  }
  return str(p.reason ?? p.rule ?? JSON.stringify(p));
}

export function RunPage({
  api,
  scope,
  view,
}: {
  api: Api;
  scope: Scope;
  view: RunView;
}) {
  const { snapshot, events, streams } = view;
  const refusals = useMemo(() => refusalsOf(events.signals, events.risk), [events.signals, events.risk]);
  if (!snapshot) {
    return <p className="muted">{view.error ? `Cannot load the run: ${view.error}` : "Loading…"}</p>;
  }
  const { strategies, positions, orders, fills, pnl, risk, health, equity } = snapshot;
  const run = strategies[0];
  const open = orders.filter((o) => !FINAL.has(o.state));
  const recentFills = [...fills].reverse().slice(0, 50);
  const decisions = [...events.signals].filter((e) => acted(e.payload as Payload)).reverse().slice(0, 30);
  const lastDecision = events.signals[events.signals.length - 1];
  const alerts = [...events.risk].filter((e) => e.kind !== "risk_decision").reverse().slice(0, 50);
  const staleReasons = [
    ...(health.status === "degraded" ? health.reasons : []),
    ...(view.stale ? ["the page has not refreshed for a while"] : []),
    ...(view.error ? [view.error] : []),
  ];

  return (
    <div className="run" data-testid="run-page">
      <header className="run-header">
        <div>
          <h2 data-testid="run-id">{run?.run_id ?? "run"}</h2>
          <p className="muted">
            {run?.strategy ?? "?"} {run?.params ? JSON.stringify(run.params) : ""} · {run?.venue} (
            {run?.mode}
            {run?.feed && run.feed !== run.venue ? `, feed ${run.feed}` : ""}) · {run?.symbols.join(", ")}{" "}
            {run?.timeframe}
            {run?.symbols.map((s) => (
              <span key={s}>
                {" "}
                ·{" "}
                <a href={`#/market/chart/${encodeURIComponent(`run/${s.replace("/", "-")}`)}/wyckoff`} data-testid="run-market">
                  {s} regimes and events
                </a>
              </span>
            ))}
          </p>
        </div>
        <div className="badges">
          <RiskBadge state={risk.state} />
          <LiveBadge streams={streams} />
          <StaleBadge reasons={staleReasons} />
        </div>
      </header>

      <section className="risk-line" data-testid="risk-reason">
        <strong>Risk:</strong> {risk.state}
        {risk.reason ? ` — ${risk.reason}` : ""}
        {risk.kill_switch.engaged && (
          <span data-testid="kill-engaged">
            {" "}
            · kill switch engaged{risk.kill_switch.flatten ? " (flatten)" : ""}: {risk.kill_switch.reason}
          </span>
        )}
      </section>

      <KillSwitch
        api={api}
        scope={scope}
        engaged={risk.kill_switch.engaged}
        halted={risk.state === "HALTED"}
        onDone={view.refresh}
      />
      <ManualOrders api={api} scope={scope} symbols={run?.symbols ?? []} onDone={view.refresh} />

      <section className="cards">
        <div className="card">
          <span className="label">Equity</span>
          <span className="value" data-testid="equity-value">
            {money(pnl.equity)}
          </span>
        </div>
        <div className="card">
          <span className="label">Since start</span>
          <span className="value">
            {signed(pnl.equity_change)}{" "}
            {pnl.equity_start ? `(${pct((pnl.equity ?? 0) / pnl.equity_start - 1)})` : ""}
          </span>
        </div>
        <div className="card">
          <span className="label">Realised P&amp;L</span>
          <span className="value">{signed(pnl.realised_pnl)}</span>
        </div>
        <div className="card">
          <span className="label">Trades (won)</span>
          <span className="value">
            {pnl.closed_trades} ({pnl.winning_trades})
          </span>
        </div>
        <div className="card">
          <span className="label">Last bar</span>
          <span className="value">
            {utc(pnl.last_bar_ts, false)} ({age(health.last_bar_age_s)} ago)
          </span>
        </div>
        <div className="card">
          <span className="label">Bars / decisions</span>
          <span className="value">
            {run?.bars ?? 0} / {run?.decisions ?? 0}
          </span>
        </div>
      </section>

      <section>
        <h3>Equity and drawdown</h3>
        <EquityChart points={equity.points} />
      </section>

      <div className="grid">
        <section>
          <h3>Positions</h3>
          <Table<Position>
            testId="positions"
            rows={positions.positions}
            rowKey={(p) => p.symbol}
            empty="No position."
            columns={[
              { title: "symbol", cell: (p) => p.symbol },
              { title: "qty", cell: (p) => qty(p.qty), numeric: true },
              { title: "last close", cell: (p) => money(p.last_close), numeric: true },
              { title: "exposure", cell: (p) => money(p.exposure), numeric: true },
            ]}
          />
        </section>
        <section>
          <h3>Open orders ({open.length})</h3>
          <Table<Order>
            testId="open-orders"
            rows={open}
            rowKey={(o) => o.client_id}
            empty="No open order."
            columns={[
              { title: "created", cell: (o) => utc(o.created_ms) },
              { title: "symbol", cell: (o) => o.symbol },
              { title: "side", cell: (o) => o.side },
              { title: "type", cell: (o) => o.order_type },
              { title: "qty", cell: (o) => qty(o.qty), numeric: true },
              { title: "limit", cell: (o) => qty(o.limit_price), numeric: true },
              { title: "filled", cell: (o) => qty(o.filled), numeric: true },
              { title: "state", cell: (o) => o.state },
              {
                title: "",
                cell: (o) => (
                  <CancelOrder
                    api={api}
                    scope={scope}
                    target={{ clientId: o.client_id }}
                    label={`${o.side} ${qty(o.qty)} ${o.symbol}`}
                    onDone={view.refresh}
                  />
                ),
              },
            ]}
          />
        </section>
      </div>

      <WorkingOrders api={api} scope={scope} parents={snapshot.parents} onDone={view.refresh} />

      <section>
        <h3>Recent fills ({fills.length})</h3>
        <Table<Fill>
          testId="fills"
          rows={recentFills}
          rowKey={(f) => `${f.client_id}/${f.trade_id}`}
          empty="No fill yet."
          columns={[
            { title: "time", cell: (f) => utc(f.ts_ms) },
            { title: "symbol", cell: (f) => f.symbol },
            { title: "side", cell: (f) => f.side },
            { title: "qty", cell: (f) => qty(f.qty), numeric: true },
            { title: "price", cell: (f) => qty(f.price), numeric: true },
            { title: "fee", cell: (f) => `${short(f.fee)} ${f.fee_asset ?? ""}`, numeric: true },
            { title: "source", cell: (f) => f.source },
          ]}
        />
      </section>

      <section>
        <h3>Risk refusals ({refusals.length})</h3>
        <Table<Refusal>
          testId="refusals"
          rows={refusals.slice(0, 50)}
          rowKey={(r, i) => `${r.seq}/${i}`}
          empty="No order refused or shrunk."
          columns={[
            { title: "bar / time", cell: (r) => utc(r.ts, false) },
            { title: "symbol", cell: (r) => r.symbol },
            { title: "side", cell: (r) => r.side },
            { title: "size", cell: (r) => r.size, numeric: true },
            { title: "action", cell: (r) => r.action },
            { title: "rule", cell: (r) => <code>{r.rule}</code> },
            { title: "state", cell: (r) => r.state },
            { title: "reason", cell: (r) => r.reason },
          ]}
        />
      </section>

      <section>
        <h3>Decisions that planned an order</h3>
        <p className="muted" data-testid="last-decision">
          {lastDecision
            ? `last decision: bar ${utc((lastDecision.payload as Payload).ts as number, false)}, ${decisionSummary(lastDecision.payload as Payload)}`
            : "no decision yet"}
        </p>
        <Table<StreamEvent>
          testId="decisions"
          rows={decisions}
          rowKey={(e) => String(e.seq)}
          empty="No decision has planned an order yet."
          columns={[
            { title: "bar", cell: (e) => utc((e.payload as Payload).ts as number, false) },
            { title: "orders", cell: (e) => decisionSummary(e.payload as Payload) },
            { title: "latency", cell: (e) => `${text((e.payload as Payload).latency_ms)} ms`, numeric: true },
          ]}
        />
      </section>

      <section>
        <h3>Alerts</h3>
        {((risk.holds ?? []).length > 0 || risk.anomalies.length > 0 || health.reasons.length > 0) && (
          <ul className="alerts" data-testid="alert-list">
            {health.reasons.map((r) => (
              <li key={`h-${r}`}>health: {r}</li>
            ))}
            {(risk.holds ?? []).map((h, i) => (
              <li key={`hold-${i}`}>hold: {text(h.reason)}</li>
            ))}
            {risk.anomalies.map((a) => (
              <li key={`a-${a}`}>anomaly: {a}</li>
            ))}
          </ul>
        )}
        <Table<StreamEvent>
          testId="alerts"
          rows={alerts}
          rowKey={(e) => String(e.seq)}
          empty="No alert: no breach, halt or kill."
          columns={[
            { title: "time", cell: (e) => utc(e.ts_ms) },
            { title: "event", cell: (e) => e.kind },
            { title: "what", cell: alertText },
          ]}
        />
      </section>
    </div>
  );
}
