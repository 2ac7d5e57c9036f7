// Typed errors of the identity layer. Bad input (a garbage certificate, a wrong token, a forged
// proof) is a CryptoError with a stable code, never a crash; none of them can be fixed by retrying.

import { FleetError } from "../errors.ts";

export type CryptoErrorCode =
  | "bad-pem"
  | "bad-der"
  | "bad-key"
  | "bad-certificate"
  | "bad-signature"
  | "bad-token"
  | "wrong-token"
  | "ca-mismatch"
  | "bad-proof"
  | "unknown-issuer"
  | "expired"
  | "not-yet-valid"
  | "revoked"
  | "removed"
  | "wrong-identity"
  | "replayed"
  | "bad-input";

export class CryptoError extends FleetError {
  declare readonly code: CryptoErrorCode;

  constructor(code: CryptoErrorCode, message: string, options?: { cause?: unknown }) {
    super("crypto", code, message, false);
    this.name = "CryptoError";
    if (options?.cause !== undefined) this.cause = options.cause;
  }
}

/** Runs `fn`, turning anything a parsing library throws into a CryptoError with `code`. */
export function guard<T>(code: CryptoErrorCode, what: string, fn: () => T): T {
  try {
    return fn();
  } catch (err) {
    if (err instanceof CryptoError) throw err;
    const why = err instanceof Error ? err.message : String(err);
    throw new CryptoError(code, `${what}: ${why}`, { cause: err });
  }
}
