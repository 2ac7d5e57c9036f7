// The Bus over MQTT.js: what the dispatcher uses against the embedded broker mesh or an
// external broker. MQTT 3.1.1 only (aedes 1.x refuses MQTT 5).
//
// Two connections: one receives, one publishes. MQTT.js acknowledges an incoming QoS 1 message
// only once its PUBACK is written, so on a shared connection a burst of outgoing assignments
// and events would stall every incoming heartbeat and status behind it. Outgoing publishes are
// flow-controlled (limits.busPublishInflightMax in flight, then a bounded queue in which QoS 1
// goes first), so a slow broker costs memory up to a bound, then refusals, never an unbounded
// buffer.
// A filter subscribed twice is held at the broker until its last handler goes.

import mqtt, { type IClientOptions, type MqttClient } from "mqtt";
import { limits } from "../../core/limits.ts";
import { topicMatches } from "../../core/topics.ts";
import type { Bus, MessageHandler, PublishOptions, Subscription } from "./bus.ts";

export interface MqttBusOptions {
  /** e.g. mqtt://127.0.0.1:1883 or mqtts://manager-1:8883 */
  url: string;
  /** Base client id; the connections use `<id>-rx` and `<id>-tx`. */
  clientId?: string;
  /** Extra MQTT.js options (TLS material, credentials). Copied, never mutated. */
  mqtt?: IClientOptions;
  /** Options read again before every reconnect (a renewed certificate and key). */
  refresh?: () => IClientOptions;
  connectTimeoutMs?: number;
  /** Called when a handler throws; the message is dropped, the client keeps running. */
  onHandlerError?: (err: unknown, topic: string) => void;
}

function clientOptions(opts: MqttBusOptions, suffix: string): IClientOptions {
  const options: IClientOptions = {
    protocolVersion: 4,
    clean: true,
    reconnectPeriod: 1000,
    connectTimeout: opts.connectTimeoutMs ?? 10_000,
    ...(opts.mqtt ?? {}),
    ...(opts.refresh?.() ?? {}),
  };
  if (opts.clientId !== undefined) options.clientId = `${opts.clientId}-${suffix}`;
  return options;
}

/** Small packets go out at once (Nagle's algorithm would hold them for the peer's ACK). */
function noDelay(c: MqttClient): void {
  (c.stream as { setNoDelay?: (on: boolean) => void }).setNoDelay?.(true);
}

export class MqttBus implements Bus {
  readonly #rx: MqttClient;
  readonly #tx: MqttClient;
  readonly #handlers = new Map<string, Set<MessageHandler>>();
  readonly #onHandlerError: (err: unknown, topic: string) => void;
  /** Waiting publishes, QoS 1 (device-facing) first, each class in order. */
  readonly #waiting: [(() => void)[], (() => void)[]] = [[], []];
  #inflight = 0;
  #closed = false;

  private constructor(rx: MqttClient, tx: MqttClient, opts: MqttBusOptions) {
    this.#rx = rx;
    this.#tx = tx;
    this.#onHandlerError =
      opts.onHandlerError ?? ((err, topic) => console.error(`bus: handler for ${topic}:`, err));
    rx.on("message", (topic, payload) => this.#route(topic, payload));
    for (const c of [rx, tx]) {
      noDelay(c);
      c.on("connect", () => noDelay(c));
      // MQTT.js builds each reconnect's socket from client.options, after this event.
      const refresh = opts.refresh;
      if (refresh) c.on("reconnect", () => Object.assign(c.options, refresh()));
    }
  }

  /** Connects both connections; resolves once the broker accepted them. */
  static async connect(opts: MqttBusOptions): Promise<MqttBus> {
    const rx = await mqtt.connectAsync(opts.url, clientOptions(opts, "rx"));
    try {
      const tx = await mqtt.connectAsync(opts.url, clientOptions(opts, "tx"));
      return new MqttBus(rx, tx, opts);
    } catch (err) {
      await rx.endAsync(true);
      throw err;
    }
  }

  get connected(): boolean {
    return this.#rx.connected && this.#tx.connected;
  }

  /** Publishes waiting for a slot (the flow-control queue). */
  get queued(): number {
    return this.#waiting[0].length + this.#waiting[1].length;
  }

  /** QoS 1 publishes (assignments) overtake queued QoS 0 ones (operator topics): a device
   * waiting for work matters more than an event stream. Order holds within each class. */
  async publish(topic: string, payload: Uint8Array | string, opts: PublishOptions): Promise<void> {
    const ahead = opts.qos === 1 ? this.#waiting[1].length : this.queued;
    if (this.#inflight >= limits.busPublishInflightMax || ahead > 0) {
      if (this.queued >= limits.busPublishQueueMax) {
        throw new Error(`bus: ${this.queued} publishes queued; refusing ${topic}`);
      }
      await new Promise<void>((resolve) => this.#waiting[opts.qos].push(resolve));
    }
    this.#inflight++;
    const body =
      typeof payload === "string"
        ? payload
        : Buffer.from(payload.buffer, payload.byteOffset, payload.byteLength);
    try {
      await this.#tx.publishAsync(topic, body, { qos: opts.qos, retain: opts.retain });
    } finally {
      this.#inflight--;
      (this.#waiting[1].shift() ?? this.#waiting[0].shift())?.();
    }
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
      const grants = await this.#rx.subscribeAsync(filter, { qos: 1 });
      if (grants.some((g) => g.qos === 128)) {
        this.#remove(filter, handler);
        throw new Error(`bus: broker refused the subscription to ${filter}`);
      }
    }
    return { unsubscribe: () => this.#unsubscribe(filter, handler) };
  }

  /** Ends both connections; closing twice is harmless. */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    this.#handlers.clear();
    await Promise.all([this.#rx.endAsync(), this.#tx.endAsync()]);
  }

  async #unsubscribe(filter: string, handler: MessageHandler): Promise<void> {
    if (this.#remove(filter, handler) && this.#rx.connected) {
      await this.#rx.unsubscribeAsync(filter);
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
