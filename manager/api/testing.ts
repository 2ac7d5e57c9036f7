// Helpers for tests of the API and the CLI: a single-process ManagerContext over a fresh store
// (LocalWriter, standalone consensus, a settable clock) with a cluster object and some nodes.

import { makeCluster, makeNode } from "../../core/model/fixtures.ts";
import type { Node } from "../../core/model/types.ts";
import { Store } from "../../core/store/store.ts";
import { LocalWriter } from "../../core/store/writer.ts";
import { type ConsensusView, type ManagerContext, standaloneConsensus } from "../context.ts";
import { newId } from "../ids.ts";
import { createLogger } from "../log.ts";
import type { ApiServer } from "./server.ts";

export interface TestWorld {
  ctx: ManagerContext;
  store: Store;
  clock: { now: number };
  /** Lines the API logged (errors mean a bug surfaced as a 500). */
  logged: string[];
}

export function testWorld(
  opts: { nodes?: Node[]; consensus?: ConsensusView; cluster?: boolean } = {},
): TestWorld {
  const store = new Store();
  const clock = { now: 1_700_000_000_000 };
  const logged: string[] = [];
  const ctx: ManagerContext = {
    info: { nodeId: "m1", raftId: 1, clusterId: "c1" },
    store,
    writer: new LocalWriter(store),
    consensus: opts.consensus ?? standaloneConsensus(),
    now: () => clock.now,
    newId,
    log: createLogger("api", { level: "debug", write: (l) => logged.push(l) }),
  };
  const nodes = opts.nodes ?? [
    managerNode("m1", "manager-1"),
    workerNode("w1", "worker-1", { storage: "ssd" }),
    workerNode("w2", "worker-2"),
  ];
  store.update((tx) => {
    if (opts.cluster !== false) tx.create("clusters", makeCluster("c1"));
    for (const n of nodes) tx.create("nodes", n);
  });
  return { ctx, store, clock, logged };
}

export function managerNode(id: string, hostname: string): Node {
  const n = makeNode(id);
  return {
    ...n,
    description: { ...n.description, hostname },
    spec: { ...n.spec, role: "manager" },
    managerStatus: { raftId: "1", addr: "127.0.0.1:4242", reachability: "reachable", leader: true },
  };
}

export function workerNode(id: string, hostname: string, labels: Record<string, string> = {}) {
  const n = makeNode(id, { labels });
  return { ...n, description: { ...n.description, hostname } };
}

export interface Reply {
  status: number;
  // biome-ignore lint/suspicious/noExplicitAny: test replies are inspected freely
  body: any;
}

/** One request through the router (no sockets). */
export async function call(api: ApiServer, method: string, url: string, body?: unknown) {
  const raw =
    body === undefined ? undefined : typeof body === "string" ? body : JSON.stringify(body);
  const r = await api.handle({ method, url, body: raw });
  if (!("body" in r)) throw new Error(`${method} ${url} answered a stream`);
  return r as Reply;
}
