// A simulated edge agent: one light MQTT.js client speaking the device side of the protocol
// (hello, heartbeats, status, assignments). Tests and the benchmark run hundreds or thousands
// of them in one process. It is not the real agent (edge-agent/): it runs no containers and
// reports every task it is assigned as RUNNING at once.

import mqtt, { type IClientOptions, type MqttClient } from "mqtt";
import {
  type AssignedTask,
  decodeMessage,
  encodeMessage,
  type TaskStatusUpdate,
  type WireNodeDescription,
} from "../../core/codec/index.ts";
import { TaskState } from "../../core/model/task-state.ts";
import { type Topics, topics } from "../../core/topics.ts";

export interface SimAgentOptions {
  url: string;
  clusterId: string;
  nodeId: string;
  description?: WireNodeDescription;
  /** Report assigned tasks as RUNNING (default true). */
  reportStatus?: boolean;
  connectTimeoutMs?: number;
}

export class SimAgent {
  readonly nodeId: string;
  readonly #client: MqttClient;
  readonly #topics: Topics;
  readonly #reportStatus: boolean;
  readonly #description: WireNodeDescription;
  #timer: NodeJS.Timeout | undefined;
  #seq = 0;
  assignVersion = 0;
  tasks: AssignedTask[] = [];
  assignmentsReceived = 0;
  heartbeatsSent = 0;
  statusSent = 0;
  badAssignments = 0;

  private constructor(client: MqttClient, opts: SimAgentOptions) {
    this.nodeId = opts.nodeId;
    this.#client = client;
    this.#topics = topics(opts.clusterId);
    this.#reportStatus = opts.reportStatus ?? true;
    this.#description = opts.description ?? {
      hostname: opts.nodeId,
      platform: { os: "linux", arch: "arm64" },
      resources: { nanoCPUs: 4e9, memoryBytes: 2 * 1024 ** 3 },
      engineLabels: { "hw.storage": "sd", "hw.board": "sim" },
    };
    client.on("message", (_topic, payload) => this.#onAssign(payload));
  }

  /** Connects, subscribes to its assignment topic and says hello. */
  static async start(opts: SimAgentOptions): Promise<SimAgent> {
    // A fresh options object per client: MQTT.js writes the generated clientId into it.
    const options: IClientOptions = {
      protocolVersion: 4,
      clean: true,
      clientId: `sim-${opts.nodeId}`,
      keepalive: 120,
      reconnectPeriod: 0,
      connectTimeout: opts.connectTimeoutMs ?? 30_000,
    };
    const client = await mqtt.connectAsync(opts.url, options);
    const agent = new SimAgent(client, opts);
    await client.subscribeAsync(agent.#topics.assign(opts.nodeId), { qos: 1 });
    await agent.hello();
    return agent;
  }

  get connected(): boolean {
    return this.#client.connected;
  }

  /** The local IP of the broker connection: the address managers reach this node at. */
  get addr(): string | undefined {
    const a = (this.#client.stream as { localAddress?: string } | undefined)?.localAddress;
    return a?.startsWith("::ffff:") ? a.slice(7) : a;
  }

  async hello(): Promise<void> {
    const addr = this.addr;
    const body = {
      nodeId: this.nodeId,
      description: this.#description,
      assignVersion: this.assignVersion,
      agentVersion: "sim",
      ...(addr ? { addr } : {}),
    };
    await this.#publish(this.#topics.hello(this.nodeId), encodeMessage("hello", body), 1);
  }

  heartbeat(): void {
    this.heartbeatsSent++;
    const body = { seq: this.#seq++, load1: 0.2, containers: this.tasks.length };
    void this.#publish(this.#topics.heartbeat(this.nodeId), encodeMessage("heartbeat", body), 0);
  }

  /** Heartbeats every `periodMs`, the first after `offsetMs` (spreads a fleet's beats). */
  startHeartbeats(periodMs: number, offsetMs = 0): void {
    this.stopHeartbeats();
    this.#timer = setTimeout(() => {
      this.heartbeat();
      this.#timer = setInterval(() => this.heartbeat(), periodMs);
    }, offsetMs);
  }

  stopHeartbeats(): void {
    clearTimeout(this.#timer);
    clearInterval(this.#timer);
    this.#timer = undefined;
  }

  async status(updates: TaskStatusUpdate[]): Promise<void> {
    this.statusSent += updates.length;
    await this.#publish(this.#topics.status(this.nodeId), encodeMessage("status", { updates }), 1);
  }

  async stop(): Promise<void> {
    this.stopHeartbeats();
    await this.#client.endAsync(true);
  }

  #publish(topic: string, bytes: Uint8Array, qos: 0 | 1): Promise<void> {
    const buf = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    return this.#client.publishAsync(topic, buf, { qos }).then(
      () => {},
      () => {},
    );
  }

  #onAssign(payload: Buffer): void {
    if (payload.length === 0) return;
    const d = decodeMessage(payload, "assign");
    if (!d.ok || d.message.version < this.assignVersion) {
      this.badAssignments++;
      return;
    }
    this.assignmentsReceived++;
    this.assignVersion = d.message.version;
    this.tasks = d.message.tasks;
    if (this.#reportStatus) this.#reportRunning();
  }

  #reportRunning(): void {
    // On every assignment, already reported or not: a new leader republishes them, and a
    // report sent while no dispatcher listened (a leader change) is so made again; the
    // dispatcher counts an unchanged one and writes nothing.
    const updates: TaskStatusUpdate[] = [];
    for (const t of this.tasks) {
      if (t.desiredState > TaskState.RUNNING) continue;
      const containerId = `sim-${t.id}`;
      updates.push({
        taskId: t.id,
        state: TaskState.RUNNING,
        timestamp: Date.now(),
        message: "started",
        containerId,
      });
    }
    if (updates.length > 0) void this.status(updates);
  }
}
