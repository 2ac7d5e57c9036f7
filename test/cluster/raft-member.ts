// One Raft member as a real process, driven by its parent over IPC. Used by the driver crash
// test and the raft and failover benchmarks. Writes are small `clusters` objects padded so each
// Raft entry is about `entryBytes` long.
//
//   node --import tsx test/cluster/raft-member.ts --id 1 --dir D --port P \
//        --peers 1=127.0.0.1:P1,2=127.0.0.1:P2 --bootstrap 1,2,3 [--tick-ms 100]

import { parseArgs } from "node:util";
import type { Cluster } from "../../core/model/types.ts";
import { encodeActions } from "../../core/store/encoding.ts";
import { Store } from "../../core/store/store.ts";
import { RaftNode } from "../../manager/raft/node.ts";
import type { PeerAddr } from "../../manager/raft/transport.ts";
import { RaftWriter } from "../../manager/raft/writer.ts";

const { values } = parseArgs({
  options: {
    id: { type: "string" },
    dir: { type: "string" },
    port: { type: "string", default: "0" },
    peers: { type: "string", default: "" },
    bootstrap: { type: "string", default: "" },
    "tick-ms": { type: "string", default: "100" },
  },
});

const peers = new Map<number, PeerAddr>();
for (const p of values.peers!.split(",").filter(Boolean)) {
  const [id, addr] = p.split("=") as [string, string];
  const [host, port] = addr.split(":") as [string, string];
  peers.set(Number(id), { host, port: Number(port) });
}
const id = Number(values.id);
const node = await RaftNode.start({
  id,
  dataDir: values.dir!,
  listen: { host: "127.0.0.1", port: Number(values.port) },
  store: new Store(),
  peers,
  bootstrap: values.bootstrap ? values.bootstrap.split(",").map(Number) : undefined,
  tickMs: Number(values["tick-ms"]),
  log: (l) => process.stderr.write(`[m${id}] ${l}\n`),
  onFatal: () => process.exit(70),
});
const writer = new RaftWriter(node);
let leaderChangedAt = 0;
let lastLeader = node.leader;

setInterval(() => {
  if (node.leader !== lastLeader) {
    lastLeader = node.leader;
    leaderChangedAt = Date.now();
  }
}, 5).unref();

function padded(key: string, entryBytes: number) {
  // A bare object in the clusters table (its spec is free-form plain data), so the entry size
  // is set by the padding rather than by a full object's fields.
  const obj = (pad: string) =>
    ({ id: key, version: 0, createdAt: 0, updatedAt: 0, spec: { pad } }) as unknown as Cluster;
  const base = encodeActions(
    [{ op: "create", table: "clusters", object: obj("") }],
    "1.000000000000.1",
  ).length;
  return obj("x".repeat(Math.max(0, entryBytes - base)));
}

async function load(concurrency: number, durationMs: number, entryBytes: number, tag: string) {
  const latencies: number[] = [];
  let errors = 0;
  const deadline = Date.now() + durationMs;
  let seq = 0;
  const worker = async (w: number) => {
    while (Date.now() < deadline) {
      const key = `${tag}-${w}-${seq++}`;
      const t0 = process.hrtime.bigint();
      try {
        await writer.update((tx) => tx.create("clusters", padded(key, entryBytes)));
        latencies.push(Number(process.hrtime.bigint() - t0) / 1e6);
      } catch {
        errors++;
        await new Promise((r) => setTimeout(r, 5));
      }
    }
  };
  await Promise.all(Array.from({ length: concurrency }, (_, w) => worker(w)));
  return { commits: latencies.length, errors, latencies };
}

/** Writes keys ack-0, ack-1, … one after another, reporting each once it is committed. */
async function ackLoop() {
  for (let i = 0; ; i++) {
    try {
      await writer.update((tx) => tx.create("clusters", padded(`ack-${i}`, 128)));
      process.send?.({ ack: i });
    } catch {
      i--;
      await new Promise((r) => setTimeout(r, 10));
    }
  }
}

process.on("message", async (m: { cmd: string; [k: string]: unknown }) => {
  const reply = (v: object) => process.send?.({ re: m.cmd, ...v });
  switch (m.cmd) {
    case "status":
      return reply({
        id,
        leader: node.leader,
        isLeader: node.isLeader,
        applied: node.status().applied,
        leaderChangedAt,
      });
    case "load":
      return reply(
        await load(
          Number(m.concurrency),
          Number(m.durationMs),
          Number(m.entryBytes),
          String(m.tag),
        ),
      );
    case "ack-loop":
      void ackLoop();
      return reply({});
    case "barrier": {
      // A committed write orders every earlier one before it: then the store is complete.
      for (;;) {
        try {
          await writer.update((tx) => tx.create("clusters", padded(`barrier-${Date.now()}`, 64)));
          break;
        } catch {
          await new Promise((r) => setTimeout(r, 20));
        }
      }
      return reply({ keys: node.store.view((tx) => tx.find("clusters").map((c) => c.id)) });
    }
    case "stop":
      await node.stop();
      reply({});
      process.exit(0);
  }
});
process.send?.({ ready: true, port: node.address.port });
