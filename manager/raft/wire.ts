// Raft messages between managers travel as CBOR maps. The receiving side validates them with
// core/raft's parseMessage before the core sees them; the sending side drops absent optional
// fields, which CBOR cannot carry as `undefined`.

import type { Message } from "../../core/raft/types.ts";

export function toWire(m: Message): Record<string, unknown> {
  const out: Record<string, unknown> = { ...m };
  for (const k of ["snapshot", "context", "transfer"]) if (out[k] === undefined) delete out[k];
  return out;
}
