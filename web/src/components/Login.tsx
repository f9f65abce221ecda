// The login form: a token is checked against /whoami (which also says its scope) before the
// console opens. It is kept in memory, or for this tab only when the user asks.
import { useState, type FormEvent } from "react";

import { Api, ApiError } from "../api/client";
import type { Session } from "../session";

export function Login({ onLogin, initial }: { onLogin: (s: Session) => void; initial?: string }) {
  const [token, setToken] = useState(initial ?? "");
  const [remember, setRemember] = useState(false);
  const [error, setError] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);

  const submit = async (ev: FormEvent) => {
    ev.preventDefault();
    setBusy(true);
    setError(null);
    try {
      const who = await new Api(token.trim()).get("/whoami");
      onLogin({ token: token.trim(), scope: who.scope, remember });
    } catch (e) {
      setError(
        e instanceof ApiError && e.status === 401
          ? "This token is not accepted by the API."
          : `Cannot reach the API: ${e instanceof Error ? e.message : String(e)}`,
      );
    } finally {
      setBusy(false);
    }
  };

  return (
    <form className="login" data-testid="login" onSubmit={submit} autoComplete="off">
      <h1>grekko console</h1>
      <p className="muted">
        A read token (GREKKO_API_READ_TOKEN) shows the run; a control token (GREKKO_API_CONTROL_TOKEN) can also
        engage the kill switch and resume.
      </p>
      <label>
        API token
        <input
          type="password"
          data-testid="token"
          value={token}
          onChange={(e) => setToken(e.target.value)}
          autoFocus
          required
        />
      </label>
      <label className="check">
        <input
          type="checkbox"
          data-testid="remember"
          checked={remember}
          onChange={(e) => setRemember(e.target.checked)}
        />
        Keep me logged in for this tab (sessionStorage; gone when the tab closes)
      </label>
      <button type="submit" data-testid="login-submit" disabled={busy || !token.trim()}>
        Log in
      </button>
      {error && (
        <p className="error" data-testid="login-error">
          {error}
        </p>
      )}
    </form>
  );
}
