// /v1/cluster (inspect, update with optimistic concurrency, gossip key rotation),
// /v1/join-tokens and /v1/info.

import { gossipKeyRingView } from "../../core/gossip-keys.ts";
import { limits } from "../../core/limits.ts";
import { clusterGossip, clusterReenrolWindowMs } from "../../core/model/defaults.ts";
import type { Cluster } from "../../core/model/types.ts";
import { validateClusterSpec } from "../../core/model/validate.ts";
import type { ReadTx } from "../../core/store/tx.ts";
import { rotateGossipKeyInTx } from "../ca/gossip-key.ts";
import { ApiError, invalidSpec } from "./errors.ts";
import type { ApiResponse, Call, Route } from "./router.ts";
import type { JoinRole, TokenSource } from "./tokens.ts";
import { clusterView } from "./views.ts";

export interface ClusterDeps {
  tokens?: TokenSource;
}

function theCluster(tx: ReadTx): Cluster {
  const all = tx.find("clusters");
  if (all.length === 0) {
    throw new ApiError(
      "not_found",
      "this manager has no cluster object yet (it is still starting, or was never initialised " +
        "with `fleet init`)",
    );
  }
  return all.sort((a, b) => a.createdAt - b.createdAt)[0]!;
}

function inspect(c: Call): ApiResponse {
  const view = c.ctx.store.view((tx) => clusterView(theCluster(tx)));
  // A cluster made before the settings shows what every decider uses (30 days; gossip on).
  const spec = {
    ...view.spec,
    reenrolWindowMs: clusterReenrolWindowMs(view.spec),
    gossip: clusterGossip(view.spec),
  };
  return { status: 200, body: { ...view, spec } };
}

async function update(c: Call): Promise<ApiResponse> {
  const version = c.query.version("cluster");
  const v = validateClusterSpec(c.body);
  if (!v.ok) throw invalidSpec("cluster", v.problems);
  const now = c.ctx.now();
  const id = await c.ctx.writer.update((tx) => {
    const cur = theCluster(tx);
    tx.update("clusters", { ...cur, version, spec: v.value, updatedAt: now });
    return cur.id;
  });
  return { status: 200, body: { id } };
}

/** `fleet cluster update --rotate-gossip-key [--gossip-key-grace D]`: one Raft write; the
 * dispatcher then sends every node the new ring. Answers with the ring's ids, never its keys. */
async function rotateGossipKey(c: Call): Promise<ApiResponse> {
  const grace = c.query.int("graceMs") ?? limits.gossipKeyGraceMsDefault;
  if (grace > limits.gossipKeyGraceMsMax)
    throw new ApiError("bad_request", `graceMs: at most ${limits.gossipKeyGraceMsMax} (30 days)`);
  const now = c.ctx.now();
  const ring = await c.ctx.writer.update((tx) => {
    theCluster(tx);
    return rotateGossipKeyInTx(tx, now, grace);
  });
  return { status: 200, body: gossipKeyRingView(ring!) };
}

function source(c: Call<ClusterDeps>): TokenSource {
  const tokens = c.services.tokens;
  if (!tokens) {
    throw new ApiError(
      "not_implemented",
      "join tokens are not available on this manager yet " +
        "(the certificate authority is not running)",
    );
  }
  return tokens;
}

async function tokens(c: Call<ClusterDeps>): Promise<ApiResponse> {
  return { status: 200, body: await source(c).current() };
}

async function rotate(c: Call<ClusterDeps>): Promise<ApiResponse> {
  const role = c.query.str("role");
  if (role !== "worker" && role !== "manager") {
    throw new ApiError("bad_request", "query parameter role must be worker or manager");
  }
  const s = source(c);
  if (!s.rotate) {
    throw new ApiError("not_implemented", "join token rotation is not available on this manager");
  }
  return { status: 200, body: await s.rotate(role as JoinRole) };
}

function info(c: Call): ApiResponse {
  const { ctx } = c;
  const body = {
    nodeId: ctx.info.nodeId,
    raftId: ctx.info.raftId,
    clusterId: ctx.info.clusterId,
    isLeader: ctx.consensus.isLeader(),
    leader: ctx.consensus.leader(),
    term: ctx.consensus.term(),
    index: ctx.store.index,
    apiVersion: "v1",
  };
  return { status: 200, body };
}

export const clusterRoutes: Route<ClusterDeps>[] = [
  { method: "GET", path: "/v1/info", handler: info },
  { method: "GET", path: "/v1/cluster", read: true, handler: inspect },
  {
    method: "POST",
    path: "/v1/cluster/update",
    query: ["version"],
    body: true,
    handler: update,
  },
  {
    method: "POST",
    path: "/v1/cluster/gossip-key/rotate",
    query: ["graceMs"],
    handler: rotateGossipKey,
  },
  { method: "GET", path: "/v1/join-tokens", handler: tokens },
  { method: "POST", path: "/v1/join-tokens/rotate", query: ["role"], handler: rotate },
];
