// Shapes: small, strict validators for decoded CBOR. A shape checks one value and returns the
// first problem as "path: reason", or undefined when the value conforms. Objects are closed
// (unknown keys are refused, so a typo on a device is an error, not silently ignored data).

import { limits } from "../limits.ts";

export type Shape = (v: unknown, path: string, depth: number) => string | undefined;

const at = (path: string, reason: string) => `${path || "(root)"}: ${reason}`;

function isPlainObject(v: unknown): v is Record<string, unknown> {
  if (typeof v !== "object" || v === null || Array.isArray(v)) return false;
  const proto = Object.getPrototypeOf(v);
  return proto === Object.prototype || proto === null;
}

export const shape = {
  string(max = 4096, min = 0): Shape {
    return (v, p) =>
      typeof v !== "string"
        ? at(p, "must be a text string")
        : v.length > max
          ? at(p, `must be at most ${max} characters`)
          : v.length < min
            ? at(p, min === 1 ? "must not be empty" : `must be at least ${min} characters`)
            : undefined;
  },
  int(min = 0, max = Number.MAX_SAFE_INTEGER): Shape {
    return (v, p) =>
      typeof v !== "number" || !Number.isSafeInteger(v) || v < min || v > max
        ? at(p, `must be an integer from ${min} to ${max}`)
        : undefined;
  },
  number(): Shape {
    return (v, p) =>
      typeof v === "number" && Number.isFinite(v) ? undefined : at(p, "must be a finite number");
  },
  bool(): Shape {
    return (v, p) => (typeof v === "boolean" ? undefined : at(p, "must be a boolean"));
  },
  literal(value: string | number): Shape {
    return (v, p) => (v === value ? undefined : at(p, `must be ${JSON.stringify(value)}`));
  },
  oneOf(values: readonly (string | number)[]): Shape {
    return (v, p) =>
      values.includes(v as string | number)
        ? undefined
        : at(p, `must be one of ${values.join(", ")}`);
  },
  bytes(max: number, min = 0): Shape {
    return (v, p) =>
      !(v instanceof Uint8Array)
        ? at(p, "must be a byte string")
        : v.length > max || v.length < min
          ? at(p, `must be ${min}-${max} bytes`)
          : undefined;
  },
  array(item: Shape, max: number): Shape {
    return (v, p, d) => {
      if (!Array.isArray(v)) return at(p, "must be an array");
      if (v.length > max) return at(p, `must have at most ${max} items`);
      if (d >= limits.codecDepthMax) return at(p, "nested too deeply");
      for (let i = 0; i < v.length; i++) {
        const bad = item(v[i], `${p}[${i}]`, d + 1);
        if (bad) return bad;
      }
      return undefined;
    };
  },
  /** A map of string keys to values of one shape (labels, for instance). */
  record(value: Shape, maxKeys: number, keyMax = 256): Shape {
    return (v, p, d) => {
      if (!isPlainObject(v)) return at(p, "must be a map");
      const keys = Object.keys(v);
      if (keys.length > maxKeys) return at(p, `must have at most ${maxKeys} keys`);
      for (const k of keys) {
        if (k.length > keyMax) return at(p, `key longer than ${keyMax} characters`);
        const bad = value(v[k], `${p}.${k}`, d + 1);
        if (bad) return bad;
      }
      return undefined;
    };
  },
  /** A closed object: required and optional fields, nothing else. */
  object(fields: Record<string, Shape>, optional: Record<string, Shape> = {}): Shape {
    return (v, p, d) => {
      if (!isPlainObject(v)) return at(p, "must be a map");
      if (d >= limits.codecDepthMax) return at(p, "nested too deeply");
      for (const k of Object.keys(v)) {
        if (!(k in fields) && !(k in optional)) return at(p ? `${p}.${k}` : k, "unknown field");
      }
      for (const [k, s] of Object.entries(fields)) {
        if (!(k in v)) return at(p ? `${p}.${k}` : k, "is required");
        const bad = s(v[k], p ? `${p}.${k}` : k, d + 1);
        if (bad) return bad;
      }
      for (const [k, s] of Object.entries(optional)) {
        if (!(k in v) || v[k] === undefined) continue;
        const bad = s(v[k], p ? `${p}.${k}` : k, d + 1);
        if (bad) return bad;
      }
      return undefined;
    };
  },
  /** Plain data of bounded depth: maps, arrays, text, finite numbers, booleans, null, bytes. */
  plain(): Shape {
    const check: Shape = (v, p, d) => {
      if (d > limits.codecDepthMax) return at(p, "nested too deeply");
      if (v === null || typeof v === "string" || typeof v === "boolean") return undefined;
      if (typeof v === "number") return Number.isFinite(v) ? undefined : at(p, "must be finite");
      if (v instanceof Uint8Array) return undefined;
      if (Array.isArray(v)) {
        for (let i = 0; i < v.length; i++) {
          const bad = check(v[i], `${p}[${i}]`, d + 1);
          if (bad) return bad;
        }
        return undefined;
      }
      if (isPlainObject(v)) {
        for (const k of Object.keys(v)) {
          const bad = check(v[k], `${p}.${k}`, d + 1);
          if (bad) return bad;
        }
        return undefined;
      }
      return at(p, "must be plain data (map, array, text, number, boolean, null or bytes)");
    };
    return check;
  },
  nullable(s: Shape): Shape {
    return (v, p, d) => (v === null ? undefined : s(v, p, d));
  },
};
