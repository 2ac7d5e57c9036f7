// The parsed form of a placement constraint: plain data, built once by `parseConstraint` and
// read by `matchConstraint` for every candidate node. Nothing here refers back to the source
// text except `text`, kept for explanations ("constraint X not satisfied on 7 nodes").

/** What a key reads from a node. Labels carry their (case-sensitive) name in `Target.label`. */
export type TargetKind =
  | "id"
  | "hostname"
  | "role"
  | "os"
  | "arch"
  | "variant"
  | "nodeLabel"
  | "engineLabel"
  | "memory"
  | "cpus";

export interface Target {
  /** The key in canonical spelling: `node.labels.zone`, `engine.labels.hw.storage`. */
  key: string;
  kind: TargetKind;
  /** Label name for nodeLabel/engineLabel (`hw.` short forms expand to `hw.<k>`), else "". */
  label: string;
}

interface Base {
  /** The constraint as the operator wrote it (trimmed). */
  text: string;
  target: Target;
}

/** `key == value` / `key != value`: case-insensitive; a missing label compares as "". */
export interface EqualsConstraint extends Base {
  kind: "equals";
  negate: boolean;
  /** Lower-cased (and, for node.platform.arch, normalised: x86_64 -> amd64). */
  value: string;
}

/** `key in (a, b)`: the value equals one of the listed values. */
export interface SetConstraint extends Base {
  kind: "set";
  values: string[];
}

/** `key ~= pattern`: a glob with `*` (any run) and `?` (one character), case-insensitive. */
export interface GlobConstraint extends Base {
  kind: "glob";
  pattern: string;
}

export type CompareOp = "==" | "!=" | "<" | "<=" | ">" | ">=";

/** Numeric comparison; `number` is in base units (bytes, or CPUs for node.resources.cpus). */
export interface CompareConstraint extends Base {
  kind: "compare";
  op: CompareOp;
  number: number;
}

/** `node.labels.gpu` (present, any value) or `!node.labels.gpu` (absent). */
export interface ExistsConstraint extends Base {
  kind: "exists";
  negate: boolean;
}

export type Constraint =
  | EqualsConstraint
  | SetConstraint
  | GlobConstraint
  | CompareConstraint
  | ExistsConstraint;
