// A research report (tearsheet, a sweep's pages) in a sandboxed iframe. An iframe cannot send
// the token, so the API mints a short-lived same-origin address for this one page
// (/research/frame_url); the sandbox gives the page an opaque origin: its scripts run, but it
// cannot reach the console, its session or the API.
import type { Api } from "../api/client";
import { useLoad } from "../hooks/useLoad";

export function ReportFrame({
  api,
  id,
  kind,
  page,
  title,
}: {
  api: Api;
  id: string;
  kind: "run" | "sweep";
  page: string;
  title: string;
}) {
  const frame = useLoad(() => api.get("/research/frame_url", { id, kind, page }), [api, id, kind, page]);
  const error = frame.error;
  const src = frame.data?.url;
  if (error) return <p className="error">{error}</p>;
  if (!src) return <p className="muted">Loading {title}…</p>;
  return (
    <iframe
      className="report"
      data-testid={`frame-${page}`}
      title={title}
      src={src}
      sandbox="allow-scripts"
      referrerPolicy="no-referrer"
    />
  );
}
