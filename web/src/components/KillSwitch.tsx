// The kill switch and resume, behind the control scope and a confirmation step. The API only
// accepts the request (202): the runner acts on it and logs what it did, which the page then
// shows through /risk and the risk stream.
import { useState, type FormEvent } from "react";

import { Api, ApiError } from "../api/client";
import type { Scope } from "../session";

type Step = { action: "kill" | "resume" } | null;

export function KillSwitch({
  api,
  scope,
  engaged,
  halted,
  onDone,
}: {
  api: Api;
  scope: Scope;
  engaged: boolean;
  halted: boolean;
  onDone: () => void;
}) {
  const [step, setStep] = useState<Step>(null);
  const [reason, setReason] = useState("");
  const [flatten, setFlatten] = useState(false);
  const [busy, setBusy] = useState(false);
  const [requested, setRequested] = useState<"kill" | "resume" | null>(null);
  const [error, setError] = useState<string | null>(null);

  if (scope !== "control") {
    return (
      <p className="muted" data-testid="control-readonly">
        Read-only token: the kill switch and resume need a control token.
      </p>
    );
  }

  const open = (action: "kill" | "resume") => {
    setStep({ action });
    setReason("");
    setFlatten(false);
    setError(null);
    setRequested(null);
  };

  const submit = async (ev: FormEvent) => {
    ev.preventDefault();
    if (!step || !reason.trim()) return;
    setBusy(true);
    setError(null);
    try {
      if (step.action === "kill") await api.post("/kill", { reason: reason.trim(), flatten });
      else await api.post("/resume", { reason: reason.trim() });
      setRequested(step.action);
      setStep(null);
      onDone();
    } catch (e) {
      setError(e instanceof ApiError ? e.detail : String(e));
    } finally {
      setBusy(false);
    }
  };

  return (
    <div className="killswitch" data-testid="killswitch">
      <div className="actions">
        <button
          type="button"
          className="danger"
          data-testid="kill-button"
          disabled={busy || step !== null}
          onClick={() => open("kill")}
        >
          Kill switch…
        </button>
        <button
          type="button"
          data-testid="resume-button"
          disabled={busy || step !== null || !(engaged || halted)}
          onClick={() => open("resume")}
        >
          Resume…
        </button>
      </div>
      {step && (
        <form className="confirm" data-testid={`confirm-${step.action}`} onSubmit={submit}>
          <p>
            {step.action === "kill"
              ? "Block new orders and cancel every open order of this run."
              : "Lift the kill switch and any halt: the run trades again."}
          </p>
          <label>
            Reason (recorded in the event log)
            <input
              data-testid="confirm-reason"
              value={reason}
              maxLength={500}
              required
              onChange={(e) => setReason(e.target.value)}
            />
          </label>
          {step.action === "kill" && (
            <label className="check">
              <input
                type="checkbox"
                data-testid="confirm-flatten"
                checked={flatten}
                onChange={(e) => setFlatten(e.target.checked)}
              />
              Also flatten: close every position at the market
            </label>
          )}
          <div className="actions">
            <button
              type="submit"
              className={step.action === "kill" ? "danger" : undefined}
              data-testid="confirm-submit"
              disabled={busy || !reason.trim()}
            >
              {step.action === "kill" ? "Confirm kill" : "Confirm resume"}
            </button>
            <button type="button" data-testid="confirm-cancel" onClick={() => setStep(null)}>
              Cancel
            </button>
          </div>
        </form>
      )}
      {requested && (
        <p className="note" data-testid="control-result">
          {requested === "kill"
            ? engaged
              ? "The runner engaged the kill switch."
              : "Kill switch requested: waiting for the runner to act on it."
            : engaged
              ? "Resume requested: waiting for the runner to act on it."
              : "The runner lifted the kill switch."}
        </p>
      )}
      {error && (
        <p className="error" data-testid="control-error">
          {error}
        </p>
      )}
    </div>
  );
}
