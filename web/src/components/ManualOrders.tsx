// Manual orders (freqtrade's forceenter / forceexit, and cancel), behind the control scope and a
// confirmation step with a reason. The API only accepts the request (202): the runner checks it
// with its risk engine, logs a manual_order event (sent, or refused with the rule) and the page
// shows that answer in its alerts, like the kill switch's. An entry or exit is a market order, a
// limit order resting at its price, or a parent worked by an execution algorithm (the API's
// AlgoRequest; a limit takes no algorithm). A cancel names an open order or a working parent.
import { useState, type FormEvent } from "react";

import { Api, ApiError, type Schemas } from "../api/client";
import type { Scope } from "../session";

type Request = Schemas["ManualOrderRequest"];
type Algo = Schemas["AlgoRequest"];
type AlgoKind = Algo["kind"];
type OrderType = "market" | "limit";
/** The algorithm's fields as typed (strings until sent). */
interface AlgoFields {
  slices: string;
  over: string;
  clip: string;
  offset_bps: string;
  passive: string;
}
const NO_FIELDS: AlgoFields = { slices: "", over: "", clip: "", offset_bps: "", passive: "" };
/** Which fields each algorithm takes (the API's AlgoRequest). */
const ALGO_FIELDS: Record<AlgoKind, (keyof AlgoFields)[]> = {
  twap: ["slices", "over"],
  vwap: ["slices", "over"],
  iceberg: ["clip", "offset_bps"],
  chase: ["offset_bps", "passive"],
};
const FIELD_LABEL: Record<keyof AlgoFields, string> = {
  slices: "Slices (children)",
  over: "Over (e.g. 6h)",
  clip: "Clip (visible quantity)",
  offset_bps: "Offset inside the price (bps)",
  passive: "Passive for (e.g. 2h), then market",
};
/** What a cancel stops: one open order (its client id) or a working parent (its parent id). */
export type CancelTarget = { clientId: string } | { parentId: string };
type Step =
  | { action: "enter" | "exit"; symbol: string }
  | { action: "cancel"; target: CancelTarget; label: string }
  | null;

/** The enter / exit buttons of a run (one form: symbol, side, quantity, reason). */
export function ManualOrders({
  api,
  scope,
  symbols,
  onDone,
}: {
  api: Api;
  scope: Scope;
  symbols: string[];
  onDone: () => void;
}) {
  const form = useManualForm(api, onDone);
  if (scope !== "control" || symbols.length === 0) return null;
  return (
    <div className="manual" data-testid="manual-orders">
      <div className="actions">
        <button
          type="button"
          data-testid="manual-enter"
          disabled={form.busy || form.step !== null}
          onClick={() => form.open({ action: "enter", symbol: symbols[0] })}
        >
          Enter…
        </button>
        <button
          type="button"
          data-testid="manual-exit"
          disabled={form.busy || form.step !== null}
          onClick={() => form.open({ action: "exit", symbol: symbols[0] })}
        >
          Exit…
        </button>
      </div>
      <ManualForm form={form} symbols={symbols} />
    </div>
  );
}

/** A cancel button for one open order or working parent (control scope only), with its own
 * confirmation; ``can`` false shows only the answer to an earlier cancel (the parent is no
 * longer working). */
export function CancelOrder({
  api,
  scope,
  target,
  label,
  onDone,
  can = true,
}: {
  api: Api;
  scope: Scope;
  target: CancelTarget;
  label: string;
  onDone: () => void;
  can?: boolean;
}) {
  const form = useManualForm(api, onDone);
  if (scope !== "control") return null;
  return (
    <span className="manual-cancel">
      {can && form.step === null && form.requested === null && (
        <button
          type="button"
          data-testid={"parentId" in target ? "cancel-parent" : "cancel-order"}
          disabled={form.busy}
          onClick={() => form.open({ action: "cancel", target, label })}
        >
          Cancel…
        </button>
      )}
      <ManualForm form={form} symbols={[]} />
    </span>
  );
}

interface FormState {
  step: Step;
  busy: boolean;
  requested: string | null;
  error: string | null;
  side: "buy" | "sell";
  qty: string;
  reason: string;
  orderType: OrderType;
  limitPrice: string;
  algo: AlgoKind | null;
  algoFields: AlgoFields;
  open: (step: Step) => void;
  close: () => void;
  set: (
    patch: Partial<Pick<FormState, "side" | "qty" | "reason" | "orderType" | "limitPrice" | "algo">> & {
      symbol?: string;
      field?: [keyof AlgoFields, string];
    },
  ) => void;
  submit: (ev: FormEvent) => Promise<void>;
}

