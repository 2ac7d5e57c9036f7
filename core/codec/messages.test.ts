import assert from "node:assert/strict";
import { test } from "node:test";
import fc from "fast-check";
import { limits } from "../limits.ts";
import { TaskState } from "../model/task-state.ts";
import { CodecError, decodeCbor, encodeCbor } from "./cbor.ts";
import {
  checkMessage,
  decodeMessage,
  encodeMessage,
  type MessageBodies,
  type MessageType,
  messageTypes,
} from "./messages.ts";

const description = {
  hostname: "pi-01",
  platform: { os: "linux", arch: "arm64", variant: "v8" },
  resources: { nanoCPUs: 4e9, memoryBytes: 4 * 1024 ** 3 },
  engineLabels: { "hw.storage": "sd", "hw.board": "Raspberry Pi 4 Model B" },
};
const update = {
  taskId: "t1",
  state: TaskState.RUNNING,
  timestamp: 1_700_000_000_000,
  message: "started",
  containerId: "abc",
  exitCode: 0,
};
const key = new Uint8Array(32).fill(7);
const proof = new Uint8Array(64).fill(9);

const samples: { [K in MessageType]: MessageBodies[K] } = {
  hello: { nodeId: "n1", description, assignVersion: 3, agentVersion: "0.1.0", tasks: [update] },
  heartbeat: { seq: 9, load1: 0.42, memoryUsedBytes: 1e8, diskFreeBytes: 1e9, containers: 2 },
  status: {
    updates: [update, { ...update, taskId: "t2", state: TaskState.FAILED, err: "exit 1" }],
  },
  assign: {
    version: 12,
    tasks: [
      {
        id: "t1",
        serviceId: "s1",
        serviceName: "web",
        slot: 1,
        specVersion: 2,
        desiredState: TaskState.RUNNING,
        spec: { containerSpec: { image: "nginx", env: ["A=1"] } },
      },
    ],
  },
  csr: {
    publicKey: key,
    proof,
    keyProof: proof,
    role: "worker",
    certPem: "-----BEGIN CERTIFICATE-----",
  },
  cert: { certPem: "-----BEGIN CERTIFICATE-----", caPem: "-----BEGIN CERTIFICATE-----" },
  joinRequest: { token: "FLT1-abc-def", publicKey: key, proof, description },
  joinResponse: { ok: true, nodeId: "n1", certPem: "c", caPem: "ca" },
  logsRequest: { reqId: "r1", taskId: "t1", follow: true, tail: 10 },
  logsChunk: {
    reqId: "r1",
    seq: 0,
    lines: [{ ts: 1_700_000_000_000, stream: "stdout", text: "hello" }],
    end: true,
  },
  gossip: { keyId: 1, nonce: new Uint8Array(24), sealed: new Uint8Array([1, 2, 3]) },
  storeActions: {
    actions: [{ op: "put", table: "nodes", object: { id: "n1", nested: [1, "x", null] } }],
  },
  storeSnapshot: { index: 7, tables: { nodes: [], services: [] } },
  beacon: { managerId: "m-1", seq: 3, periodMs: 5000 },
};

/** Uint8Array subclasses (Buffer) compare as plain byte arrays. */
function normalize(v: unknown): unknown {
  if (v instanceof Uint8Array) return { bytes: [...v] };
  if (Array.isArray(v)) return v.map(normalize);
  if (v && typeof v === "object")
    return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, normalize(x)]));
  return v;
}

test("every message type round-trips", () => {
  assert.deepEqual(Object.keys(samples).sort(), [...messageTypes].sort());
  for (const type of messageTypes) {
    const bytes = encodeMessage(type, samples[type] as never);
    const r = decodeMessage(bytes, type);
    assert.ok(r.ok, r.ok ? "" : r.error.message);
    assert.deepEqual(normalize(r.message), normalize({ v: 1, type, ...samples[type] }));
  }
});

test("version, type and shape are checked", () => {
  const env = (o: object) => encodeCbor({ v: 1, type: "heartbeat", seq: 1, ...o });
  const codeOf = (bytes: Uint8Array, expected?: MessageType) => {
    const r = decodeMessage(bytes, expected);
    return r.ok ? "ok" : r.error.code;
  };
  assert.equal(codeOf(env({})), "ok");
  assert.equal(codeOf(env({ v: 2 })), "bad_version");
  assert.equal(codeOf(env({ type: "reboot" })), "unknown_type");
  assert.equal(codeOf(env({ type: "toString" })), "unknown_type");
  assert.equal(codeOf(env({}), "status"), "wrong_type");
  assert.equal(codeOf(env({ seq: -1 })), "bad_shape");
  assert.equal(codeOf(env({ seq: 1.5 })), "bad_shape");
  assert.equal(codeOf(env({ extra: 1 })), "bad_shape");
  assert.equal(codeOf(encodeCbor({ v: 1, type: "heartbeat" })), "bad_shape");
  assert.equal(codeOf(encodeCbor([1, 2])), "not_envelope");
  assert.equal(codeOf(encodeCbor("hello")), "not_envelope");
  const bad = decodeMessage(env({ load1: "high" }));
  assert.ok(!bad.ok && /heartbeat: load1: must be a finite number/.test(bad.error.message));
  const tooBig = decodeMessage(encodeCbor({ v: 1, type: "heartbeat", seq: 1 }), undefined, 4);
  assert.ok(!tooBig.ok && tooBig.error.code === "too_large");
});

