// Typed API errors: every failure leaves the server as `{error: {code, message, problems?}}` with
// the HTTP status that says what kind of failure it was. Errors from below (store conflicts, no
// leader) are mapped here, in one place; anything unrecognised is a bug in fleet and answers 500.

import { FleetError } from "../../core/errors.ts";
import type { Problem } from "../../core/model/check.ts";
import { StoreError } from "../../core/store/actions.ts";

export type ApiErrorCode =
  | "bad_request"
  | "bad_json"
  | "invalid_spec"
  | "unknown_parameter"
  | "ambiguous"
  | "not_found"
  | "method_not_allowed"
  | "conflict"
  | "out_of_sequence"
  | "name_conflict"
  | "exists"
  | "failed_precondition"
  | "gone"
  | "body_too_large"
  | "internal"
  | "not_implemented"
  | "no_leader"
  | "busy";

const STATUS: Record<ApiErrorCode, number> = {
  bad_request: 400,
  bad_json: 400,
  invalid_spec: 400,
  unknown_parameter: 400,
  ambiguous: 400,
  not_found: 404,
  method_not_allowed: 405,
  conflict: 409,
  out_of_sequence: 409,
  name_conflict: 409,
  exists: 409,
  failed_precondition: 409,
  gone: 410,
  body_too_large: 413,
  internal: 500,
  not_implemented: 501,
  no_leader: 503,
  busy: 503,
};

export interface ErrorBody {
  error: { code: ApiErrorCode; message: string; problems?: Problem[] };
}

export class ApiError extends Error {
  readonly status: number;

  constructor(
    readonly code: ApiErrorCode,
    message: string,
    readonly problems?: Problem[],
  ) {
    super(message);
    this.name = "ApiError";
    this.status = STATUS[code];
  }

  body(): ErrorBody {
    const error: ErrorBody["error"] = { code: this.code, message: this.message };
    if (this.problems && this.problems.length > 0) error.problems = this.problems;
    return { error };
  }
}

/** 400 for a spec that failed validation: the message lists every problem, as does `problems`. */
export function invalidSpec(what: string, problems: Problem[]): ApiError {
  const list = problems.map((p) => `${p.path || "(spec)"}: ${p.reason}`).join("; ");
  return new ApiError("invalid_spec", `invalid ${what} spec: ${list}`, problems);
}

/** Maps anything thrown by a handler to an ApiError; `bug` is true when it is fleet's fault. */
export function toApiError(err: unknown): { error: ApiError; bug: boolean } {
  if (err instanceof ApiError) return { error: err, bug: false };
  if (err instanceof StoreError) {
    const code = storeCode(err.code);
    if (code !== undefined) return { error: new ApiError(code, storeMessage(err)), bug: false };
  }
  if (err instanceof FleetError && err.retryable) {
    const msg =
      `${err.message}: the write was not applied. A leader election is under way, or fewer ` +
      "than a majority of the managers are running (see `fleet node ls`; reads still answer " +
      "from this manager). Retry in a few seconds";
    return { error: new ApiError("no_leader", msg), bug: false };
  }
  const message = err instanceof Error ? err.message : String(err);
  return { error: new ApiError("internal", `internal error: ${message}`), bug: true };
}

function storeMessage(err: StoreError): string {
  if (err.code === "name_conflict") return `${err.message}: choose another name, or update it`;
  if (err.code === "out_of_sequence") return `${err.message}: re-read it and retry`;
  return err.message;
}

function storeCode(code: string): ApiErrorCode | undefined {
  switch (code) {
    case "out_of_sequence":
      return "out_of_sequence";
    case "exists":
      return "exists";
    case "name_conflict":
      return "name_conflict";
    case "not_found":
      return "not_found";
    default:
      return undefined;
  }
}
