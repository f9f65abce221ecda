// Where the token lives: in memory, and in sessionStorage only when the user asks (it then
// lasts as long as the tab, never beyond it). Never in localStorage, a cookie or a URL.
const KEY = "grekko.console.token";

export type Scope = "read" | "control";

export interface Session {
  token: string;
  scope: Scope;
  remember: boolean;
}

export function savedToken(): string | null {
  try {
    return window.sessionStorage.getItem(KEY);
  } catch {
    return null;
  }
}

export function keep(session: Session): void {
  try {
    if (session.remember) window.sessionStorage.setItem(KEY, session.token);
    else window.sessionStorage.removeItem(KEY);
  } catch {
    // Storage refused (private mode): the token stays in memory only.
  }
}

export function forget(): void {
  try {
    window.sessionStorage.removeItem(KEY);
  } catch {
    // nothing stored
  }
}
