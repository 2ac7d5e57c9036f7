// The engine's event stream: lines parsed, container changes heard at once (filtered by label),
// a broken stream reconnected (and announced), nothing heard after unwatch.

import assert from "node:assert/strict";
import { EventEmitter } from "node:events";
import { test } from "node:test";
import type Docker from "dockerode";
import { ensureTestImage, need, removeTestContainers } from "../../test/support/real.ts";
import { DockerExecutor } from "./docker.ts";
import { eventLines, watchContainerEvents } from "./docker-events.ts";

const VALUE = `events-${process.pid}`;

async function until(what: string, fn: () => boolean, ms = 20_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!fn()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

test("event lines: split across chunks, garbage skipped", () => {
  const seen: unknown[] = [];
  const feed = eventLines((e) => seen.push(e.Action));
  feed('{"Type":"container","Action":"die"}\n{"Act');
  feed('ion":"start"}\nnot json\n\n');
  assert.deepEqual(seen, ["die", "start"]);
});

test("a stream that ends is reconnected and every (re)connect is announced", async () => {
  const streams: EventEmitter[] = [];
  let calls = 0;
  const fake = {
    getEvents: async (o: { filters: { label: string[]; type: string[] } }) => {
      calls++;
      assert.deepEqual(o.filters.label, ["fleet.node.id=n1"]);
      assert.deepEqual(o.filters.type, ["container"]);
      if (calls === 2) throw new Error("engine restarting");
      const s = new EventEmitter();
      streams.push(s);
      return s;
    },
  } as unknown as Docker;
  const seen: (string | undefined)[] = [];
  const stop = watchContainerEvents(fake, { "fleet.node.id": "n1" }, (id) => seen.push(id), {
    retryBaseMs: 5,
    retryMaxMs: 10,
  });
  await until("connected", () => streams.length === 1);
  streams[0]!.emit(
    "data",
    Buffer.from('{"Type":"container","Action":"die","Actor":{"ID":"c1"}}\n'),
  );
  streams[0]!.emit("end");
  await until("reconnected after a failed attempt", () => streams.length === 2);
  streams[1]!.emit("data", '{"Type":"container","Action":"start","id":"c2"}\n');
  await until("second event", () => seen.length === 4);
  assert.deepEqual(seen, [undefined, "c1", undefined, "c2"]);
  stop();
  streams[1]!.emit("data", '{"Type":"container","Action":"die","id":"c3"}\n');
  assert.equal(seen.length, 4, "nothing after unwatch");
  assert.equal(calls, 3);
});

test("docker: a container's start and death are heard at once, by label", async (t) => {
  if (!need(t, "docker", "busybox")) return;
  const image = ensureTestImage();
  const ex = new DockerExecutor();
  const seen: (string | undefined)[] = [];
  const stop = ex.watch({ "fleet.test": VALUE }, (id) => seen.push(id));
  try {
    await until("the stream connected", () => seen.includes(undefined));
    const other = await ex.create({
      name: `ev-other-${process.pid}`,
      image,
      args: ["sleep", "300"],
      labels: { "fleet.test": `${VALUE}-other` },
    });
    const id = await ex.create({
      name: `ev-${process.pid}`,
      image,
      args: ["sleep", "300"],
      labels: { "fleet.test": VALUE },
    });
    await ex.start(other);
    await ex.start(id);
    await until("start heard", () => seen.filter((x) => x === id).length >= 2);
    const before = seen.length;
    await ex.stop(id, 0);
    await until("death heard", () => seen.length > before);
    assert.ok(seen.slice(before).every((x) => x === id));
    assert.ok(!seen.includes(other), "another label's container is not heard");
  } finally {
    stop();
    removeTestContainers(VALUE);
    removeTestContainers(`${VALUE}-other`);
  }
});
