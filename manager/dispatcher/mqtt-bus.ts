// The Bus over one MQTT.js client: what the dispatcher uses against the embedded broker mesh or
// an external broker. MQTT 3.1.1 only (aedes 1.x refuses MQTT 5). One client carries every
// subscription; incoming messages are routed to handlers by filter. A filter subscribed twice
// is held at the broker until its last handler goes.

import mqtt, { type IClientOptions, type MqttClient } from "mqtt";
import { topicMatches } from "../../core/topics.ts";
import type { Bus, MessageHandler, PublishOptions, Subscription } from "./bus.ts";

export interface MqttBusOptions {
  /** e.g. mqtt://127.0.0.1:1883 or mqtts://manager-1:8883 */
  url: string;
  clientId?: string;
  /** Extra MQTT.js options (TLS material, credentials). Copied, never mutated. */
  mqtt?: IClientOptions;
  connectTimeoutMs?: number;
  /** Called when a handler throws; the message is dropped, the client keeps running. */
  onHandlerError?: (err: unknown, topic: string) => void;
}

export class MqttBus implements Bus {
  readonly #client: MqttClient;
  readonly #handlers = new Map<string, Set<MessageHandler>>();
  readonly #onHandlerError: (err: unknown, topic: string) => void;

  private constructor(client: MqttClient, opts: MqttBusOptions) {
    this.#client = client;
    this.#onHandlerError =
      opts.onHandlerError ?? ((err, topic) => console.error(`bus: handler for ${topic}:`, err));
    client.on("message", (topic, payload) => this.#route(topic, payload));
  }

  /** Connects and resolves once the broker accepted the connection. */
  static async connect(opts: MqttBusOptions): Promise<MqttBus> {
    const options: IClientOptions = {
      protocolVersion: 4,
      clean: true,
      reconnectPeriod: 1000,
      connectTimeout: opts.connectTimeoutMs ?? 10_000,
      ...(opts.mqtt ?? {}),
    };
    if (opts.clientId !== undefined) options.clientId = opts.clientId;
    const client = await mqtt.connectAsync(opts.url, options);
    return new MqttBus(client, opts);
  }

  get connected(): boolean {
    return this.#client.connected;
  }

  async publish(topic: string, payload: Uint8Array | string, opts: PublishOptions): Promise<void> {
    const body =
      typeof payload === "string"
        ? payload
        : Buffer.from(payload.buffer, payload.byteOffset, payload.byteLength);
    await this.#client.publishAsync(topic, body, { qos: opts.qos, retain: opts.retain });
  }

  async subscribe(filter: string, handler: MessageHandler): Promise<Subscription> {
    let set = this.#handlers.get(filter);
    const first = set === undefined;
    if (!set) {
      set = new Set();
      this.#handlers.set(filter, set);
    }
    set.add(handler);
    if (first) {
      const grants = await this.#client.subscribeAsync(filter, { qos: 1 });
      if (grants.some((g) => g.qos === 128)) {
        this.#remove(filter, handler);
        throw new Error(`bus: broker refused the subscription to ${filter}`);
      }
    }
    return { unsubscribe: () => this.#unsubscribe(filter, handler) };
  }

  async close(): Promise<void> {
    this.#handlers.clear();
    await this.#client.endAsync();
  }

  async #unsubscribe(filter: string, handler: MessageHandler): Promise<void> {
    if (this.#remove(filter, handler) && this.#client.connected) {
      await this.#client.unsubscribeAsync(filter);
    }
  }

  /** Forgets a handler; true when it was the filter's last. */
  #remove(filter: string, handler: MessageHandler): boolean {
    const set = this.#handlers.get(filter);
    if (!set?.delete(handler) || set.size > 0) return false;
    this.#handlers.delete(filter);
    return true;
  }

  #route(topic: string, payload: Buffer): void {
    for (const [filter, set] of this.#handlers) {
      if (!topicMatches(filter, topic)) continue;
      for (const h of set) {
        try {
          h(topic, payload);
        } catch (err) {
          this.#onHandlerError(err, topic);
        }
      }
    }
  }
}
