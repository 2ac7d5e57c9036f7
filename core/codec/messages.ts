// Envelopes `{v, type, ...}` for every CBOR payload fleet sends or stores. Each type has one
// strict shape; decoding checks size, CBOR well-formedness, version, type and shape, and hands
// back a typed result. Bad input from one device costs that message, never the process.

import { limits } from "../limits.ts";
import { TaskState } from "../model/task-state.ts";
import { CodecError, decodeCbor, encodeCbor } from "./cbor.ts";
import { type Shape, shape as s } from "./shape.ts";

export const CODEC_VERSION = 1;

const id = s.string(128, 1);
const labels = s.record(s.string(limits.labelValueLengthMax), limits.labelsPerObjectMax);
const taskState = s.oneOf(Object.values(TaskState));
const nodeDescription = s.object({
  hostname: s.string(253, 1),
  platform: s.object({ os: s.string(32), arch: s.string(32) }, { variant: s.string(16) }),
  resources: s.object({ nanoCPUs: s.int(), memoryBytes: s.int() }),
  engineLabels: labels,
});
const taskStatusUpdate = s.object(
  { taskId: id, state: taskState, timestamp: s.int(), message: s.string(1024) },
  {
    err: s.string(4096),
    containerId: s.string(128),
    exitCode: s.int(-2_147_483_648, 2_147_483_647),
  },
);
const assignedTask = s.object({
  id,
  serviceId: id,
  serviceName: s.string(limits.nameLengthMax),
  slot: s.int(),
  specVersion: s.int(),
  desiredState: taskState,
  spec: s.plain(),
});

/** Fields (besides v and type) of each message type. */
const logLine = s.object({
  ts: s.int(),
  stream: s.oneOf(["stdout", "stderr"]),
  text: s.string(16_384),
});

const schemas = {
  hello: s.object(
    {
      nodeId: id,
      description: nodeDescription,
      assignVersion: s.int(),
      agentVersion: s.string(64),
    },
    // `addr`: the node's address as the managers see it (the local IP of the agent's broker
    // connection); the dispatcher records a valid IP in Node.status.addr.
    { tasks: s.array(taskStatusUpdate, limits.statusBatchItemsMax), addr: s.string(64, 2) },
  ),
  heartbeat: s.object(
    { seq: s.int() },
    {
      load1: s.number(),
      memoryUsedBytes: s.int(),
      diskFreeBytes: s.int(),
      containers: s.int(0, 1_000_000),
    },
  ),
  status: s.object({ updates: s.array(taskStatusUpdate, limits.statusBatchItemsMax) }),
  // `brokers`: the managers' broker addresses (host:port), so agents learn them for failover;
  // `heartbeatPeriodMs`: the cluster's heartbeat period (agents beat at least this often).
  assign: s.object(
    { version: s.int(), tasks: s.array(assignedTask, 10_000) },
    {
      brokers: s.array(s.string(261, 3), 64),
      heartbeatPeriodMs: s.int(100, 3_600_000),
      // The cluster's re-enrolment window (ms after expiry; 0: none); past it the node joins again.
      reenrolWindowMs: s.int(0, limits.reenrolWindowMsMax),
      // The cluster's gossip key ring (core/gossip-keys.ts), current key first.
      gossip: s.object({
        current: s.int(1),
        keys: s.array(
          s.object({ id: s.int(1), key: s.bytes(32, 32) }, { until: s.int() }),
          limits.gossipKeysMax,
        ),
      }),
      // The cluster's gossip switch (ClusterSpec.gossip); absent (older managers): on.
      gossipEnabled: s.bool(),
    },
  ),
  // Renewal and re-enrolment (core/crypto/proof.ts): `proof` is signed by the key certPem names,
  // `keyProof` by the new key; certPem is the certificate being renewed (maybe just expired).
  csr: s.object({
    publicKey: s.bytes(256, 32),
    proof: s.bytes(512, 32),
    keyProof: s.bytes(512, 32),
    role: s.oneOf(["worker", "manager"]),
    certPem: s.string(16_384, 1),
  }),
  cert: s.object({ certPem: s.string(16_384, 1), caPem: s.string(65_536, 1) }),
  // `manager`: what a joining manager advertises (host:port each), required for a manager token.
  joinRequest: s.object(
    {
      token: s.string(256, 1),
      publicKey: s.bytes(256, 32),
      proof: s.bytes(512, 32),
      description: nodeDescription,
    },
    {
      manager: s.object(
        { raftAddr: s.string(261, 3), brokerAddr: s.string(261, 3) },
        { apiAddr: s.string(261, 3) },
      ),
    },
  ),
  // The answer on `join/<req>/resp`. Optional fields, all additive: the cluster id and role the
  // certificate names, broker URLs (mqtts://host:port) the node may use, for managers their raft
  // id and the current members; on a refusal `code` is the CA's error code (CryptoError codes
  // such as "wrong-token") and `retry` marks one worth retrying (no leader, CA busy).
  joinResponse: s.object(
    { ok: s.bool() },
    {
      nodeId: id,
      certPem: s.string(16_384),
      caPem: s.string(65_536),
      error: s.string(1024),
      code: s.string(64, 1),
      clusterId: id,
      role: s.oneOf(["worker", "manager"]),
      brokers: s.array(s.string(256, 1), 64),
      raftId: s.int(1),
      members: s.array(s.plain(), 64),
      retry: s.bool(),
      // External broker mode: `brokers` is the whole list (the address joined through is a
      // join-only listener and is not kept).
      brokersOnly: s.bool(),
    },
  ),
  // Service logs: a manager asks a node's agent for one container's output (`n/<node>/logs`);
  // the agent answers on `n/<node>/logs/<reqId>` with chunks, the last one marked `end` (with
  // `error` when it could not). `cancel` stops a followed stream.
  logsRequest: s.object(
    { reqId: id, taskId: id, follow: s.bool() },
    { tail: s.int(0, 100_000), sinceMs: s.int(), cancel: s.bool() },
  ),
  logsChunk: s.object(
    { reqId: id, seq: s.int(), lines: s.array(logLine, 1000) },
    { end: s.bool(), error: s.string(1024), dropped: s.int() },
  ),
  gossip: s.object({
    keyId: s.int(),
    nonce: s.bytes(24, 12),
    sealed: s.bytes(limits.uplinkBytesMax),
  }),
  storeActions: s.object(
    { actions: s.array(s.plain(), limits.storeBatchActionsMax) },
    { requestId: s.string(64, 1) },
  ),
  storeSnapshot: s.object({ index: s.int(), tables: s.plain() }),
  // The leader's liveness beacon to every agent, each heartbeat period (`periodMs`): agents on
  // an external broker count as online only while they hear a manager (edge-agent/session).
  beacon: s.object({ managerId: id, seq: s.int(), periodMs: s.int(100, 3_600_000) }),
} satisfies Record<string, Shape>;

