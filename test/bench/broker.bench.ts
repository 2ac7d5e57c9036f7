// Messages/s through a 3-broker mesh against a single broker, in the same run: one MQTT.js
// publisher on broker A, one subscriber on each of two brokers (B and C in the mesh; both on
// the one broker alone), at QoS 0 and QoS 1. A message counts once both subscribers have it.
// Brokers, links and clients all share this one process, so the mesh does about twice the
// work of the single broker on the same event loop: the ratio is a floor, not a per-broker cost.

import { Broker } from "../../manager/broker/broker.ts";
import {
  connect,
  meshUp,
  type Recorder,
  startNode,
  stopNode,
  waitFor,
  wire,
} from "../../manager/broker/test-harness.ts";
import { type Bench, numberFlag, table } from "./run.ts";

interface Setup {
  pubUrl: string;
  subUrls: [string, string];
  close(): Promise<void>;
}

async function single(): Promise<Setup> {
  const b = await Broker.start();
  return { pubUrl: b.url, subUrls: [b.url, b.url], close: () => b.close() };
}

async function mesh(): Promise<Setup> {
  const nodes = await Promise.all(["a", "b", "c"].map((id) => startNode(id)));
  wire(nodes);
  await waitFor(() => meshUp(nodes), "mesh up");
  const [a, b, c] = nodes.map((n) => n.broker.url) as [string, string, string];
  return {
    pubUrl: a,
    subUrls: [b, c],
    close: async () => {
      for (const n of nodes) await stopNode(n);
    },
  };
}

/** Publishes `count` messages (pipelined); messages/s until both subscribers have them all. */
async function measure(setup: Setup, qos: 0 | 1, count: number): Promise<number> {
  const subs: Recorder[] = [];
  for (const [i, url] of setup.subUrls.entries()) {
    const r = await connect(url, { clientId: `bench-sub-${i}` });
    await r.client.subscribeAsync("bench/#", { qos });
    subs.push(r);
  }
  const pub = await connect(setup.pubUrl, { clientId: "bench-pub" });
  const payload = Buffer.alloc(200, 7);
  const t0 = process.hrtime.bigint();
  for (let k = 0; k < count; k++) pub.client.publish(`bench/n${k % 100}/hb`, payload, { qos });
  await waitFor(() => subs.every((s) => s.got.length >= count), "all delivered", 300_000);
  const seconds = Number(process.hrtime.bigint() - t0) / 1e9;
  for (const r of [pub, ...subs]) await r.close();
  if (subs.some((s) => s.got.length !== count)) throw new Error("bench: duplicate deliveries");
  return Math.round(count / seconds);
}

async function rate(make: () => Promise<Setup>, qos: 0 | 1, count: number): Promise<number> {
  const setup = await make();
  return measure(setup, qos, count).finally(() => setup.close());
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)]!;
}

export const bench: Bench = {
  description: "messages/s through a 3-broker mesh vs a single broker, QoS 0 and 1",
  async run({ args, log }) {
    const count = numberFlag(args, "messages", 20_000);
    const rounds = numberFlag(args, "rounds", 3);
    const result: Record<string, number> = { messages: count, rounds };
    const rows: (string | number)[][] = [["qos", "single msg/s", "mesh msg/s", "mesh/single"]];
    await rate(single, 0, Math.min(count, 5000)); // warm the JIT before anything is timed
    for (const qos of [0, 1] as const) {
      // Interleaved rounds and medians: the machine is shared, so noise hits both sides alike.
      const singles: number[] = [];
      const meshes: number[] = [];
      for (let r = 0; r < rounds; r++) {
        singles.push(await rate(single, qos, count));
        meshes.push(await rate(mesh, qos, count));
      }
      const singleRate = median(singles);
      const meshRate = median(meshes);
      const ratio = Number((meshRate / singleRate).toFixed(2));
      rows.push([qos, singleRate, meshRate, ratio]);
      result[`qos${qos}SinglePerSec`] = singleRate;
      result[`qos${qos}MeshPerSec`] = meshRate;
      result[`qos${qos}Ratio`] = ratio;
    }
    log(table(rows));
    return result;
  },
};
