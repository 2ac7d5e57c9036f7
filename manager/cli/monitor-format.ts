// One line per MQTT message for `fleet monitor`: the payload is decoded (CBOR envelopes through
// core/codec, JSON operator topics as JSON) and summarised by type. Bad payloads are shown as
// such, never thrown: a monitor must survive whatever a device sends.

import { decodeMessage, type Message } from "../../core/codec/messages.ts";
import { taskStateName } from "../../core/model/task-state.ts";

export interface Decoded {
  type: string;
  summary: string;
  payload: unknown;
}

export function decodePayload(topic: string, bytes: Uint8Array): Decoded {
  if (bytes.length === 0)
    return { type: "empty", summary: "(empty: clears a retained message)", payload: null };
  const first = bytes[0]!;
  if (first === 0x7b || first === 0x5b) {
    try {
      const payload = JSON.parse(Buffer.from(bytes).toString("utf8"));
      return { type: jsonType(topic), summary: truncate(JSON.stringify(payload), 120), payload };
    } catch {
      // not JSON: try CBOR below
    }
  }
  const d = decodeMessage(bytes);
  if (!d.ok) {
    return { type: "invalid", summary: `${d.error.code}: ${d.error.message}`, payload: null };
  }
  return { type: d.message.type, summary: summarise(d.message), payload: d.message };
}

function jsonType(topic: string): string {
  const parts = topic.split("/");
  const i = parts.indexOf("events");
  if (i >= 0 && parts[i + 1]) return `event.${parts[i + 1]}`;
  const j = parts.indexOf("state");
  if (j >= 0 && parts[j + 1]) return `state.${parts[j + 1]}`;
  return "json";
}

const state = (s: number) => {
  try {
    return taskStateName(s as never).toLowerCase();
  } catch {
    return String(s);
  }
};

function summarise(m: Message): string {
  switch (m.type) {
    case "hello": {
      const p = m.description.platform;
      const tasks = m.tasks ? `, ${m.tasks.length} tasks` : "";
      const who = `${m.nodeId} (${m.description.hostname}, ${p.os}/${p.arch})`;
      return `${who} agent ${m.agentVersion}, assignment v${m.assignVersion}${tasks}`;
    }
    case "heartbeat": {
      const parts = [`seq ${m.seq}`];
      if (m.load1 !== undefined) parts.push(`load ${m.load1.toFixed(2)}`);
      if (m.containers !== undefined) parts.push(`${m.containers} containers`);
      if (m.memoryUsedBytes !== undefined)
        parts.push(`mem ${Math.round(m.memoryUsedBytes / 2 ** 20)}MiB`);
      return parts.join(", ");
    }
    case "status": {
      const some = m.updates.slice(0, 3).map((u) => `${u.taskId.slice(0, 12)} ${state(u.state)}`);
      const more = m.updates.length > 3 ? `, +${m.updates.length - 3} more` : "";
      return `${m.updates.length} updates: ${some.join(", ")}${more}`;
    }
    case "assign":
      return `version ${m.version}, ${m.tasks.length} tasks`;
    case "csr":
      return `certificate request for a ${m.role}`;
    case "cert":
      return `certificate (${m.certPem.length} bytes PEM)`;
    case "joinRequest":
      return `join request from ${m.description.hostname}`;
    case "joinResponse":
      return m.ok ? `joined as ${m.nodeId ?? "?"}` : `refused: ${m.error ?? "no reason"}`;
    case "gossip":
      // Sealed with the cluster's gossip key, which operators' tools do not hold.
      return `sealed (key ${m.keyId}, ${m.sealed.length} bytes)`;
    case "storeActions":
      return `${m.actions.length} store actions`;
    case "logsRequest": {
      if (m.cancel) return `cancel log request ${m.reqId}`;
      const tail = m.tail === undefined ? "" : `, last ${m.tail} lines`;
      return `logs of task ${m.taskId.slice(0, 12)}${m.follow ? ", follow" : ""}${tail}`;
    }
    case "logsChunk": {
      const end = m.end ? (m.error ? `, end: ${m.error}` : ", end") : "";
      return `chunk ${m.seq}: ${m.lines.length} lines${end}`;
    }
    default:
      return "";
  }
}

function truncate(s: string, max: number): string {
  return s.length <= max ? s : `${s.slice(0, max - 1)}…`;
}

/** JSON with byte strings as base64, for `fleet monitor --json`. */
export function toJsonLine(record: Record<string, unknown>): string {
  return JSON.stringify(record, (_k, v) =>
    v instanceof Uint8Array ? { base64: Buffer.from(v).toString("base64") } : v,
  );
}
