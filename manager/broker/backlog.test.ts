// A burst of publishes while some subscribers stop reading: aedes queues the publishes behind its
// emitter's concurrency and, with the default of 100, drained that queue recursively (release ->
// next publish -> release ...) until the stack overflowed and the manager died. Seen first in the
// dispatcher bench at 3,000-7,000 agents; here with a few thousand messages on one process.

import assert from "node:assert/strict";
import { test } from "node:test";
import mqtt from "mqtt";
import { Broker } from "./broker.ts";

test("a publish backlog behind stalled subscribers is delivered, not a stack overflow", async (t) => {
  const broker = await Broker.start({ host: "127.0.0.1", port: 0 });
  const url = `mqtt://127.0.0.1:${broker.port}`;
  const clients: mqtt.MqttClient[] = [];
  t.after(async () => {
    for (const c of clients) c.end(true);
    await broker.close();
  });
  const connect = async (clientId: string) => {
    const c = await mqtt.connectAsync(url, { clientId, reconnectPeriod: 0 });
    clients.push(c);
    return c;
  };
  const healthy = await connect("healthy");
  await healthy.subscribeAsync("burst/#", { qos: 0 });
  let got = 0;
  healthy.on("message", () => got++);
  for (let i = 0; i < 19; i++) {
    const s = await connect(`stalled-${i}`);
    await s.subscribeAsync("burst/#", { qos: 0 });
    (s as unknown as { stream: { pause(): void } }).stream.pause();
  }
  const publishers = [];
  for (let i = 0; i < 50; i++) publishers.push(await connect(`pub-${i}`));
  const rounds = 1_000;
  for (let r = 0; r < rounds; r++)
    for (const p of publishers) p.publish(`burst/${r}`, Buffer.alloc(200), { qos: 0 });
  // Hold the event loop so the whole burst reaches the broker at once.
  const until = Date.now() + 2_000;
  while (Date.now() < until) {}
  const total = rounds * publishers.length;
  const deadline = Date.now() + 120_000;
  while (got < total && Date.now() < deadline) await new Promise((r) => setTimeout(r, 100));
  assert.equal(got, total, "the reading subscriber gets every message of the burst");
});
