// Errors carry the module that raised them, a stable code, and whether retrying can help.

export class FleetError extends Error {
  readonly module: string;
  readonly code: string;
  readonly retryable: boolean;

  constructor(module: string, code: string, message: string, retryable = false) {
    super(`${module}: ${message}`);
    this.name = "FleetError";
    this.module = module;
    this.code = code;
    this.retryable = retryable;
  }
}

/** A failed assertion is a bug in fleet, never bad input: crash loudly. */
export function assert(condition: unknown, message: string): asserts condition {
  if (!condition) throw new Error(`assertion failed: ${message}`);
}
