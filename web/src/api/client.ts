// The typed client of the status API. Every type here comes from schema.ts, generated from the
// API's OpenAPI document (make console): a route the API changes breaks `tsc`, not the page.
import type { components, paths } from "./schema";

export type Schemas = components["schemas"];

type Json<R> = R extends { content: { "application/json": infer T } } ? T : never;
type Ok<Op> = Op extends { responses: infer Rs }
  ? Rs extends { 200: infer R }
    ? Json<R>
    : Rs extends { 202: infer R }
      ? Json<R>
      : never
  : never;
type Query<Op> = Op extends { parameters: { query?: infer Q } } ? Q : never;
type Body<Op> = Op extends { requestBody: { content: { "application/json": infer B } } } ? B : never;

type GetPath = { [P in keyof paths]: paths[P] extends { get: object } ? P : never }[keyof paths];
type PostPath = { [P in keyof paths]: paths[P] extends { post: object } ? P : never }[keyof paths];
type GetOp<P extends GetPath> = paths[P] extends { get: infer Op } ? Op : never;
type PostOp<P extends PostPath> = paths[P] extends { post: infer Op } ? Op : never;

export type GetResult<P extends GetPath> = Ok<GetOp<P>>;

/** An answer other than 2xx, with the API's own detail. */
export class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly detail: string,
  ) {
    super(`HTTP ${status}: ${detail}`);
  }
}

async function detailOf(r: Response): Promise<string> {
  try {
    const body = (await r.json()) as { detail?: unknown };
    return typeof body.detail === "string" ? body.detail : JSON.stringify(body.detail);
  } catch {
    return r.statusText;
  }
}

/**
 * Calls the API with the token in an Authorization header: never in a URL, never in a cookie
 * (so another site cannot make the browser send a control call on the user's behalf).
 */
export class Api {
  constructor(private readonly token: string) {}

  private headers(): HeadersInit {
    return { Authorization: `Bearer ${this.token}`, Accept: "application/json" };
  }

  async get<P extends GetPath>(path: P, query?: Query<GetOp<P>>): Promise<GetResult<P>> {
    const params = new URLSearchParams();
    for (const [k, v] of Object.entries((query ?? {}) as Record<string, unknown>)) {
      if (v !== undefined && v !== null) params.set(k, String(v));
    }
    const qs = params.toString();
    const r = await fetch(qs ? `${path}?${qs}` : path, {
      headers: this.headers(),
      credentials: "omit",
      cache: "no-store",
    });
    if (!r.ok) throw new ApiError(r.status, await detailOf(r));
    return (await r.json()) as GetResult<P>;
  }

  /** POST to ``path``; ``params`` fill its ``{name}`` parts (URL-encoded). */
  async post<P extends PostPath>(
    path: P,
    body: Body<PostOp<P>>,
    params?: Record<string, string>,
  ): Promise<Ok<PostOp<P>>> {
    const url = (path as string).replace(/\{(\w+)\}/g, (_, name: string) => {
      const value = params?.[name];
      if (value === undefined) throw new Error(`${path}: no value for {${name}}`);
      return encodeURIComponent(value);
    });
    const r = await fetch(url, {
      method: "POST",
      headers: { ...this.headers(), "Content-Type": "application/json" },
      body: JSON.stringify(body),
      credentials: "omit",
    });
    if (!r.ok) throw new ApiError(r.status, await detailOf(r));
    return (await r.json()) as Ok<PostOp<P>>;
  }
}
