// Shape and bound checks for messages arriving from peers, for the transport to run after
// decoding (the core trusts what it is stepped with). A bad message is a RaftError, never a
// crash: peers may run another version or be broken.

import { limits } from "../limits.ts";
import {
  type Entry,
  type Message,
  type MessageType,
  RaftError,
  type SnapshotChunk,
} from "./types.ts";

const TYPES = new Set<MessageType>([
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
]);

function bad(what: string): never {
  throw new RaftError("invalidArgument", `malformed raft message: ${what}`);
}

const isIndex = (v: unknown): v is number => Number.isSafeInteger(v) && (v as number) >= 0;
const isObject = (v: unknown): v is Record<string, unknown> => typeof v === "object" && v !== null;

/** A plain Uint8Array view (decoders may hand out Buffers), without copying. */
const view = (b: Uint8Array): Uint8Array => new Uint8Array(b.buffer, b.byteOffset, b.length);

function parseEntry(v: unknown): Entry {
  if (!isObject(v) || !isIndex(v.term) || !isIndex(v.index)) bad("entry index/term");
  if (v.type !== "normal" && v.type !== "conf") bad("entry type");
  if (!(v.data instanceof Uint8Array)) bad("entry data");
  if (v.data.length > limits.raftEntryBytesMax) bad("entry over raftEntryBytesMax");
  return { term: v.term, index: v.index, type: v.type, data: view(v.data) };
}

function parseChunk(v: unknown): SnapshotChunk {
  if (!isObject(v) || !isIndex(v.offset) || !isIndex(v.totalBytes)) bad("snapshot chunk");
  if (!(v.data instanceof Uint8Array) || v.data.length > limits.raftSnapshotChunkBytesMax) {
    bad("snapshot chunk data");
  }
  const m = v.metadata;
  if (!isObject(m) || !isIndex(m.index) || !isIndex(m.term) || !isObject(m.confState)) {
    bad("snapshot metadata");
  }
  const cs = m.confState;
  const ids = (x: unknown) => Array.isArray(x) && x.every((id) => isIndex(id) && id > 0);
  if (!ids(cs.voters) || !ids(cs.learners)) bad("snapshot membership");
  const confState = { voters: cs.voters as number[], learners: cs.learners as number[] };
  return {
    metadata: { index: m.index, term: m.term, confState },
    offset: v.offset,
    totalBytes: v.totalBytes,
    data: view(v.data),
  };
}

/** Validates a decoded peer message; throws RaftError "invalidArgument" when malformed. */
export function parseMessage(v: unknown): Message {
  if (!isObject(v) || !TYPES.has(v.type as MessageType)) bad("type");
  for (const k of ["from", "to", "term", "logTerm", "index", "commit", "rejectHint"]) {
    if (!isIndex(v[k])) bad(k);
  }
  if (typeof v.reject !== "boolean" || !Array.isArray(v.entries)) bad("reject/entries");
  let bytes = 0;
  const entries = v.entries.map((e) => {
    const parsed = parseEntry(e);
    bytes += parsed.data.length;
    return parsed;
  });
  if (bytes > limits.raftMessageBytesMax) bad("entries over raftMessageBytesMax");
  const msg = { ...(v as unknown as Message), entries };
  if (v.type === "snap") msg.snapshot = parseChunk(v.snapshot);
  if (v.context !== undefined && !(v.context instanceof Uint8Array)) bad("context");
  if (v.context !== undefined) msg.context = view(v.context);
  if (v.transfer !== undefined && typeof v.transfer !== "boolean") bad("transfer");
  return msg;
}
