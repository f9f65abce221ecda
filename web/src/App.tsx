// The console's shell: login, navigation between pages (in the URL's fragment, which never
// holds the token), and the run's state shared by the live pages.
import { useCallback, useEffect, useMemo, useState } from "react";

import { Api } from "./api/client";
import { Login } from "./components/Login";
import { useRun } from "./hooks/useRun";
import { RunPage } from "./pages/RunPage";
import { RunsPage } from "./pages/RunsPage";
import { BookPage } from "./pages/market/BookPage";
import { ChartPage } from "./pages/market/ChartPage";
import { MarketPage } from "./pages/market/MarketPage";
import { DiffPage } from "./pages/research/DiffPage";
import { ResearchPage } from "./pages/research/ResearchPage";
import { ResearchRunPage } from "./pages/research/ResearchRunPage";
import { SweepPage } from "./pages/research/SweepPage";
import { forget, keep, savedToken, type Session } from "./session";

/** The pages, by the fragment's first part (see docs/console.md): a page is a component over
 * the API client and the session. */
type Route =
  | { page: "runs" }
  | { page: "run"; id: string }
  | { page: "research" }
  | { page: "research-run"; id: string }
  | { page: "research-sweep"; id: string }
  | { page: "research-diff"; a: string; b: string }
  | { page: "market" }
  | { page: "market-chart"; id: string; regime: "wyckoff" | "hmm" }
  | { page: "market-book"; id: string };

function parse(hash: string): Route {
  // Each id is one encoded part (research ids are paths inside the runs folder).
  const parts = hash.replace(/^#\/?/, "").split("/").map((p) => decodeURIComponent(p));
  if (parts[0] === "run") return { page: "run", id: parts[1] ?? "" };
  if (parts[0] === "research") {
    if (parts[1] === "run" && parts[2]) return { page: "research-run", id: parts[2] };
    if (parts[1] === "sweep" && parts[2]) return { page: "research-sweep", id: parts[2] };
    if (parts[1] === "diff" && parts[2] && parts[3]) return { page: "research-diff", a: parts[2], b: parts[3] };
    return { page: "research" };
  }
  if (parts[0] === "market") {
    if (parts[1] === "chart" && parts[2]) {
      return { page: "market-chart", id: parts[2], regime: parts[3] === "hmm" ? "hmm" : "wyckoff" };
    }
    if (parts[1] === "book" && parts[2]) return { page: "market-book", id: parts[2] };
    return { page: "market" };
  }
  return { page: "runs" };
}

function Page({ route, api, go }: { route: Route; api: Api; go: (hash: string) => void }) {
  switch (route.page) {
    case "research-run":
      return <ResearchRunPage api={api} id={route.id} />;
    case "research-sweep":
      return <SweepPage api={api} id={route.id} />;
    case "research-diff":
      return <DiffPage api={api} a={route.a} b={route.b} />;
    case "market":
      return <MarketPage api={api} />;
    case "market-chart":
      return <ChartPage key={route.id} api={api} id={route.id} regime={route.regime} />; // a new series: a new window
    case "market-book":
      return <BookPage api={api} id={route.id} />;
    default:
      return <ResearchPage api={api} go={go} />;
  }
}

function Console({ session, onLogout }: { session: Session; onLogout: () => void }) {
  const api = useMemo(() => new Api(session.token), [session.token]);
  const view = useRun(api, session.token, onLogout);
  const [route, setRoute] = useState<Route>(() => parse(window.location.hash));

  useEffect(() => {
    const follow = () => setRoute(parse(window.location.hash));
    window.addEventListener("hashchange", follow);
    return () => window.removeEventListener("hashchange", follow);
  }, []);

  const go = (hash: string) => {
    window.location.hash = hash;
  };

  return (
    <div className="shell">
      <nav className="top">
        <span className="brand">grekko</span>
        <a href="#/runs" className={route.page === "runs" ? "active" : undefined} data-testid="nav-runs">
          Runs
        </a>
        <a
          href="#/run/"
          className={route.page === "run" ? "active" : undefined}
          data-testid="nav-run"
        >
          Run
        </a>
        <a
          href="#/research"
          className={route.page.startsWith("research") ? "active" : undefined}
          data-testid="nav-research"
        >
          Research
        </a>
        <a
          href="#/market"
          className={route.page.startsWith("market") ? "active" : undefined}
          data-testid="nav-market"
        >
          Market
        </a>
        <a href="/docs" target="_blank" rel="noreferrer">
          API docs
        </a>
        <span className="spacer" />
        <span className="scope" data-testid="scope">
          {session.scope} token
        </span>
        <button type="button" data-testid="logout" onClick={onLogout}>
          Log out
        </button>
      </nav>
      <main>
        {route.page === "runs" ? (
          <RunsPage snapshot={view.snapshot} onOpen={(id) => go(`#/run/${encodeURIComponent(id)}`)} />
        ) : route.page === "run" ? (
          <RunPage api={api} scope={session.scope} view={view} />
        ) : (
          <Page route={route} api={api} go={go} />
        )}
      </main>
    </div>
  );
}

export function App() {
  const [session, setSession] = useState<Session | null>(null);
  const [restoring, setRestoring] = useState(() => savedToken() !== null);

  // A token kept for this tab (the user asked): check it again before using it.
  useEffect(() => {
    const token = savedToken();
    if (token === null) return;
    new Api(token)
      .get("/whoami")
      .then((who) => setSession({ token, scope: who.scope, remember: true }))
      .catch(() => forget())
      .finally(() => setRestoring(false));
  }, []);

  const login = useCallback((s: Session) => {
    keep(s);
    setSession(s);
  }, []);
  const logout = useCallback(() => {
    forget();
    setSession(null);
  }, []);

  if (restoring) return <p className="muted">Checking the saved token…</p>;
  if (!session) return <Login onLogin={login} />;
  return <Console session={session} onLogout={logout} />;
}
