// A Wing-Gong style linearizability checker (with Lowe's memoization of visited
// (linearized-set, state) pairs) over the key-value model, run per key: single-key operations
// make a history linearizable iff each key's sub-history is (P-compositionality). Effort is
// bounded: past the bound the answer is "unknown", never a pass.

export type Op =
  | { kind: "put"; value: string }
  | { kind: "cas"; expect: string | null; value: string }
  | { kind: "get" };

export interface Operation {
  key: string;
  op: Op;
  /** Event times; a pending operation (no response seen) has respond = Infinity. */
  invoke: number;
  respond: number;
  /** Observed output; undefined when pending. */
  output?: string | boolean | null;
}

export type Verdict = "ok" | "illegal" | "unknown";

export interface CheckResult {
  verdict: Verdict;
  /** The key whose history failed or exhausted the budget. */
  key?: string;
  steps: number;
}

type State = string | null;

/** Applies op to state: the new state, and whether the observed output is possible. */
function step(state: State, o: Operation): { ok: boolean; next: State } {
  switch (o.op.kind) {
    case "put":
      return { ok: true, next: o.op.value };
    case "cas": {
      const swapped = state === o.op.expect;
      const ok = o.output === undefined || o.output === swapped;
      return { ok, next: swapped ? o.op.value : state };
    }
    case "get":
      return { ok: o.output === undefined || o.output === state, next: state };
  }
}

function checkKey(ops: Operation[], budget: { steps: number }): Verdict {
  // A pending read has no effect: it may be dropped.
  const all = ops.filter((o) => !(o.op.kind === "get" && o.respond === Infinity));
  all.sort((a, b) => a.invoke - b.invoke);
  const n = all.length;
  const mustDo = all.filter((o) => o.respond !== Infinity).length;
  const seen = new Set<string>();
  let unknown = false;

  const search = (done: bigint, doneCount: number, state: State): boolean => {
    if (doneCount === mustDo && allCompletedDone(done)) return true;
    if (--budget.steps < 0) {
      unknown = true;
      return false;
    }
    // The earliest response among the remaining operations bounds which may go next.
    let minRespond = Infinity;
    for (let i = 0; i < n; i++) {
      if (!(done & (1n << BigInt(i)))) minRespond = Math.min(minRespond, all[i]!.respond);
    }
    for (let i = 0; i < n; i++) {
      const bit = 1n << BigInt(i);
      const o = all[i]!;
      if (done & bit || o.invoke > minRespond) continue;
      const r = step(state, o);
      if (!r.ok) continue;
      const nextDone = done | bit;
      const key = `${nextDone.toString(36)}|${r.next}`;
      if (seen.has(key)) continue;
      seen.add(key);
      const counts = o.respond !== Infinity ? 1 : 0;
      if (search(nextDone, doneCount + counts, r.next)) return true;
      if (unknown) return false;
    }
    return false;
  };

  const completedMask = all.reduce(
    (m, o, i) => (o.respond !== Infinity ? m | (1n << BigInt(i)) : m),
    0n,
  );
  const allCompletedDone = (done: bigint) => (done & completedMask) === completedMask;

  const ok = search(0n, 0, null);
  if (ok) return "ok";
  return unknown ? "unknown" : "illegal";
}

export function checkLinearizable(history: Operation[], maxSteps = 200_000): CheckResult {
  const byKey = new Map<string, Operation[]>();
  for (const o of history) {
    const list = byKey.get(o.key) ?? [];
    list.push(o);
    byKey.set(o.key, list);
  }
  let steps = 0;
  let unknownKey: string | undefined;
  for (const [key, ops] of [...byKey].sort(([a], [b]) => a.localeCompare(b))) {
    const budget = { steps: maxSteps };
    const v = checkKey(ops, budget);
    steps += maxSteps - budget.steps;
    if (v === "illegal") return { verdict: "illegal", key, steps };
    if (v === "unknown") unknownKey ??= key;
  }
  return unknownKey ? { verdict: "unknown", key: unknownKey, steps } : { verdict: "ok", steps };
}
