// Device uplinks: hello, heartbeat and status, one handler each. Input is validated before any
// side effect (size, topic, envelope, shape, node identity); anything wrong costs only that
// message: it is counted by reason, logged (rate-limited) and dropped.

import { isIP } from "node:net";
import { decodeMessage, type Message, type MessageType } from "../../core/codec/index.ts";
import { limits } from "../../core/limits.ts";
import type { Store } from "../../core/store/index.ts";
import { parseNodeTopic } from "../../core/topics.ts";
import type { AssignmentPublisher } from "./assignments.ts";
import type { WriteBatcher } from "./batcher.ts";
import type { Clock } from "./clock.ts";
import type { Liveness } from "./liveness.ts";
import type { Drops } from "./log.ts";

export interface UplinkCounters {
  hellos: number;
  heartbeats: number;
  statusMessages: number;
  recovered: number;
}

export interface UplinkContext {
  clusterId: string;
  clock: Clock;
  store: Store;
  drops: Drops;
  liveness: Liveness;
  batcher: WriteBatcher;
  assignments: AssignmentPublisher;
  registerUnknownNodes: boolean;
  counters: UplinkCounters;
}

const kinds: Record<string, MessageType> = { hello: "hello", hb: "heartbeat", status: "status" };

/** Routes one message from `…/n/<node>/<kind>`. Never throws for bad input. */
export function handleUplink(ctx: UplinkContext, topic: string, payload: Uint8Array): void {
  const where = parseNodeTopic(topic);
  if (!where || where.clusterId !== ctx.clusterId || !Object.hasOwn(kinds, where.kind)) {
    ctx.drops.drop("bad_topic", `message on unexpected topic ${topic.slice(0, 200)}`);
    return;
  }
  const nodeId = where.nodeId;
  if (payload.length > limits.uplinkBytesMax) {
    ctx.drops.drop("oversized", `${payload.length}-byte ${where.kind}`, { nodeId });
    return;
  }
  const type = kinds[where.kind]!;
  const decoded = decodeMessage(payload, type, limits.uplinkBytesMax);
  if (!decoded.ok) {
    ctx.drops.drop("malformed", `${where.kind}: ${decoded.error.message}`, { nodeId });
    return;
  }
  const m = decoded.message;
  switch (m.type) {
    case "hello":
      onHello(ctx, nodeId, m);
      break;
    case "heartbeat":
      onHeartbeat(ctx, nodeId);
      break;
    case "status":
      onStatus(ctx, nodeId, m);
      break;
  }
}

/** Registration: create or refresh the node, mark it ready, answer with its assignment, and
 * take the task statuses the agent reports as updates. */
function onHello(ctx: UplinkContext, nodeId: string, m: Message<"hello">): void {
  if (m.nodeId !== nodeId) {
    ctx.drops.drop("node_mismatch", `hello for ${m.nodeId} on the topic of ${nodeId}`, {
      nodeId,
    });
    return;
  }
  const known = ctx.store.view((tx) => tx.get("nodes", nodeId) !== undefined);
  if (!known && !ctx.registerUnknownNodes) {
    ctx.drops.drop("unknown_node", "hello from a node the cluster does not know", {
      nodeId,
    });
    return;
  }
  ctx.counters.hellos++;
  const now = ctx.clock.now();
  ctx.liveness.beat(nodeId, now);
  // A bad address costs the address only: the node still registers.
  const addr = m.addr !== undefined && isIP(m.addr) !== 0 ? m.addr : undefined;
  if (m.addr !== undefined && addr === undefined)
    ctx.drops.drop("bad_addr", `hello addr ${JSON.stringify(m.addr)} is not an IP address`, {
      nodeId,
    });
  ctx.batcher.node(nodeId, {
    state: "ready",
    message: "registered",
    lastSeen: now,
    at: now,
    description: m.description,
    ...(addr ? { addr } : {}),
  });
  ctx.assignments.publish(nodeId);
  for (const u of m.tasks ?? []) ctx.batcher.offer(nodeId, u);
}

function onHeartbeat(ctx: UplinkContext, nodeId: string): void {
  if (!alive(ctx, nodeId)) return;
  ctx.counters.heartbeats++;
}

function onStatus(ctx: UplinkContext, nodeId: string, m: Message<"status">): void {
  if (!alive(ctx, nodeId)) return;
  ctx.counters.statusMessages++;
  for (const u of m.updates) ctx.batcher.offer(nodeId, u);
}

/** Any message from a node proves it alive; a node that was down is ready again. Returns
 * false (and drops the message) for a node this cluster does not know. */
function alive(ctx: UplinkContext, nodeId: string): boolean {
  const now = ctx.clock.now();
  if (!ctx.liveness.has(nodeId)) {
    const node = ctx.store.view((tx) => tx.get("nodes", nodeId));
    if (!node) {
      ctx.drops.drop("unknown_node", "message from a node that never said hello", { nodeId });
      return false;
    }
    ctx.liveness.seed(nodeId, node.status.state !== "ready", now, node.status.lastSeen ?? 0);
  }
  if (ctx.liveness.beat(nodeId, now)) {
    ctx.counters.recovered++;
    ctx.batcher.node(nodeId, {
      state: "ready",
      message: "heartbeat resumed",
      lastSeen: now,
      at: now,
    });
  }
  return true;
}
