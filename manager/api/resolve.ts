// Finds the object an operator names: a full id, a name (a node's hostname, a service's name),
// or a unique id prefix, as Docker's CLI allows. An ambiguous reference lists the candidates.

import type { Node, Service, Task } from "../../core/model/types.ts";
import { by } from "../../core/store/indexes.ts";
import type { ReadTx } from "../../core/store/tx.ts";
import { ApiError } from "./errors.ts";

const CANDIDATES_SHOWN = 5;

function byPrefix<T extends { id: string }>(all: T[], ref: string): T[] {
  const lower = ref.toLowerCase();
  return all.filter((o) => o.id.startsWith(lower));
}

function pick<T extends { id: string }>(
  matches: T[],
  kind: string,
  ref: string,
  show: (o: T) => string,
): T {
  if (matches.length === 1) return matches[0]!;
  if (matches.length === 0) {
    const how = kind === "task" ? "fleet service ps SERVICE" : `fleet ${kind} ls`;
    throw new ApiError("not_found", `no such ${kind}: ${ref} (list them with \`${how}\`)`);
  }
  const some = matches.slice(0, CANDIDATES_SHOWN).map(show).join(", ");
  const more = matches.length > CANDIDATES_SHOWN ? ", …" : "";
  throw new ApiError(
    "ambiguous",
    `${kind} reference "${ref}" is ambiguous (${matches.length} matches: ${some}${more}); ` +
      "use more characters of the id",
  );
}

export function findNode(tx: ReadTx, ref: string): Node {
  const exact = tx.get("nodes", ref);
  if (exact) return exact;
  const named = tx.find("nodes", by.hostname(ref));
  if (named.length === 1) return named[0]!;
  if (named.length > 1) {
    return pick(named, "node", ref, (n) => `${n.id.slice(0, 12)} (${n.description.hostname})`);
  }
  return pick(byPrefix(tx.find("nodes"), ref), "node", ref, (n) => n.id.slice(0, 12));
}

export function findService(tx: ReadTx, ref: string): Service {
  const exact = tx.get("services", ref);
  if (exact) return exact;
  const named = tx.find("services", by.name(ref));
  if (named.length === 1) return named[0]!;
  const show = (s: Service) => `${s.id.slice(0, 12)} (${s.spec.name})`;
  return pick(byPrefix(tx.find("services"), ref), "service", ref, show);
}

export function findTask(tx: ReadTx, ref: string): Task {
  const exact = tx.get("tasks", ref);
  if (exact) return exact;
  return pick(byPrefix(tx.find("tasks"), ref), "task", ref, (t) => t.id.slice(0, 12));
}