export type MessageType = keyof typeof schemas;
export const messageTypes = Object.keys(schemas) as MessageType[];

export interface TaskStatusUpdate {
  taskId: string;
  state: number;
  timestamp: number;
  message: string;
  err?: string;
  containerId?: string;
  exitCode?: number;
}

export interface WireNodeDescription {
  hostname: string;
  platform: { os: string; arch: string; variant?: string };
  resources: { nanoCPUs: number; memoryBytes: number };
  engineLabels: Record<string, string>;
}

/** One line of a container's output; `ts` in ms since the epoch (0 when the engine gave none). */
export interface WireLogLine {
  ts: number;
  stream: "stdout" | "stderr";
  text: string;
}

export interface AssignedTask {
  id: string;
  serviceId: string;
  serviceName: string;
  slot: number;
  specVersion: number;
  desiredState: number;
  spec: unknown;
}

/** The cluster's gossip keys as an assignment carries them (`until`: end of a retired key's
 * grace, ms since the epoch). */
export interface WireGossipKeys {
  current: number;
  keys: { id: number; key: Uint8Array; until?: number }[];
}

/** The fields of each message type, without the envelope's v and type. */
export interface MessageBodies {
  hello: {
    nodeId: string;
    description: WireNodeDescription;
    assignVersion: number;
    agentVersion: string;
    tasks?: TaskStatusUpdate[];
    addr?: string;
  };
  heartbeat: {
    seq: number;
    load1?: number;
    memoryUsedBytes?: number;
    diskFreeBytes?: number;
    containers?: number;
  };
  status: { updates: TaskStatusUpdate[] };
  assign: {
    version: number;
    tasks: AssignedTask[];
    brokers?: string[];
    heartbeatPeriodMs?: number;
    reenrolWindowMs?: number;
    gossip?: WireGossipKeys;
    /** false: the cluster has gossip off (the agent stops and clears its status). */
    gossipEnabled?: boolean;
  };
  csr: {
    publicKey: Uint8Array;
    proof: Uint8Array;
    keyProof: Uint8Array;
    role: "worker" | "manager";
    certPem: string;
  };
  cert: { certPem: string; caPem: string };
  joinRequest: {
    token: string;
    publicKey: Uint8Array;
    proof: Uint8Array;
    description: WireNodeDescription;
    manager?: { raftAddr: string; brokerAddr: string; apiAddr?: string };
  };
  joinResponse: {
    ok: boolean;
    nodeId?: string;
    certPem?: string;
    caPem?: string;
    error?: string;
    code?: string;
    clusterId?: string;
    role?: "worker" | "manager";
    brokers?: string[];
    raftId?: number;
    members?: unknown[];
    retry?: boolean;
    brokersOnly?: boolean;
  };
  logsRequest: {
    reqId: string;
    taskId: string;
    follow: boolean;
    tail?: number;
    sinceMs?: number;
    cancel?: boolean;
  };
  logsChunk: {
    reqId: string;
    seq: number;
    lines: WireLogLine[];
    end?: boolean;
    error?: string;
    /** Lines the agent dropped since the previous chunk (the stream outran the link). */
    dropped?: number;
  };
  gossip: { keyId: number; nonce: Uint8Array; sealed: Uint8Array };
  storeActions: { actions: unknown[]; requestId?: string };
  storeSnapshot: { index: number; tables: unknown };
  beacon: { managerId: string; seq: number; periodMs: number };
}

