// Manual orders (freqtrade's forceenter / forceexit, and cancel), behind the control scope and a
// confirmation step with a reason. The API only accepts the request (202): the runner checks it
// with its risk engine, logs a manual_order event (sent, or refused with the rule) and the page
// shows that answer in its alerts, like the kill switch's.
import { useState, type FormEvent } from "react";

import { Api, ApiError, type Schemas } from "../api/client";
import type { Scope } from "../session";

type Request = Schemas["ManualOrderRequest"];
type Step =
  | { action: "enter" | "exit"; symbol: string }
  | { action: "cancel"; clientId: string; label: string }
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

/** A cancel button for one open order (control scope only), with its own confirmation. */
export function CancelOrder({
  api,
  scope,
  clientId,
  label,
  onDone,
}: {
  api: Api;
  scope: Scope;
  clientId: string;
  label: string;
  onDone: () => void;
}) {
  const form = useManualForm(api, onDone);
  if (scope !== "control") return null;
  return (
    <span className="manual-cancel">
      {form.step === null && form.requested === null && (
        <button
          type="button"
          data-testid="cancel-order"
          disabled={form.busy}
          onClick={() => form.open({ action: "cancel", clientId, label })}
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
  open: (step: Step) => void;
  close: () => void;
  set: (patch: Partial<Pick<FormState, "side" | "qty" | "reason">> & { symbol?: string }) => void;
  submit: (ev: FormEvent) => Promise<void>;
}

function useManualForm(api: Api, onDone: () => void): FormState {
  const [step, setStep] = useState<Step>(null);
  const [side, setSide] = useState<"buy" | "sell">("buy");
  const [qty, setQty] = useState("");
  const [reason, setReason] = useState("");
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
        answer = await api.post(
          "/orders/{client_id}/cancel",
          { reason: reason.trim() },
          { client_id: step.clientId },
        );
      } else {
        const body: Request = { action: step.action, symbol: step.symbol, reason: reason.trim() };
        if (step.action === "enter") body.side = side;
        if (qty.trim()) body.qty = qty.trim();
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
    open: (next) => {
      setStep(next);
      setQty("");
      setReason("");
      setError(null);
      setRequested(null);
    },
    close: () => setStep(null),
    set: (patch) => {
      if (patch.side !== undefined) setSide(patch.side);
      if (patch.qty !== undefined) setQty(patch.qty);
      if (patch.reason !== undefined) setReason(patch.reason);
      if (patch.symbol !== undefined && step && step.action !== "cancel") {
        setStep({ ...step, symbol: patch.symbol });
      }
    },
    submit,
  };
}

const QTY = /^(\d+(\.\d*)?|\.\d+)$/;

function ManualForm({ form, symbols }: { form: FormState; symbols: string[] }) {
  const { step } = form;
  const qtyOk = form.qty.trim() === "" ? step?.action !== "enter" : QTY.test(form.qty.trim()) && Number(form.qty) > 0;
  return (
    <>
      {step && (
        <form className="confirm" data-testid={`confirm-manual-${step.action}`} onSubmit={form.submit}>
          <p>
            {step.action === "enter" && "A market order of this run, checked by its risk engine."}
            {step.action === "exit" && "Close the position at the market (or the quantity given), checked by the risk engine."}
            {step.action === "cancel" && `Cancel the open order ${step.label}.`}
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
              disabled={form.busy || !form.reason.trim() || !qtyOk}
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
