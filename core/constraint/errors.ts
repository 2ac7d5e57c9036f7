// Parse errors name the constraint, the 1-based column where it went wrong, what was expected,
// and, when one is near, the whole constraint corrected ("did you mean `node.role==manager`?").

import { FleetError } from "../errors.ts";

export type ConstraintErrorCode =
  | "too-many"
  | "too-long"
  | "empty"
  | "expected-key"
  | "unknown-key"
  | "empty-label"
  | "bad-label"
  | "expected-operator"
  | "bad-operator"
  | "wrong-operator"
  | "missing-value"
  | "bad-value"
  | "bad-role"
  | "bad-number"
  | "bad-unit"
  | "ambiguous-unit"
  | "expected-set"
  | "unclosed-set"
  | "empty-set-item"
  | "too-many-values"
  | "trailing-input";

export class ConstraintError extends FleetError {
  override readonly code: ConstraintErrorCode;
  /** The constraint as written. */
  readonly constraint: string;
  /** 1-based column in `constraint` where the problem starts. */
  readonly column: number;
  /** What went wrong, without the position prefix. */
  readonly reason: string;
  /** The constraint corrected, when a likely fix is known. */
  readonly suggestion: string | undefined;
  /** Index in the service's constraint list, when parsed as part of one. */
  readonly index: number | undefined;

  constructor(
    code: ConstraintErrorCode,
    constraint: string,
    column: number,
    reason: string,
    suggestion?: string,
    index?: number,
  ) {
    const where = index === undefined ? "" : `[${index}] `;
    const hint = suggestion === undefined ? "" : ` (did you mean \`${suggestion}\`?)`;
    super("constraint", code, `${where}\`${constraint}\` column ${column}: ${reason}${hint}`);
    this.name = "ConstraintError";
    this.code = code;
    this.constraint = constraint;
    this.column = column;
    this.reason = reason;
    this.suggestion = suggestion;
    this.index = index;
  }

  /** The same error, placed at `index` of a constraint list. */
  at(index: number): ConstraintError {
    return new ConstraintError(
      this.code,
      this.constraint,
      this.column,
      this.reason,
      this.suggestion,
      index,
    );
  }
}
