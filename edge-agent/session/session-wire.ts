// Payload helpers of the agent's session (session.ts): the node's address as the managers see
// it, the heartbeat's free disk space, and status batches split to fit the uplink bound.

import { statfsSync } from "node:fs";
import { isIP } from "node:net";
import type { MqttClient } from "mqtt";
import type { TaskStatusUpdate } from "../../core/codec/index.ts";
import { encodeMessage } from "../../core/codec/index.ts";
import { limits } from "../../core/limits.ts";

/** The node's address as the managers see it: the local IP of the broker connection. */
export function localAddr(client: MqttClient): { addr?: string } {
  const raw = (client.stream as { localAddress?: unknown } | undefined)?.localAddress;
  if (typeof raw !== "string") return {};
  const addr = raw.startsWith("::ffff:") ? raw.slice(7) : raw;
  return isIP(addr) && addr.length <= 64 ? { addr } : {};
}

export function diskFree(path: string | undefined): { diskFreeBytes?: number } {
  if (!path) return {};
  try {
    const s = statfsSync(path);
    return { diskFreeBytes: s.bavail * s.bsize };
  } catch {
    return {};
  }
}

/** Status messages for `updates`, halving a batch that does not fit the uplink bound. */
export function statusPayloads(updates: TaskStatusUpdate[]): Uint8Array[] {
  if (updates.length === 0) return [];
  try {
    return [encodeMessage("status", { updates }, limits.uplinkBytesMax)];
  } catch (err) {
    if (updates.length === 1) throw err;
    const half = Math.ceil(updates.length / 2);
    return [...statusPayloads(updates.slice(0, half)), ...statusPayloads(updates.slice(half))];
  }
}
