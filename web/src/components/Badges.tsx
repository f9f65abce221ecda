import type { StreamState, Topic } from "../api/stream";

export function RiskBadge({ state }: { state: string }) {
  return (
    <span className={`badge risk-${state.toLowerCase()}`} data-testid="risk-state">
      {state}
    </span>
  );
}

/** Live while every topic's websocket is open; reconnecting otherwise. */
export function LiveBadge({ streams }: { streams: Record<Topic, StreamState> }) {
  const down = Object.entries(streams).filter(([, s]) => s !== "open");
  if (down.length === 0) {
    return (
      <span className="badge ok" data-testid="live-badge">
        live
      </span>
    );
  }
  return (
    <span className="badge warn" data-testid="live-badge" title={down.map(([t]) => t).join(", ")}>
      reconnecting
    </span>
  );
}

/** The data is stale: the API says the run's bars stopped, or the page stopped refreshing. */
export function StaleBadge({ reasons }: { reasons: string[] }) {
  if (reasons.length === 0) return null;
  return (
    <span className="badge stale" data-testid="stale-badge" title={reasons.join("; ")}>
      stale: {reasons.join("; ")}
    </span>
  );
}
