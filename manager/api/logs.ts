// Service and task logs. Containers' output lives on the boards; a manager asks each task's
// agent over MQTT: a logsRequest on `n/<node>/logs` (the broker mesh carries it to whichever
// broker the agent is on), the agent answers with logsChunk messages on `n/<node>/logs/<req>`
// until `end`. The manager the operator talks to does this itself (it needs no leader: the
// mesh joins every broker). Lines go to the client as `log` events; a task whose agent cannot
// answer becomes a `warning` event, so the others still show.

import { decodeMessage, encodeMessage, type WireLogLine } from "../../core/codec/index.ts";
import { TaskState } from "../../core/model/task-state.ts";
import type { Service, Task } from "../../core/model/types.ts";
import { topics } from "../../core/topics.ts";
import type { EventSink } from "./router.ts";

export interface LogOptions {
  follow: boolean;
  /** Lines from the end of each task's log; undefined for all. */
  tail?: number;
  /** Only lines at or after this time (ms since the epoch). */
  sinceMs?: number;
}

/** Whose logs: a service's tasks, or one task of it. */
export interface LogTarget {
  service: Service;
  tasks: Task[];
}

/** A `log` event's data. */
export interface LogEvent {
  serviceName: string;
  taskId: string;
  slot: number;
  nodeId: string;
  ts: number;
  stream: WireLogLine["stream"];
  line: string;
}

export interface LogSource {
  /** Streams log lines of the target's tasks as `log` events until done or the client leaves. */
  stream(target: LogTarget, options: LogOptions, sink: EventSink): Promise<void>;
}

/** The broker side a BrokerLogSource needs (manager/broker/broker.ts Broker has it). */
export interface LogBus {
  publish(topic: string, payload: Buffer, opts?: { qos?: 0 | 1 }): Promise<void>;
  subscribe(
    filter: string,
    handler: (m: { topic: string; payload: Buffer }) => void,
  ): Promise<() => Promise<void>>;
}

export interface BrokerLogSourceOptions {
  bus: LogBus;
  clusterId: string;
  newId: () => string;
  /** How long an agent has to send its first chunk (default 10 s). */
  answerTimeoutMs?: number;
}

/** Tasks asked at once per request: the newest ones. */
export const LOG_TASKS_MAX = 32;

/** The tasks worth asking: placed on a node and started (or still meant to run). */
export function logTasks(tasks: Task[], follow: boolean): Task[] {
  return tasks
    .filter(
      (t) =>
        t.nodeId &&
        (follow
          ? t.desiredState <= TaskState.RUNNING
          : t.status.containerId !== undefined || t.status.state >= TaskState.STARTING),
    )
    .sort((a, b) => a.slot - b.slot || a.createdAt - b.createdAt)
    .slice(-LOG_TASKS_MAX);
}

export class BrokerLogSource implements LogSource {
  constructor(private readonly o: BrokerLogSourceOptions) {}

  async stream(target: LogTarget, options: LogOptions, sink: EventSink): Promise<void> {
    const tasks = logTasks(target.tasks, options.follow);
    if (tasks.length === 0) {
      sink.send("warning", {
        message: `service ${target.service.spec.name} has no task with a container to read`,
      });
      return;
    }
    await Promise.all(tasks.map((t) => this.#task(target.service, t, options, sink)));
  }

  async #task(service: Service, task: Task, options: LogOptions, sink: EventSink) {
    const t = topics(this.o.clusterId);
    const reqId = this.o.newId();
    const where = `task ${task.id.slice(0, 12)} on node ${task.nodeId}`;
    let next = 0;
    let answered = false;
    let finish!: (warning?: string) => void;
    const done = new Promise<string | undefined>((r) => {
      finish = r;
    });
    let unsubscribe: () => Promise<void>;
    try {
      unsubscribe = await this.o.bus.subscribe(t.logsChunk(task.nodeId, reqId), (m) => {
        const d = decodeMessage(m.payload, "logsChunk");
        if (!d.ok) return finish(`${where}: the agent sent a malformed answer`);
        const c = d.message;
        if (c.reqId !== reqId || c.seq < next) return;
        next = c.seq + 1;
        answered = true;
        if (c.dropped) {
          sink.send("warning", {
            taskId: task.id,
            message: `${where}: ${c.dropped} lines dropped`,
          });
        }
        for (const l of c.lines) {
          const e: LogEvent = {
            serviceName: service.spec.name,
            taskId: task.id,
            slot: task.slot,
            nodeId: task.nodeId,
            ts: l.ts,
            stream: l.stream,
            line: l.text,
          };
          if (!sink.send("log", e)) return finish();
        }
        if (c.end) finish(c.error ? `${where}: ${c.error}` : undefined);
      });
    } catch (err) {
      // The broker is away (an external broker down): this task's logs only, said so.
      sink.send("warning", { taskId: task.id, message: `${where}: ${(err as Error).message}` });
      return;
    }
    const silence = setTimeout(() => {
      if (!answered) {
        finish(
          `${where}: the agent did not answer within ${this.ms() / 1000}s ` +
            "(is the node down or disconnected? see `fleet node ls`)",
        );
      }
    }, this.ms());
    void sink.closed.then(() => finish());
    try {
      const req = { reqId, taskId: task.id, follow: options.follow };
      if (options.tail !== undefined) Object.assign(req, { tail: options.tail });
      if (options.sinceMs !== undefined) Object.assign(req, { sinceMs: options.sinceMs });
      await this.#publish(t.logs(task.nodeId), encodeMessage("logsRequest", req));
      const warning = await done;
      if (warning) sink.send("warning", { taskId: task.id, message: warning });
    } finally {
      clearTimeout(silence);
      if (options.follow) {
        const cancel = { reqId, taskId: task.id, follow: false, cancel: true };
        await this.#publish(t.logs(task.nodeId), encodeMessage("logsRequest", cancel)).catch(
          () => {},
        );
      }
      await unsubscribe();
    }
  }

  ms(): number {
    return this.o.answerTimeoutMs ?? 10_000;
  }

  #publish(topic: string, bytes: Uint8Array): Promise<void> {
    return this.o.bus.publish(
      topic,
      Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength),
      {
        qos: 1,
      },
    );
  }
}
