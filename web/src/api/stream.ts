// One websocket topic, followed with reconnects: the token goes as a subprotocol (browsers
// cannot set a websocket's headers, and a URL would put it in logs and history), and each
// reconnect asks for the events after the last seq seen, so nothing is lost or repeated.
import type { Schemas } from "./client";

export type Topic = "orders" | "fills" | "signals" | "risk";
export type StreamEvent = Schemas["EventOut"];
export type StreamState = "connecting" | "open" | "closed";

export const BEARER_SUBPROTOCOL = "grekko.bearer";
const MAX_BACKOFF_MS = 10_000;

export interface StreamOptions {
  topic: Topic;
  token: string;
  afterSeq: number;
  onEvent: (e: StreamEvent) => void;
  onState: (s: StreamState) => void;
  /** A refused token (HTTP 401 on the handshake shows as a close before open). */
  onRefused?: () => void;
}

export class TopicStream {
  private ws: WebSocket | null = null;
  private lastSeq: number;
  private attempts = 0;
  private timer: number | undefined;
  private stopped = false;

  constructor(private readonly opts: StreamOptions) {
    this.lastSeq = opts.afterSeq;
  }

  start(): void {
    this.stopped = false;
    this.connect();
  }

  stop(): void {
    this.stopped = true;
    window.clearTimeout(this.timer);
    this.ws?.close(1000, "page closed");
    this.ws = null;
  }

  private connect(): void {
    if (this.stopped) return;
    const scheme = window.location.protocol === "https:" ? "wss" : "ws";
    const url = `${scheme}://${window.location.host}/ws/${this.opts.topic}?after_seq=${this.lastSeq}`;
    this.opts.onState("connecting");
    let opened = false;
    const ws = new WebSocket(url, [BEARER_SUBPROTOCOL, this.opts.token]);
    this.ws = ws;
    ws.onopen = () => {
      opened = true;
      this.attempts = 0;
      this.opts.onState("open");
    };
    ws.onmessage = (msg: MessageEvent<string>) => {
      const e = JSON.parse(msg.data) as StreamEvent;
      if (e.seq <= this.lastSeq) return;
      this.lastSeq = e.seq;
      this.opts.onEvent(e);
    };
    ws.onclose = () => {
      if (this.ws !== ws) return;
      this.ws = null;
      this.opts.onState("closed");
      if (this.stopped) return;
      if (!opened && this.attempts >= 3) this.opts.onRefused?.();
      // Back off (0.5 s, 1 s, 2 s … 10 s) so a restarting server is not hammered.
      const delay = Math.min(MAX_BACKOFF_MS, 500 * 2 ** this.attempts);
      this.attempts += 1;
      this.timer = window.setTimeout(() => this.connect(), delay);
    };
  }
}
