// The run's state on the console: snapshots from the REST routes, refreshed when a websocket
// brings news (and on a slow timer for the bars, which have no topic), plus the latest events
// of each topic, followed live. Connection and data freshness are tracked for the badges.
import { useCallback, useEffect, useRef, useState } from "react";

import { Api, ApiError, type GetResult } from "../api/client";
import { TopicStream, type StreamEvent, type StreamState, type Topic } from "../api/stream";

export const TOPICS: Topic[] = ["orders", "fills", "signals", "risk"];
const KEEP = 300; // events kept per topic on the page
const POLL_MS = 4000;
const STALE_AFTER_MS = 15_000; // no successful refresh for this long: the page is stale

export interface Snapshot {
  strategies: GetResult<"/strategies">;
  positions: GetResult<"/positions">;
  orders: GetResult<"/orders">;
  parents: GetResult<"/orders/parents">;
  fills: GetResult<"/fills">;
  pnl: GetResult<"/pnl">;
  risk: GetResult<"/risk">;
  health: GetResult<"/status">;
  equity: GetResult<"/equity">;
  runs: GetResult<"/runs">;
}

export interface RunView {
  snapshot: Snapshot | null;
  events: Record<Topic, StreamEvent[]>;
  streams: Record<Topic, StreamState>;
  error: string | null;
  /** ms (wall) of the last successful refresh */
  refreshedAt: number | null;
  stale: boolean;
  refresh: () => void;
}

async function load(api: Api): Promise<Snapshot> {
  const [strategies, positions, orders, parents, fills, pnl, risk, health, equity, runs] = await Promise.all([
    api.get("/strategies"),
    api.get("/positions"),
    api.get("/orders", { limit: 500 }),
    api.get("/orders/parents"),
    api.get("/fills", { limit: 200 }),
    api.get("/pnl"),
    api.get("/risk", { breaches: 20 }),
    api.get("/status"),
    api.get("/equity"),
    api.get("/runs"),
  ]);
  return { strategies, positions, orders, parents, fills, pnl, risk, health, equity, runs };
}

const empty = (): Record<Topic, StreamEvent[]> => ({ orders: [], fills: [], signals: [], risk: [] });

export function useRun(api: Api, token: string, onUnauthorized: () => void): RunView {
  const [snapshot, setSnapshot] = useState<Snapshot | null>(null);
  const [events, setEvents] = useState<Record<Topic, StreamEvent[]>>(empty);
  const [streams, setStreams] = useState<Record<Topic, StreamState>>({
    orders: "connecting",
    fills: "connecting",
    signals: "connecting",
    risk: "connecting",
  });
  const [error, setError] = useState<string | null>(null);
  const [refreshedAt, setRefreshedAt] = useState<number | null>(null);
  const [now, setNow] = useState(() => Date.now());
  const pending = useRef<number | undefined>(undefined);
  const inFlight = useRef(false);
  const unauthorized = useRef(onUnauthorized);
  useEffect(() => {
    unauthorized.current = onUnauthorized;
  }, [onUnauthorized]);

  const refresh = useCallback(() => {
    if (inFlight.current) return;
    inFlight.current = true;
    load(api)
      .then((s) => {
        setSnapshot(s);
        setError(null);
        setRefreshedAt(Date.now());
      })
      .catch((e: unknown) => {
        if (e instanceof ApiError && e.status === 401) unauthorized.current();
        setError(e instanceof Error ? e.message : String(e));
      })
      .finally(() => {
        inFlight.current = false;
      });
  }, [api]);

  // News on a websocket: refresh the snapshots soon, once for a burst of events.
  const soon = useCallback(() => {
    window.clearTimeout(pending.current);
    pending.current = window.setTimeout(refresh, 200);
  }, [refresh]);

  useEffect(() => {
    refresh();
    const poll = window.setInterval(() => {
      refresh();
      setNow(Date.now());
    }, POLL_MS);
    return () => {
      window.clearInterval(poll);
      window.clearTimeout(pending.current);
    };
  }, [refresh]);

  useEffect(() => {
    let cancelled = false;
    const running: TopicStream[] = [];
    for (const topic of TOPICS) {
      api
        .get("/events", { topic, limit: KEEP })
        .then((page) => {
          if (cancelled) return;
          setEvents((prev) => ({ ...prev, [topic]: page.events }));
          const stream = new TopicStream({
            topic,
            token,
            afterSeq: page.last_seq,
            onEvent: (e) => {
              setEvents((prev) => ({ ...prev, [topic]: [...prev[topic], e].slice(-KEEP) }));
              soon();
            },
            onState: (s) => setStreams((prev) => ({ ...prev, [topic]: s })),
            onRefused: () => unauthorized.current(),
          });
          running.push(stream);
          stream.start();
        })
        .catch((e: unknown) => {
          if (e instanceof ApiError && e.status === 401) unauthorized.current();
          if (!cancelled) setError(e instanceof Error ? e.message : String(e));
        });
    }
    return () => {
      cancelled = true;
      for (const s of running) s.stop();
    };
  }, [api, token, soon]);

  const stale = refreshedAt === null ? false : now - refreshedAt > STALE_AFTER_MS;
  return { snapshot, events, streams, error, refreshedAt, stale, refresh };
}
