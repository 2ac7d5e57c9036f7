// The agent's log server and Docker's log frame parser, without a broker or an engine: requests
// in, chunks out (order, bounds, end and errors, cancel, too many streams, bad requests), and
// frames and lines split at every possible byte.

import assert from "node:assert/strict";
import { test } from "node:test";
import {
  decodeMessage,
  encodeMessage,
  type MessageBodies,
  type WireLogLine,
} from "../core/codec/index.ts";
import { LogServer, type LogStreamer, type LogStreamOptions } from "./logs.ts";
import { LogFrames } from "./logs-docker.ts";

type Chunk = MessageBodies["logsChunk"];

function server(streamer: LogStreamer, containers: Record<string, string> = { t1: "c1" }) {
  const sent: { topic: string; chunk: Chunk }[] = [];
  const s = new LogServer({
    clusterId: "c",
    nodeId: "n1",
    publish: (topic, payload) => {
      const d = decodeMessage(payload, "logsChunk");
      assert.ok(d.ok, "the server sends valid chunks");
      sent.push({ topic, chunk: d.message });
      return true;
    },
    containerOf: async (id) => containers[id],
    streamer,
    log: () => {},
    maxStreams: 2,
    flushMs: 5,
  });
  return { s, sent };
}

const req = (body: Partial<MessageBodies["logsRequest"]> & { reqId: string }) =>
  encodeMessage("logsRequest", { taskId: "t1", follow: false, ...body });

async function until(what: string, ok: () => boolean): Promise<void> {
  const deadline = Date.now() + 5000;
  while (!ok()) {
    if (Date.now() > deadline) throw new Error(`timed out: ${what}`);
    await new Promise((r) => setTimeout(r, 2));
  }
}

const line = (i: number): WireLogLine => ({ ts: 1000 + i, stream: "stdout", text: `l${i}` });

test("a request gets every line in order, in bounded chunks, the last marked end", async () => {
  const seen: LogStreamOptions[] = [];
  const { s, sent } = server({
    async stream(id, o, onLine) {
      assert.equal(id, "c1");
      seen.push(o);
      for (let i = 0; i < 450; i++) onLine(line(i));
    },
  });
  s.onRequest(req({ reqId: "r1", tail: 450 }));
  await until("the end", () => sent.some((x) => x.chunk.end));
  assert.equal(seen[0]!.tail, 450);
  assert.ok(sent.every((x) => x.topic === "fleet/c/n/n1/logs/r1"));
  assert.deepEqual(
    sent.map((x) => x.chunk.seq),
    sent.map((_, i) => i),
  );
  assert.ok(sent.every((x) => x.chunk.lines.length <= 200));
  const texts = sent.flatMap((x) => x.chunk.lines.map((l) => l.text));
  assert.deepEqual(
    texts,
    [...Array(450).keys()].map((i) => `l${i}`),
  );
  assert.equal(sent.filter((x) => x.chunk.end).length, 1);
  assert.equal(sent.at(-1)!.chunk.end, true);
  assert.equal(s.active, 0);
});

test("no container, a failing engine: an end with the reason", async () => {
  const { s, sent } = server({
    async stream() {
      throw new Error("engine down");
    },
  });
  s.onRequest(req({ reqId: "r1", taskId: "nope" }));
  s.onRequest(req({ reqId: "r2" }));
  await until("both ends", () => sent.filter((x) => x.chunk.end).length === 2);
  const byReq = (r: string) => sent.find((x) => x.chunk.reqId === r)!.chunk;
  assert.match(byReq("r1").error!, /task nope has no container on node n1/);
  assert.equal(byReq("r2").error, "engine down");
});

test("follow runs until cancelled; a third stream is refused; a resend is ignored", async () => {
  const running: AbortSignal[] = [];
  const { s, sent } = server({
    stream: (_id, o, onLine) =>
      new Promise<void>((resolve) => {
        running.push(o.signal);
        onLine(line(0));
        o.signal.addEventListener("abort", () => resolve());
      }),
  });
  s.onRequest(req({ reqId: "a", follow: true }));
  s.onRequest(req({ reqId: "a", follow: true }));
  s.onRequest(req({ reqId: "b", follow: true }));
  await until("two streams", () => running.length === 2);
  s.onRequest(req({ reqId: "c", follow: true }));
  await until("the refusal", () => sent.some((x) => x.chunk.reqId === "c"));
  assert.match(sent.find((x) => x.chunk.reqId === "c")!.chunk.error!, /already streams 2 logs/);
  assert.equal(s.active, 2);
  s.onRequest(req({ reqId: "a", cancel: true }));
  await until("a ended", () => sent.some((x) => x.chunk.reqId === "a" && x.chunk.end));
  assert.equal(sent.find((x) => x.chunk.reqId === "a" && x.chunk.end)!.chunk.error, undefined);
  assert.equal(s.active, 1);
  s.stop();
  await until("b ended", () => sent.some((x) => x.chunk.reqId === "b" && x.chunk.end));
  assert.equal(running.length, 2, "the resend started nothing");
});

test("a malformed request is counted and answered by nothing", () => {
  const { s, sent } = server({ stream: async () => {} });
  s.onRequest(new Uint8Array([1, 2, 3]));
  s.onRequest(encodeMessage("heartbeat", { seq: 1 }));
  assert.equal(s.malformed, 2);
  assert.equal(sent.length, 0);
});

function frame(stream: 1 | 2, text: string): Buffer {
  const body = Buffer.from(text);
  const h = Buffer.alloc(8);
  h[0] = stream;
  h.writeUInt32BE(body.length, 4);
  return Buffer.concat([h, body]);
}

test("LogFrames: frames and lines split at every byte give the same lines", () => {
  const raw = Buffer.concat([
    frame(1, "2024-05-01T10:00:00.123456789Z hello\n2024-05-01T10:00:01.000000000Z wor"),
    frame(2, "2024-05-01T10:00:02.5Z oops\r\n"),
    frame(1, "ld\nno time here\n2024-05-01T10:00:03Z last"),
  ]);
  const want: WireLogLine[] = [
    { ts: Date.parse("2024-05-01T10:00:00.123Z"), stream: "stdout", text: "hello" },
    { ts: Date.parse("2024-05-01T10:00:02.500Z"), stream: "stderr", text: "oops" },
    { ts: Date.parse("2024-05-01T10:00:01Z"), stream: "stdout", text: "world" },
    { ts: 0, stream: "stdout", text: "no time here" },
    { ts: Date.parse("2024-05-01T10:00:03Z"), stream: "stdout", text: "last" },
  ];
  for (let cut = 0; cut <= raw.length; cut++) {
    const got: WireLogLine[] = [];
    const f = new LogFrames((l) => got.push(l));
    f.push(raw.subarray(0, cut));
    f.push(raw.subarray(cut));
    f.end();
    assert.deepEqual(got, want, `cut at ${cut}`);
  }
});
