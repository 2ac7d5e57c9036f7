// A tiny fake manager for session tests and the bench: on every hello it answers with the
// node's assignment (QoS 1, retained, as the dispatcher does); it records what agents send.

import mqtt, { type MqttClient } from "mqtt";
import type { AssignedTask, Message } from "../../core/codec/index.ts";
import { decodeMessage, encodeMessage } from "../../core/codec/index.ts";
import { parseNodeTopic, topics } from "../../core/topics.ts";

export class FakeManager {
  readonly hellos: Message<"hello">[] = [];
  readonly heartbeats: Message<"heartbeat">[] = [];
  readonly statuses: Message<"status">[] = [];
  version = 1;
  tasks: AssignedTask[] = [];
  readonly #clients: MqttClient[] = [];
  readonly #clusterId: string;
  readonly #waiters: (() => void)[] = [];

  constructor(clusterId: string) {
    this.#clusterId = clusterId;
  }

  /** Connects to a broker and serves it (call once per broker). */
  async serve(url: string): Promise<void> {
    const t = topics(this.#clusterId);
    const client = mqtt.connect(url, { protocolVersion: 4, reconnectPeriod: 200 });
    this.#clients.push(client);
    await new Promise<void>((resolve, reject) => {
      client.once("connect", () => resolve());
      client.once("error", reject);
    });
    await client.subscribeAsync(t.uplinkFilters, { qos: 1 });
    client.on("message", (topic, payload) => this.#onMessage(client, topic, payload));
  }

  #onMessage(client: MqttClient, topic: string, payload: Buffer): void {
    const parsed = parseNodeTopic(topic);
    const d = decodeMessage(payload);
    if (!parsed || !d.ok) return;
    const m = d.message;
    if (m.type === "hello") {
      this.hellos.push(m);
      this.publish(client, parsed.nodeId);
    } else if (m.type === "heartbeat") this.heartbeats.push(m);
    else if (m.type === "status") this.statuses.push(m);
    for (const w of this.#waiters.splice(0)) w();
  }

  /** Publishes the current assignment for `nodeId` on every broker served. */
  assign(nodeId: string): void {
    for (const c of this.#clients) this.publish(c, nodeId);
  }

  publish(client: MqttClient, nodeId: string): void {
    const body = encodeMessage("assign", { version: this.version, tasks: this.tasks });
    client.publish(topics(this.#clusterId).assign(nodeId), Buffer.from(body), {
      qos: 1,
      retain: true,
    });
  }

  /** Resolves once `ok()` holds, re-checked on every message; rejects after `ms`. */
  async until(what: string, ok: () => boolean, ms = 15_000): Promise<void> {
    const deadline = Date.now() + ms;
    for (let i = 0; i < 100_000 && !ok(); i++) {
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(`fake manager: timed out waiting for ${what}`);
      await new Promise<void>((r) => {
        const timer = setTimeout(r, Math.min(left, 200));
        this.#waiters.push(() => {
          clearTimeout(timer);
          r();
        });
      });
    }
  }

  async close(): Promise<void> {
    await Promise.all(this.#clients.map((c) => c.endAsync(true)));
  }
}
