// core/raft: Raft consensus as a pure, deterministic state machine. See rawnode.ts for the
// driver contract and storage.ts for what the core reads.

export { bootstrapState } from "./bootstrap.ts";
export { decodeConfChange, describeConfChange, encodeConfChange } from "./confchange.ts";
export { describeEntry, describeMessage } from "./message.ts";
export type { RaftConfig } from "./raft.ts";
export { type ProgressStatus, RawNode, type Status } from "./rawnode.ts";
export {
  cloneConf,
  type InitialState,
  limitSize,
  MemoryStorage,
  type Storage,
  type WritableStorage,
} from "./storage.ts";
export * from "./types.ts";
export { parseMessage } from "./validate.ts";