export type Message<T extends MessageType = MessageType> = {
  [K in T]: { v: typeof CODEC_VERSION; type: K } & MessageBodies[K];
}[T];

export type Decoded<T extends MessageType = MessageType> =
  | { ok: true; message: Message<T> }
  | { ok: false; error: CodecError };

/** A short description of any decoded value for an error message (JSON would throw on a
 * BigInt, which CBOR decodes from large integers, and could be huge). */
function describeValue(v: unknown): string {
  if (typeof v === "string") return JSON.stringify(v.length > 64 ? `${v.slice(0, 64)}…` : v);
  if (typeof v === "bigint") return `${v}n`;
  if (v === null || typeof v !== "object") return String(v);
  return Array.isArray(v) ? "an array" : "a map";
}

/** Checks an already-decoded value against its envelope and shape; undefined when valid. */
export function checkMessage(value: unknown, expected?: MessageType): CodecError | undefined {
  if (typeof value !== "object" || value === null || Array.isArray(value)) {
    return new CodecError("not_envelope", "payload is not an envelope map");
  }
  const { v, type, ...body } = value as Record<string, unknown>;
  if (v !== CODEC_VERSION) {
    return new CodecError("bad_version", `unsupported envelope version ${describeValue(v)}`);
  }
  if (typeof type !== "string" || !Object.hasOwn(schemas, type)) {
    return new CodecError("unknown_type", `unknown message type ${describeValue(type)}`);
  }
  if (expected !== undefined && type !== expected) {
    return new CodecError("wrong_type", `expected a ${expected} message, got ${type}`);
  }
  const bad = schemas[type as MessageType](body, "", 0);
  return bad ? new CodecError("bad_shape", `${type}: ${bad}`) : undefined;
}

/** Encodes a message after checking its shape: fleet never sends what it would refuse. */
export function encodeMessage<T extends MessageType>(
  type: T,
  body: MessageBodies[T],
  maxBytes: number = limits.messageBytesMax,
): Uint8Array {
  const envelope = { v: CODEC_VERSION, type, ...body };
  const bad = checkMessage(envelope, type);
  if (bad)
    throw new Error(`assertion failed: refusing to encode an invalid message: ${bad.message}`);
  return encodeCbor(envelope, maxBytes);
}

/** Decodes untrusted bytes. Never throws: every failure is a CodecError in the result. */
export function decodeMessage<T extends MessageType>(
  bytes: Uint8Array,
  expected?: T,
  maxBytes: number = limits.messageBytesMax,
): Decoded<T> {
  let value: unknown;
  try {
    value = decodeCbor(bytes, maxBytes);
  } catch (err) {
    if (err instanceof CodecError) return { ok: false, error: err };
    return { ok: false, error: new CodecError("malformed", String(err)) };
  }
  const bad = checkMessage(value, expected);
  if (bad) return { ok: false, error: bad };
  return { ok: true, message: value as Message<T> };
}
