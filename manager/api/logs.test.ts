// The manager's side of service logs against an in-memory bus: requests to each task's node,
// chunks become `log` events in order (resends dropped), a silent agent becomes a warning,
// a followed stream is cancelled when the client leaves.

import assert from "node:assert/strict";
import { test } from "node:test";
import { decodeMessage, encodeMessage, type MessageBodies } from "../../core/codec/index.ts";
import { TaskState } from "../../core/model/task-state.ts";
import type { Service, Task } from "../../core/model/types.ts";
import { topicMatches } from "../../core/topics.ts";
import { BrokerLogSource, type LogBus } from "./logs.ts";
import type { EventSink } from "./router.ts";

function bus() {
  const subs = new Map<string, (m: { topic: string; payload: Buffer }) => void>();
  const requests: { topic: string; body: MessageBodies["logsRequest"] }[] = [];
  const b: LogBus = {
    async publish(topic, payload) {
      const d = decodeMessage(payload, "logsRequest");
      assert.ok(d.ok);
      requests.push({ topic, body: d.message });
    },
    async subscribe(filter, handler) {
      subs.set(filter, handler);
      return async () => void subs.delete(filter);
    },
  };
  const answer = (node: string, body: MessageBodies["logsChunk"]) => {
    const topic = `fleet/c/n/${node}/logs/${body.reqId}`;
    for (const [f, h] of subs)
      if (topicMatches(f, topic))
        h({ topic, payload: Buffer.from(encodeMessage("logsChunk", body)) });
  };
  return { b, requests, answer, subs };
}

function sink() {
  const events: { event: string; data: Record<string, unknown> }[] = [];
  let close!: () => void;
  const closed = new Promise<void>((r) => {
    close = r;
  });
  const s: EventSink = {
    send: (event, data) => {
      events.push({ event, data: data as Record<string, unknown> });
      return true;
    },
    comment: () => {},
    closed,
    end: () => {},
  };
  return { s, events, close };
}

const service = { id: "s1", spec: { name: "web" } } as Service;
const task = (id: string, slot: number, nodeId: string): Task =>
  ({
    id,
    slot,
    nodeId,
    serviceId: "s1",
    createdAt: slot,
    desiredState: TaskState.RUNNING,
    status: { state: TaskState.RUNNING, containerId: `c-${id}` },
  }) as Task;

async function until(ok: () => boolean): Promise<void> {
  const deadline = Date.now() + 5000;
  while (!ok()) {
    if (Date.now() > deadline) throw new Error("timed out");
    await new Promise((r) => setTimeout(r, 2));
  }
}

test("each task's node is asked; chunks become log events; a silent node a warning", async () => {
  const { b, requests, answer } = bus();
  let n = 0;
  const src = new BrokerLogSource({
    bus: b,
    clusterId: "c",
    newId: () => `r${++n}`,
    answerTimeoutMs: 200,
  });
  const { s, events } = sink();
  const tasks = [task("t1", 1, "n1"), task("t2", 2, "n2")];
  const done = src.stream({ service, tasks }, { follow: false, tail: 5 }, s);
  await until(() => requests.length === 2);
  assert.deepEqual(
    requests.map((r) => [r.topic, r.body.taskId, r.body.tail, r.body.follow]),
    [
      ["fleet/c/n/n1/logs", "t1", 5, false],
      ["fleet/c/n/n2/logs", "t2", 5, false],
    ],
  );
  const reqId = requests[0]!.body.reqId;
  const l = (text: string) => ({ ts: 7, stream: "stdout" as const, text });
  answer("n1", { reqId, seq: 0, lines: [l("a"), l("b")] });
  answer("n1", { reqId, seq: 0, lines: [l("a"), l("b")] }); // a resend
  answer("n1", { reqId, seq: 1, lines: [l("c")], end: true });
  await done;
  const logs = events.filter((e) => e.event === "log");
  assert.deepEqual(
    logs.map((e) => e.data.line),
    ["a", "b", "c"],
  );
  assert.deepEqual(logs[0]!.data, {
    serviceName: "web",
    taskId: "t1",
    slot: 1,
    nodeId: "n1",
    ts: 7,
    stream: "stdout",
    line: "a",
  });
  const warn = events.find((e) => e.event === "warning")!;
  assert.equal(warn.data.taskId, "t2");
  assert.match(String(warn.data.message), /node n2: the agent did not answer within 0.2s/);
});

test("follow: the stream lasts until the client leaves, then the agent is told to stop", async () => {
  const { b, requests, answer, subs } = bus();
  const src = new BrokerLogSource({ bus: b, clusterId: "c", newId: () => "r1" });
  const { s, events, close } = sink();
  const done = src.stream({ service, tasks: [task("t1", 1, "n1")] }, { follow: true }, s);
  await until(() => requests.length === 1);
  answer("n1", { reqId: "r1", seq: 0, lines: [{ ts: 1, stream: "stderr", text: "x" }] });
  await until(() => events.length === 1);
  close();
  await done;
  assert.equal(requests[1]!.body.cancel, true);
  assert.equal(requests[1]!.body.reqId, "r1");
  assert.equal(subs.size, 0, "unsubscribed");
});

test("a service without started tasks: one warning, no request", async () => {
  const { b, requests } = bus();
  const src = new BrokerLogSource({ bus: b, clusterId: "c", newId: () => "r1" });
  const { s, events } = sink();
  const pending = { ...task("t1", 1, ""), status: { state: TaskState.PENDING } } as Task;
  await src.stream({ service, tasks: [pending] }, { follow: false }, s);
  assert.equal(requests.length, 0);
  assert.match(String(events[0]!.data.message), /service web has no task with a container/);
});

test("a broker that is away (an external broker down): one warning per task, no crash", async () => {
  const b: LogBus = {
    publish: async () => assert.fail("nothing is published without a subscription"),
    subscribe: async () => {
      throw new Error("the external broker mqtts://mq:8883 is unreachable");
    },
  };
  const src = new BrokerLogSource({ bus: b, clusterId: "c", newId: () => "r1" });
  const { s, events } = sink();
  await src.stream(
    { service, tasks: [task("t1", 1, "n1"), task("t2", 2, "n2")] },
    { follow: false },
    s,
  );
  assert.deepEqual(
    events.map((e) => [e.event, e.data.taskId, String(e.data.message)]),
    [
      ["warning", "t1", "task t1 on node n1: the external broker mqtts://mq:8883 is unreachable"],
      ["warning", "t2", "task t2 on node n2: the external broker mqtts://mq:8883 is unreachable"],
    ],
  );
});
