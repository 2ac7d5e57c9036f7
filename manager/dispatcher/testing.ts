// Test helpers: a dispatcher on a LocalWriter, an in-memory broker and a fake clock, plus a
// device-side client that speaks the wire protocol. Used by the unit tests only.

import {
  decodeMessage,
  encodeMessage,
  type MessageBodies,
  type WireNodeDescription,
} from "../../core/codec/index.ts";
import { Store } from "../../core/store/store.ts";
import { LocalWriter, type StoreWriter } from "../../core/store/writer.ts";
import { type Topics, topics } from "../../core/topics.ts";
import { MemoryBroker, type MemoryBus } from "./bus.ts";
import { FakeClock, settle } from "./clock.ts";
import { Dispatcher } from "./dispatcher.ts";
import { type Logger, silentLogger } from "./log.ts";

export const CLUSTER = "c1";

export function description(nodeId: string, labels: Record<string, string> = {}) {
  return {
    hostname: `host-${nodeId}`,
    platform: { os: "linux", arch: "arm64", variant: "v8" },
    resources: { nanoCPUs: 4e9, memoryBytes: 4 * 1024 ** 3 },
    engineLabels: { "hw.storage": "sd", ...labels },
  } satisfies WireNodeDescription;
}

export interface Harness {
  store: Store;
  writer: StoreWriter;
  broker: MemoryBroker;
  clock: FakeClock;
  topics: Topics;
  dispatcher: Dispatcher;
  device: MemoryBus;
  /** Store commits so far (each is one Raft entry on a real manager). */
  commits(): number;
  send(topic: string, payload: Uint8Array | string): Promise<void>;
  hello(nodeId: string, extra?: Partial<MessageBodies["hello"]>): Promise<void>;
  heartbeat(nodeId: string, seq?: number): Promise<void>;
  status(nodeId: string, updates: MessageBodies["status"]["updates"]): Promise<void>;
  /** The node's retained assignment, decoded. */
  assignment(nodeId: string): MessageBodies["assign"] | undefined;
  /** Every assign message published for the node, decoded, in order. */
  assignments(nodeId: string): MessageBodies["assign"][];
}

export interface HarnessOptions {
  store?: Store;
  writer?: StoreWriter;
  logger?: Logger;
  clock?: FakeClock;
}

export function harness(opts: HarnessOptions = {}) {
  const store = opts.writer?.store ?? opts.store ?? new Store();
  const writer = opts.writer ?? new LocalWriter(store);
  const broker = new MemoryBroker();
  const clock = opts.clock ?? new FakeClock();
  const t = topics(CLUSTER);
  let commits = 0;
  const counter = store.watch({ kinds: ["commit"] });
  const dispatcher = new Dispatcher({
    writer,
    bus: broker.client(),
    clusterId: CLUSTER,
    clock,
    logger: opts.logger ?? silentLogger,
  });
  const device = broker.client();
  const decodeAssign = (bytes: Uint8Array) => {
    const d = decodeMessage(bytes, "assign");
    if (!d.ok) throw d.error;
    const { v: _v, type: _type, ...body } = d.message;
    return body as MessageBodies["assign"];
  };
  const h: Harness = {
    store,
    writer,
    broker,
    clock,
    topics: t,
    dispatcher,
    device,
    commits: () => {
      commits += counter.drain().length;
      return commits;
    },
    async send(topic, payload) {
      await device.publish(topic, payload, { qos: 1, retain: false });
      await settle();
    },
    hello: (nodeId, extra = {}) =>
      h.send(
        t.hello(nodeId),
        encodeMessage("hello", {
          nodeId,
          description: description(nodeId),
          assignVersion: 0,
          agentVersion: "test",
          ...extra,
        }),
      ),
    heartbeat: (nodeId, seq = 1) =>
      h.send(t.heartbeat(nodeId), encodeMessage("heartbeat", { seq, load1: 0.1 })),
    status: (nodeId, updates) => h.send(t.status(nodeId), encodeMessage("status", { updates })),
    assignment(nodeId) {
      const bytes = broker.retained(t.assign(nodeId));
      return bytes && decodeAssign(bytes);
    },
    assignments(nodeId) {
      const topic = t.assign(nodeId);
      return broker.log
        .filter((m) => m.topic === topic && m.payload.length > 0)
        .map((m) => decodeAssign(m.payload));
    },
  };
  return h;
}

/** JSON messages published on a topic (operator topics), parsed, in order. */
export function jsonOn(broker: MemoryBroker, topic: string): Record<string, unknown>[] {
  return broker.log
    .filter((m) => m.topic === topic && m.payload.length > 0)
    .map((m) => JSON.parse(new TextDecoder().decode(m.payload)) as Record<string, unknown>);
}
