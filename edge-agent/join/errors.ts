// What can go wrong joining a cluster, as one typed error with a stable code. `retryable`
// says whether another manager or a later attempt may succeed; the others end the join.

import { FleetError } from "../../core/errors.ts";

export type JoinErrorCode =
  | "bad-token" // the token is malformed (nothing was sent)
  | "wrong-token" // the broker or the CA refused the token
  | "ca-mismatch" // a broker presented a chain not rooted in the token's CA digest
  | "unreachable" // connection refused, reset, DNS...
  | "timeout" // no handshake, CONNACK or answer in time
  | "session-closed" // the broker hung up after CONNECT without a CONNACK (token refused?)
  | "refused" // the CA answered with an error
  | "bad-response" // the answer was malformed or its certificate is not ours
  | "already-joined" // the data dir holds a certificate
  | "expired" // the node's certificate expired past the re-enrolment window: join again
  | "bad-input"; // options (manager addresses, ids)

const RETRYABLE: ReadonlySet<JoinErrorCode> = new Set(["unreachable", "timeout", "session-closed"]);

export class JoinError extends FleetError {
  declare readonly code: JoinErrorCode;

  constructor(
    code: JoinErrorCode,
    message: string,
    o: { cause?: unknown; retryable?: boolean } = {},
  ) {
    super("join", code, message, o.retryable ?? RETRYABLE.has(code));
    this.name = "JoinError";
    if (o.cause !== undefined) this.cause = o.cause;
  }
}