function useManualForm(api: Api, onDone: () => void): FormState {
  const [step, setStep] = useState<Step>(null);
  const [side, setSide] = useState<"buy" | "sell">("buy");
  const [qty, setQty] = useState("");
  const [reason, setReason] = useState("");
  const [orderType, setOrderType] = useState<OrderType>("market");
  const [limitPrice, setLimitPrice] = useState("");
  const [algo, setAlgo] = useState<AlgoKind | null>(null);
  const [algoFields, setAlgoFields] = useState<AlgoFields>(NO_FIELDS);
  const [busy, setBusy] = useState(false);
  const [requested, setRequested] = useState<string | null>(null);
  const [error, setError] = useState<string | null>(null);

  const submit = async (ev: FormEvent) => {
    ev.preventDefault();
    if (!step || !reason.trim()) return;
    setBusy(true);
    setError(null);
    try {
      let answer: { request_id?: unknown } & Record<string, unknown>;
      if (step.action === "cancel") {
        answer = await cancel(api, step.target, reason.trim());
      } else {
        const body: Request = {
          action: step.action,
          symbol: step.symbol,
          reason: reason.trim(),
          order_type: orderType,
        };
        if (step.action === "enter") body.side = side;
        if (qty.trim()) body.qty = qty.trim();
        if (orderType === "limit") {
          body.limit_price = limitPrice.trim();
        } else if (algo !== null) {
          body.algo = algoBody(algo, algoFields);
        }
        answer = await api.post("/orders", body);
      }
      setRequested(String(answer.request_id ?? "?"));
      setStep(null);
      onDone();
    } catch (e) {
      setError(e instanceof ApiError ? e.detail : String(e));
    } finally {
      setBusy(false);
    }
  };

  return {
    step,
    busy,
    requested,
    error,
    side,
    qty,
    reason,
    orderType,
    limitPrice,
    algo,
    algoFields,
    open: (next) => {
      setStep(next);
      setQty("");
      setReason("");
      setOrderType("market");
      setLimitPrice("");
      setAlgo(null);
      setAlgoFields(NO_FIELDS);
      setError(null);
      setRequested(null);
    },
    close: () => setStep(null),
    set: (patch) => {
      if (patch.side !== undefined) setSide(patch.side);
      if (patch.qty !== undefined) setQty(patch.qty);
      if (patch.reason !== undefined) setReason(patch.reason);
      if (patch.orderType !== undefined) setOrderType(patch.orderType);
      if (patch.limitPrice !== undefined) setLimitPrice(patch.limitPrice);
      if (patch.algo !== undefined) setAlgo(patch.algo);
      if (patch.field !== undefined) {
        const [name, value] = patch.field;
        setAlgoFields((f) => ({ ...f, [name]: value }));
      }
      if (patch.symbol !== undefined && step && step.action !== "cancel") {
        setStep({ ...step, symbol: patch.symbol });
      }
    },
    submit,
  };
}

/** Ask the API to cancel an open order or a working parent. */
async function cancel(api: Api, target: CancelTarget, reason: string) {
  if ("parentId" in target) {
    return api.post("/orders/parents/{parent_id}/cancel", { reason }, { parent_id: target.parentId });
  }
  return api.post("/orders/{client_id}/cancel", { reason }, { client_id: target.clientId });
}

const QTY = /^(\d+(\.\d*)?|\.\d+)$/;
const positive = (text: string) => QTY.test(text.trim()) && Number(text) > 0;

/** The API's algo object: the kind and the fields it takes that were filled in. */
function algoBody(kind: AlgoKind, fields: AlgoFields): Algo {
  const body: Algo = { kind };
  for (const name of ALGO_FIELDS[kind]) {
    const value = fields[name].trim();
    if (!value) continue;
    if (name === "slices") body.slices = Number(value);
    else if (name === "offset_bps") body.offset_bps = Number(value);
    else body[name] = value;
  }
  return body;
}

/** Whether the filled-in algorithm fields are numbers where the API wants numbers. */
function algoOk(kind: AlgoKind | null, fields: AlgoFields): boolean {
  if (kind === null) return true;
  return ALGO_FIELDS[kind].every((name) => {
    const value = fields[name].trim();
    if (!value) return name !== "clip"; // an iceberg needs its clip
    if (name === "slices") return /^\d+$/.test(value) && Number(value) >= 1;
    if (name === "offset_bps") return QTY.test(value);
    if (name === "clip") return positive(value);
    return true;
  });
}

