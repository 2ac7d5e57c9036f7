// Encoding of membership changes inside log entries (type "conf"). Decoding validates the shape:
// entries come from disk and peers, and a malformed one must not crash the applier.

import { decodeCbor, encodeCbor } from "../codec/cbor.ts";
import { type ConfChange, RaftError } from "./types.ts";

const TYPES = new Set(["addVoter", "addLearner", "removeNode"]);

export function encodeConfChange(cc: ConfChange): Uint8Array {
  return encodeCbor({ type: cc.type, nodeId: cc.nodeId });
}

export function decodeConfChange(data: Uint8Array): ConfChange {
  const v = decodeCbor(data) as { type?: unknown; nodeId?: unknown } | null;
  if (
    v === null ||
    typeof v !== "object" ||
    !TYPES.has(v.type as string) ||
    !Number.isSafeInteger(v.nodeId)
  ) {
    throw new RaftError("invalidArgument", "malformed membership change entry");
  }
  return { type: v.type as ConfChange["type"], nodeId: v.nodeId as number };
}

export function describeConfChange(cc: ConfChange): string {
  return `${cc.type}(${cc.nodeId})`;
}
