// The node writes the dispatcher makes: registration on hello (create or refresh the
// description, state ready) and the liveness verdicts (ready <-> down). Each is queued in the
// WriteBatcher and applied here inside its transaction, against the node as stored then.

import type { WireNodeDescription } from "../../core/codec/index.ts";
import type { Node, NodeDescription, NodeState } from "../../core/model/index.ts";
import type { WriteTx } from "../../core/store/index.ts";

export interface NodeChange {
  state: Extract<NodeState, "ready" | "down">;
  message: string;
  /** When the node was last heard from. */
  lastSeen: number;
  /** When the change was decided. */
  at: number;
  /** Present for a hello: the node's self-description (platform, resources, hw labels). */
  description?: WireNodeDescription;
  /** Present for a hello that named a valid IP: the node's address (Node.status.addr). */
  addr?: string;
  /** Store writes of this change that conflicted so far (the batcher retries a few). */
  attempts?: number;
}

export function toDescription(d: WireNodeDescription): NodeDescription {
  const platform: NodeDescription["platform"] = { os: d.platform.os, arch: d.platform.arch };
  if (d.platform.variant !== undefined) platform.variant = d.platform.variant;
  return {
    hostname: d.hostname,
    platform,
    resources: { nanoCPUs: d.resources.nanoCPUs, memoryBytes: d.resources.memoryBytes },
    engineLabels: { ...d.engineLabels },
  };
}

function sameDescription(a: NodeDescription, b: NodeDescription): boolean {
  return JSON.stringify(a) === JSON.stringify(b);
}

function newNode(id: string, c: NodeChange, description: NodeDescription): Node {
  return {
    id,
    version: 0,
    createdAt: c.at,
    updatedAt: c.at,
    description,
    spec: { role: "worker", availability: "active", labels: {} },
    status: {
      state: c.state,
      message: c.message,
      ...(c.addr ? { addr: c.addr } : {}),
      lastSeen: c.lastSeen,
    },
  };
}

/** Applies one queued change; returns whether it wrote anything. */
export function applyNodeChange(
  tx: WriteTx,
  id: string,
  c: NodeChange,
  registerUnknownNodes: boolean,
): boolean {
  const node = tx.get("nodes", id);
  const description = c.description && toDescription(c.description);
  if (!node) {
    if (!description || !registerUnknownNodes) return false;
    tx.create("nodes", newNode(id, c, description));
    return true;
  }
  const refresh = description !== undefined;
  if (!refresh && node.status.state === c.state) return false;
  const next: Node = {
    ...node,
    updatedAt: c.at,
    status: {
      ...node.status,
      state: c.state,
      message: c.message,
      ...(c.addr ? { addr: c.addr } : {}),
      lastSeen: c.lastSeen,
    },
  };
  if (description && !sameDescription(description, node.description)) {
    next.description = description;
  }
  tx.update("nodes", next);
  return true;
}
