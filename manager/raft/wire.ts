// Raft messages between managers travel as CBOR maps. A peer is another manager, but a bug or a
// corrupt frame there must cost that message only: every field is checked before the core sees
// it (the core trusts its inputs and asserts).

import { type Shape, shape as s } from "../../core/codec/shape.ts";
import { limits } from "../../core/limits.ts";
import type { Message } from "../../core/raft/types.ts";

const MESSAGE_TYPES = [
  "prop",
  "app",
  "appResp",
  "preVote",
  "preVoteResp",
  "vote",
  "voteResp",
  "snap",
  "snapResp",
  "heartbeat",
  "heartbeatResp",
  "transferLeader",
  "timeoutNow",
  "readIndex",
  "readIndexResp",
];
const id = s.int(0, Number.MAX_SAFE_INTEGER);
const confState = s.object({
  voters: s.array(id, 1024),
  learners: s.array(id, 1024),
});
const metadata = s.object({ index: s.int(), term: s.int(), confState });
const entry = s.object({
  term: s.int(),
  index: s.int(),
  type: s.oneOf(["normal", "conf"]),
  data: s.bytes(limits.raftEntryBytesMax),
});
const chunk = s.object({
  metadata,
  offset: s.int(),
  totalBytes: s.int(),
  data: s.bytes(limits.raftSnapshotChunkBytesMax),
});
const message: Shape = s.object(
  {
    type: s.oneOf(MESSAGE_TYPES),
    from: id,
    to: id,
    term: s.int(),
    logTerm: s.int(),
    index: s.int(),
    entries: s.array(entry, 100_000),
    commit: s.int(),
    reject: s.bool(),
    rejectHint: s.int(),
  },
  { snapshot: chunk, context: s.bytes(1024), transfer: s.bool() },
);

/** Returns the reason a value is not a Raft message, or undefined when it is one. */
export function raftMessageProblem(v: unknown): string | undefined {
  return message(v, "", 0);
}

/** Strips absent optional fields, which CBOR cannot carry as `undefined`. */
export function toWire(m: Message): Record<string, unknown> {
  const out: Record<string, unknown> = { ...m };
  for (const k of ["snapshot", "context", "transfer"]) if (out[k] === undefined) delete out[k];
  return out;
}
