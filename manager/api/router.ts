// The route table and its dispatcher. A request is plain data (method, path, query, raw body), so
// every handler is testable without sockets; the HTTP layer only moves bytes. The dispatcher
// checks what every route shares before any side effect: the version prefix, the method, the
// query parameters (unknown ones are refused with a suggestion), the JSON body, and the
// linearizable read when `consistent=true` is asked for.

import { closest } from "../../core/model/check.ts";
import type { ManagerContext } from "../context.ts";
import { ApiError, toApiError } from "./errors.ts";
import { apiLimits } from "./limits.ts";

export const API_PREFIX = "/v1";

export interface ApiRequest {
  method: string;
  /** Path and query, as on the request line (`/v1/nodes?role=manager`). */
  url: string;
  /** The raw body, if any (already bounded by the HTTP layer). */
  body?: string;
  headers?: Record<string, string | undefined>;
}

/** Where a streaming response writes (server-sent events). */
export interface EventSink {
  send(event: string, data: unknown, id?: string): boolean;
  comment(text: string): void;
  /** Resolves when the client goes away (or the server stops). */
  closed: Promise<void>;
  end(): void;
}

export type ApiResponse =
  | { status: number; body: unknown }
  | { status: 200; stream: (sink: EventSink) => Promise<void> };

export interface Call<S = unknown> {
  ctx: ManagerContext;
  services: S;
  params: Record<string, string>;
  query: Query;
  body: unknown;
  headers: Record<string, string | undefined>;
}

export interface Route<S = unknown> {
  method: "GET" | "POST" | "DELETE";
  /** Segments; `:name` captures one. */
  path: string;
  /** Query parameters this route understands. */
  query?: readonly string[];
  /** True when the route needs a JSON body. */
  body?: boolean;
  /** True for reads: `consistent=true` makes them linearizable. */
  read?: boolean;
  handler(call: Call<S>): ApiResponse | Promise<ApiResponse>;
}

export class Query {
  constructor(readonly params: URLSearchParams) {}

  str(name: string): string | undefined {
    const v = this.params.get(name);
    return v === null ? undefined : v;
  }

  all(name: string): string[] {
    return this.params.getAll(name).flatMap((v) => v.split(",").filter((s) => s !== ""));
  }

  bool(name: string): boolean {
    const v = this.str(name);
    if (v === undefined || v === "false" || v === "0") return false;
    if (v === "" || v === "true" || v === "1") return true;
    throw new ApiError(
      "bad_request",
      `query parameter ${name}: expected true or false, got "${v}"`,
    );
  }

  int(name: string, min = 0): number | undefined {
    const v = this.str(name);
    if (v === undefined) return undefined;
    const n = Number(v);
    if (!/^\d+$/.test(v) || !Number.isSafeInteger(n) || n < min) {
      throw new ApiError("bad_request", `query parameter ${name}: expected an integer >= ${min}`);
    }
    return n;
  }

  /** The `version` an update is based on; required, as in Docker's API. */
  version(what: string): number {
    const v = this.int("version");
    if (v === undefined) {
      throw new ApiError(
        "bad_request",
        `query parameter version is required: read the ${what} first and pass its version`,
      );
    }
    return v;
  }
}

interface Matched<S> {
  route: Route<S>;
  params: Record<string, string>;
}

export class Router<S> {
  constructor(
    private readonly routes: readonly Route<S>[],
    private readonly ctx: ManagerContext,
    private readonly services: S,
  ) {}

  /** Answers one request. Never throws: every failure becomes a typed error response. */
  async dispatch(req: ApiRequest): Promise<ApiResponse> {
    try {
      return await this.#dispatch(req);
    } catch (err) {
      const { error, bug } = toApiError(err);
      if (bug) this.ctx.log.error("api handler failed", { url: req.url, err: String(err) });
      return { status: error.status, body: error.body() };
    }
  }

  async #dispatch(req: ApiRequest): Promise<ApiResponse> {
    const url = parseUrl(req.url);
    const { route, params } = this.#match(req.method, url.pathname);
    const query = new Query(url.searchParams);
    checkQuery(route, url.searchParams);
    const body = route.body ? parseBody(req.body) : undefined;
    if (route.read && query.bool("consistent")) await this.ctx.consensus.linearizable();
    const call = { ctx: this.ctx, services: this.services, params, query, body };
    return route.handler({ ...call, headers: req.headers ?? {} });
  }

  #match(method: string, pathname: string): Matched<S> {
    if (!pathname.startsWith(`${API_PREFIX}/`)) {
      throw new ApiError("not_found", `no such endpoint ${pathname}: API paths start with /v1/`);
    }
    const parts = pathname.split("/").filter((s) => s !== "");
    let allowed: string[] = [];
    for (const route of this.routes) {
      const params = matchPath(route.path, parts);
      if (params === undefined) continue;
      if (route.method === method) return { route, params };
      allowed.push(route.method);
    }
    if (allowed.length > 0) {
      allowed = [...new Set(allowed)];
      throw new ApiError(
        "method_not_allowed",
        `${method} is not allowed on ${pathname} (use ${allowed.join(" or ")})`,
      );
    }
    throw new ApiError("not_found", `no such endpoint ${pathname} (see docs/api.md)`);
  }
}

function parseUrl(raw: string): URL {
  try {
    return new URL(raw, "http://fleet");
  } catch {
    throw new ApiError("bad_request", `malformed request URL ${JSON.stringify(raw)}`);
  }
}

function matchPath(pattern: string, parts: string[]): Record<string, string> | undefined {
  const want = pattern.split("/").filter((s) => s !== "");
  if (want.length !== parts.length) return undefined;
  const params: Record<string, string> = {};
  for (let i = 0; i < want.length; i++) {
    const w = want[i]!;
    let p: string;
    try {
      p = decodeURIComponent(parts[i]!);
    } catch {
      return undefined;
    }
    if (w.startsWith(":")) {
      if (p.length === 0 || p.length > apiLimits.refLengthMax) return undefined;
      params[w.slice(1)] = p;
    } else if (w !== p) return undefined;
  }
  return params;
}

function checkQuery<S>(route: Route<S>, params: URLSearchParams): void {
  const known = [...(route.query ?? []), ...(route.read ? ["consistent"] : [])];
  for (const key of new Set(params.keys())) {
    if (known.includes(key)) continue;
    const near = closest(key, known);
    const hint = near ? ` (did you mean "${near}"?)` : "";
    const takes = known.length > 0 ? `; this endpoint takes ${known.join(", ")}` : "";
    throw new ApiError("unknown_parameter", `unknown query parameter "${key}"${hint}${takes}`);
  }
}

function parseBody(raw: string | undefined): unknown {
  if (raw === undefined || raw.trim() === "") {
    throw new ApiError("bad_request", "a JSON body is required (Content-Type: application/json)");
  }
  try {
    return JSON.parse(raw);
  } catch (err) {
    const why = err instanceof Error ? err.message : String(err);
    throw new ApiError("bad_json", `the request body is not valid JSON: ${why}`);
  }
}
