// A small collector for validation problems: every problem at once, each with a path and a
// reason, so an operator fixes a spec in one round trip instead of one error at a time.

import { limits } from "../limits.ts";

export interface Problem {
  path: string;
  reason: string;
}

export class Checker {
  readonly problems: Problem[] = [];

  fail(path: string, reason: string): void {
    this.problems.push({ path, reason });
  }

  get ok(): boolean {
    return this.problems.length === 0;
  }

  object(v: unknown, path: string): Record<string, unknown> | undefined {
    if (v === undefined) return undefined;
    if (typeof v !== "object" || v === null || Array.isArray(v)) {
      this.fail(path, "must be an object");
      return undefined;
    }
    return v as Record<string, unknown>;
  }

  /** Reports keys not in `known`, naming the closest known key when one is near. */
  known(obj: Record<string, unknown>, path: string, known: readonly string[]): void {
    for (const key of Object.keys(obj)) {
      if (known.includes(key)) continue;
      const near = closest(key, known);
      this.fail(
        join(path, key),
        near ? `unknown field (did you mean "${near}"?)` : "unknown field",
      );
    }
  }

  string(v: unknown, path: string, opts: { min?: number; max?: number } = {}): string | undefined {
    if (v === undefined) return undefined;
    if (typeof v !== "string") {
      this.fail(path, "must be a string");
      return undefined;
    }
    const min = opts.min ?? 0;
    if (v.length < min)
      this.fail(path, min === 1 ? "must not be empty" : `must be at least ${min} characters`);
    else if (opts.max !== undefined && v.length > opts.max)
      this.fail(path, `must be at most ${opts.max} characters`);
    else return v;
    return undefined;
  }

  int(v: unknown, path: string, opts: { min?: number; max?: number } = {}): number | undefined {
    if (v === undefined) return undefined;
    const min = opts.min ?? Number.MIN_SAFE_INTEGER;
    if (typeof v !== "number" || !Number.isSafeInteger(v)) {
      this.fail(
        path,
        min === 1
          ? "must be a positive integer"
          : min === 0
            ? "must be a non-negative integer"
            : "must be an integer",
      );
      return undefined;
    }
    if (v < min) {
      this.fail(
        path,
        min === 1
          ? "must be a positive integer"
          : min === 0
            ? "must be a non-negative integer"
            : `must be at least ${min}`,
      );
      return undefined;
    }
    if (opts.max !== undefined && v > opts.max) {
      this.fail(path, `must be at most ${opts.max}`);
      return undefined;
    }
    return v;
  }

  number(v: unknown, path: string, min: number, max: number): number | undefined {
    if (v === undefined) return undefined;
    if (typeof v !== "number" || !Number.isFinite(v) || v < min || v > max) {
      this.fail(path, `must be a number from ${min} to ${max}`);
      return undefined;
    }
    return v;
  }

  bool(v: unknown, path: string): boolean | undefined {
    if (v === undefined) return undefined;
    if (typeof v !== "boolean") {
      this.fail(path, "must be true or false");
      return undefined;
    }
    return v;
  }

  oneOf<T extends string>(v: unknown, path: string, values: readonly T[]): T | undefined {
    if (v === undefined) return undefined;
    if (typeof v !== "string" || !values.includes(v as T)) {
      this.fail(path, `must be one of ${values.join(", ")}`);
      return undefined;
    }
    return v as T;
  }

  array(v: unknown, path: string, max: number): unknown[] | undefined {
    if (v === undefined) return undefined;
    if (!Array.isArray(v)) {
      this.fail(path, "must be a list");
      return undefined;
    }
    if (v.length > max) {
      this.fail(path, `must have at most ${max} items`);
      return undefined;
    }
    return v;
  }

  strings(v: unknown, path: string, max: number, itemMax = 4096): string[] | undefined {
    const arr = this.array(v, path, max);
    if (arr === undefined) return undefined;
    const out: string[] = [];
    arr.forEach((item, i) => {
      const s = this.string(item, `${path}[${i}]`, { max: itemMax });
      if (s !== undefined) out.push(s);
    });
    return out.length === arr.length ? out : undefined;
  }

  labels(v: unknown, path: string): Record<string, string> | undefined {
    const obj = this.object(v, path);
    if (obj === undefined) return undefined;
    const keys = Object.keys(obj);
    if (keys.length > limits.labelsPerObjectMax) {
      this.fail(path, `must have at most ${limits.labelsPerObjectMax} labels`);
      return undefined;
    }
    const out: Record<string, string> = {};
    for (const key of keys) {
      if (key.length === 0 || key.length > limits.labelKeyLengthMax || !LABEL_KEY.test(key)) {
        this.fail(
          join(path, key),
          `label keys are 1-${limits.labelKeyLengthMax} characters of [A-Za-z0-9._/-]`,
        );
        continue;
      }
      const value = this.string(obj[key], join(path, key), { max: limits.labelValueLengthMax });
      if (value !== undefined) out[key] = value;
    }
    return out;
  }
}

const LABEL_KEY = /^[A-Za-z0-9][A-Za-z0-9._/-]*$/;

export function join(path: string, key: string): string {
  return path === "" ? key : `${path}.${key}`;
}

/** Levenshtein distance, for "did you mean" suggestions. */
export function editDistance(a: string, b: string): number {
  const prev = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    let diag = prev[0]!;
    prev[0] = i;
    for (let j = 1; j <= b.length; j++) {
      const up = prev[j]!;
      prev[j] = Math.min(up + 1, prev[j - 1]! + 1, diag + (a[i - 1] === b[j - 1] ? 0 : 1));
      diag = up;
    }
  }
  return prev[b.length]!;
}

export function closest(word: string, candidates: readonly string[]): string | undefined {
  let best: string | undefined;
  let bestDist = Math.max(2, Math.floor(word.length / 3)) + 1;
  for (const c of candidates) {
    const d = editDistance(word.toLowerCase(), c.toLowerCase());
    if (d < bestDist) {
      best = c;
      bestDist = d;
    }
  }
  return best;
}