function ManualForm({ form, symbols }: { form: FormState; symbols: string[] }) {
  const { step } = form;
  const qtyOk = form.qty.trim() === "" ? step?.action !== "enter" : positive(form.qty);
  const priceOk = form.orderType === "market" || positive(form.limitPrice);
  const ok = qtyOk && priceOk && algoOk(form.algo, form.algoFields);
  return (
    <>
      {step && (
        <form className="confirm" data-testid={`confirm-manual-${step.action}`} onSubmit={form.submit}>
          <p>
            {step.action === "enter" && "An order of this run, checked by its risk engine."}
            {step.action === "exit" && "Close the position (or the quantity given), checked by the risk engine."}
            {step.action === "cancel" &&
              ("parentId" in step.target
                ? `Cancel the working parent ${step.label}: no child after it, its resting child cancelled, what filled stays.`
                : `Cancel the open order ${step.label}.`)}
          </p>
          {step.action !== "cancel" && (
            <label>
              Symbol
              <select
                data-testid="manual-symbol"
                value={step.symbol}
                onChange={(e) => form.set({ symbol: e.target.value })}
              >
                {symbols.map((s) => (
                  <option key={s} value={s}>
                    {s}
                  </option>
                ))}
              </select>
            </label>
          )}
          {step.action === "enter" && (
            <label>
              Side
              <select
                data-testid="manual-side"
                value={form.side}
                onChange={(e) => form.set({ side: e.target.value === "sell" ? "sell" : "buy" })}
              >
                <option value="buy">buy</option>
                <option value="sell">sell</option>
              </select>
            </label>
          )}
          {step.action !== "cancel" && (
            <label>
              {step.action === "enter" ? "Quantity" : "Quantity (empty: the whole position)"}
              <input
                data-testid="manual-qty"
                inputMode="decimal"
                value={form.qty}
                onChange={(e) => form.set({ qty: e.target.value })}
              />
            </label>
          )}
          {step.action !== "cancel" && <OrderKind form={form} />}
          <label>
            Reason (recorded in the event log)
            <input
              data-testid="manual-reason"
              value={form.reason}
              maxLength={500}
              required
              onChange={(e) => form.set({ reason: e.target.value })}
            />
          </label>
          <div className="actions">
            <button
              type="submit"
              data-testid="manual-submit"
              disabled={form.busy || !form.reason.trim() || !ok}
            >
              {step.action === "enter" ? "Send entry" : step.action === "exit" ? "Send exit" : "Send cancel"}
            </button>
            <button type="button" data-testid="manual-back" onClick={form.close}>
              Back
            </button>
          </div>
        </form>
      )}
      {form.requested && (
        <p className="note" data-testid="manual-result">
          Request {form.requested} sent: the runner checks it with its risk engine; its answer
          appears in the alerts.
        </p>
      )}
      {form.error && (
        <p className="error" data-testid="manual-error">
          {form.error}
        </p>
      )}
    </>
  );
}

/** The order type (market, or limit with its price) and the execution algorithm with its
 * fields; a limit takes no algorithm, so choosing one turns the other off. */
function OrderKind({ form }: { form: FormState }) {
  return (
    <>
      <label>
        Order type
        <select
          data-testid="manual-order-type"
          value={form.orderType}
          disabled={form.algo !== null}
          onChange={(e) => form.set({ orderType: e.target.value === "limit" ? "limit" : "market" })}
        >
          <option value="market">market</option>
          <option value="limit">limit (rests until filled or cancelled)</option>
        </select>
      </label>
      {form.orderType === "limit" && (
        <label>
          Limit price (rounded to the tick away from the market)
          <input
            data-testid="manual-limit-price"
            inputMode="decimal"
            value={form.limitPrice}
            onChange={(e) => form.set({ limitPrice: e.target.value })}
          />
        </label>
      )}
      <label>
        Execution algorithm
        <select
          data-testid="manual-algo"
          value={form.algo ?? ""}
          disabled={form.orderType === "limit"}
          onChange={(e) => {
            const kind = e.target.value;
            form.set({ algo: kind in ALGO_FIELDS ? (kind as AlgoKind) : null });
          }}
        >
          <option value="">none</option>
          <option value="twap">twap</option>
          <option value="vwap">vwap</option>
          <option value="iceberg">iceberg</option>
          <option value="chase">chase</option>
        </select>
      </label>
      {form.algo !== null &&
        ALGO_FIELDS[form.algo].map((name) => (
          <label key={name}>
            {FIELD_LABEL[name]}
            <input
              data-testid={`manual-algo-${name}`}
              value={form.algoFields[name]}
              onChange={(e) => form.set({ field: [name, e.target.value] })}
            />
          </label>
        ))}
    </>
  );
}