test("deep nesting and huge batches are refused", () => {
  let deep: unknown = 1;
  for (let i = 0; i < limits.codecDepthMax + 5; i++) deep = [deep];
  const r = decodeMessage(encodeCbor({ v: 1, type: "storeActions", actions: [deep] }));
  assert.ok(!r.ok && r.error.code === "bad_shape");
  const many = Array.from({ length: limits.statusBatchItemsMax + 1 }, () => update);
  const r2 = decodeMessage(encodeCbor({ v: 1, type: "status", updates: many }));
  assert.ok(!r2.ok && /at most/.test(r2.error.message));
});

test("a __proto__ key from a device cannot pollute prototypes", () => {
  // A hand-built CBOR map {"__proto__": {"polluted": true}} inside a spec.
  const bytes = encodeCbor({
    v: 1,
    type: "storeSnapshot",
    tables: JSON.parse('{"__proto__":{"polluted":true}}'),
  });
  const r = decodeMessage(bytes);
  assert.equal(({} as Record<string, unknown>).polluted, undefined);
  if (r.ok) assert.equal(Object.getPrototypeOf(r.message), Object.prototype);
});

test("encodeMessage refuses to send what a receiver would refuse", () => {
  assert.throws(() => encodeMessage("heartbeat", { seq: -1 }), /invalid message/);
});

test("property: random bytes never crash the decoder", () => {
  fc.assert(
    fc.property(fc.uint8Array({ maxLength: 512 }), (bytes) => {
      const r = decodeMessage(bytes);
      if (!r.ok) assert.ok(r.error instanceof CodecError);
      else assert.equal(checkMessage(r.message), undefined);
    }),
    { numRuns: 3000 },
  );
});

test("property: mutated valid messages decode to valid messages or a CodecError", () => {
  const encoded = messageTypes.map((t) => encodeMessage(t, samples[t] as never));
  const mutation = fc.record({
    which: fc.nat(encoded.length - 1),
    edits: fc.array(fc.tuple(fc.nat(), fc.integer({ min: 0, max: 255 })), {
      minLength: 1,
      maxLength: 4,
    }),
    cut: fc.option(fc.nat()),
  });
  fc.assert(
    fc.property(mutation, ({ which, edits, cut }) => {
      const bytes = new Uint8Array(encoded[which]!);
      for (const [pos, val] of edits) bytes[pos % bytes.length] = val;
      const input = cut === null ? bytes : bytes.subarray(0, cut % (bytes.length + 1));
      const r = decodeMessage(input);
      if (!r.ok) return assert.ok(r.error instanceof CodecError);
      // What the decoder accepts passes validation again and survives a re-encode.
      assert.equal(checkMessage(r.message), undefined);
      const again = decodeCbor(encodeCbor(r.message));
      assert.equal(checkMessage(again), undefined);
    }),
    { numRuns: 5000 },
  );
});

test("property: arbitrary plain data round-trips through storeActions", () => {
  const plain = fc.letrec((tie) => ({
    value: fc.oneof(
      { depthSize: "small" },
      fc.string(),
      fc.integer(),
      // -0 is encoded as the integer 0 (CBOR has one zero for integers).
      fc.double({ noNaN: true, noDefaultInfinity: true }).map((x) => (x === 0 ? 0 : x)),
      fc.boolean(),
      fc.constant(null),
      fc.array(tie("value"), { maxLength: 4 }),
      fc.dictionary(
        fc.string({ minLength: 1 }).filter((k) => k !== "__proto__"),
        tie("value"),
        { maxKeys: 4, noNullPrototype: true },
      ),
    ),
  })).value;
  fc.assert(
    fc.property(fc.array(plain, { maxLength: 8 }), (actions) => {
      const r = decodeMessage(encodeMessage("storeActions", { actions }), "storeActions");
      assert.ok(r.ok);
      assert.deepEqual(r.message.actions, actions);
    }),
    { numRuns: 500 },
  );
});

test("an envelope whose version or type is a big integer is a CodecError, not a throw", () => {
  // {"v": -2^64} as CBOR: a 64-bit negative integer decodes to a BigInt.
  const bytes = Uint8Array.from([
    0xa1, 0x61, 0x76, 0x3b, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
  ]);
  const r = decodeMessage(bytes);
  assert.equal(r.ok, false);
  if (!r.ok) {
    assert.equal(r.error.code, "bad_version");
    assert.match(r.error.message, /-18446744073709551616n/);
  }
  const t = checkMessage({ v: 1, type: 10n ** 30n });
  assert.equal(t?.code, "unknown_type");
});
