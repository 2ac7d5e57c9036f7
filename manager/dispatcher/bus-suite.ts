// One suite for every Bus implementation (the in-memory one and the MQTT.js one against a real
// mosquitto): the MQTT behaviour the dispatcher relies on.

import assert from "node:assert/strict";
import type { Bus } from "./bus.ts";

export interface BusFactory {
  /** A fresh client on one shared broker (each case uses its own topic prefix). */
  client(): Promise<Bus>;
}

async function until(what: string, ok: () => boolean, ms = 5000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!ok()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 5));
  }
}

const text = (b: Uint8Array) => new TextDecoder().decode(b);

export function busSuite(make: BusFactory, prefix: string) {
  return {
    async wildcardsAndBytes() {
      const [a, b] = [await make.client(), await make.client()];
      const got: [string, string][] = [];
      await b.subscribe(`${prefix}/n/+/hb`, (topic, p) => got.push([topic, text(p)]));
      await b.subscribe(`${prefix}/events/#`, (topic, p) => got.push([topic, text(p)]));
      await a.publish(`${prefix}/n/x/hb`, "one", { qos: 1, retain: false });
      await a.publish(`${prefix}/n/x/other`, "ignored", { qos: 1, retain: false });
      await a.publish(`${prefix}/events/node`, new Uint8Array([104, 105]), {
        qos: 0,
        retain: false,
      });
      await until("two messages", () => got.length >= 2);
      assert.deepEqual(got.sort(), [
        [`${prefix}/events/node`, "hi"],
        [`${prefix}/n/x/hb`, "one"],
      ]);
      await Promise.all([a.close(), b.close()]);
    },
    async retainedAndCleared() {
      const a = await make.client();
      await a.publish(`${prefix}/state/nodes/n1`, '{"s":1}', { qos: 1, retain: true });
      const late = await make.client();
      const got: string[] = [];
      await late.subscribe(`${prefix}/state/#`, (_t, p) => got.push(text(p)));
      await until("the retained message", () => got.length >= 1);
      assert.deepEqual(got, ['{"s":1}']);
      await a.publish(`${prefix}/state/nodes/n1`, "", { qos: 1, retain: true });
      await until("the clearing message", () => got.length >= 2);
      // A late subscriber gets retained messages before anything published after it
      // subscribed: once the marker is in, no retained message is coming.
      const later = await make.client();
      const again: string[] = [];
      await later.subscribe(`${prefix}/#`, (_t, p) => again.push(text(p)));
      await a.publish(`${prefix}/marker`, "m", { qos: 1, retain: false });
      await until("the marker", () => again.includes("m"));
      assert.deepEqual(again, ["m"], "a cleared retained message is gone");
      await Promise.all([a.close(), late.close(), later.close()]);
    },
    async unsubscribeStopsDelivery() {
      const [a, b] = [await make.client(), await make.client()];
      const first: string[] = [];
      const second: string[] = [];
      const s1 = await b.subscribe(`${prefix}/u/#`, (_t, p) => first.push(text(p)));
      await b.subscribe(`${prefix}/u/#`, (_t, p) => second.push(text(p)));
      await a.publish(`${prefix}/u/1`, "1", { qos: 1, retain: false });
      await until("both handlers", () => first.length === 1 && second.length === 1);
      await s1.unsubscribe();
      await a.publish(`${prefix}/u/2`, "2", { qos: 1, retain: false });
      await until("the remaining handler", () => second.length === 2);
      assert.deepEqual(first, ["1"], "the unsubscribed handler got nothing more");
      await Promise.all([a.close(), b.close()]);
    },
    async burstKeepsOrder() {
      const [a, b] = [await make.client(), await make.client()];
      const got: number[] = [];
      try {
        await b.subscribe(`${prefix}/burst/#`, (_t, p) => got.push(Number(text(p))));
        const n = 2500; // more than limits.busPublishInflightMax: some wait in the queue
        await Promise.all(
          Array.from({ length: n }, (_, i) =>
            a.publish(`${prefix}/burst/x`, String(i), { qos: 1, retain: false }),
          ),
        );
        await until(`${n} messages`, () => got.length >= n, 60_000);
        assert.deepEqual(
          got,
          Array.from({ length: n }, (_, i) => i),
        );
      } finally {
        await Promise.all([a.close(), b.close()]);
      }
    },
  };
}
