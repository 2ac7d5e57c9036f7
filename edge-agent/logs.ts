// The agent's side of `fleet service logs`: a manager publishes a logsRequest on the node's
// `n/<node>/logs` topic; the agent finds the task's container and streams its output back on
// `n/<node>/logs/<reqId>` as logsChunk messages (batched, bounded), the last one marked `end`.
// A followed stream runs until the manager cancels it, the container's log ends, or a time
// bound; a node serves a few streams at once and refuses more with a clear error.

import type Docker from "dockerode";
import {
  decodeMessage,
  encodeMessage,
  type MessageBodies,
  type WireLogLine,
} from "../core/codec/index.ts";
import { topics } from "../core/topics.ts";
import { type Executor, LABEL_TASK_ID } from "./executor/executor.ts";
import { dockerStreamer } from "./logs-docker.ts";

export interface LogStreamOptions {
  tail?: number;
  sinceMs?: number;
  follow: boolean;
  signal: AbortSignal;
}

/** Reads one container's output line by line (the Docker one: edge-agent/logs-docker.ts). */
export interface LogStreamer {
  stream(id: string, o: LogStreamOptions, onLine: (l: WireLogLine) => void): Promise<void>;
}

export interface LogServerOptions {
  clusterId: string;
  nodeId: string;
  publish(topic: string, payload: Uint8Array, qos: 0 | 1): boolean;
  /** The container running (or last run for) a task, if this node has one. */
  containerOf(taskId: string): Promise<string | undefined>;
  streamer: LogStreamer;
  log: (line: string) => void;
  /** Streams served at once (default 8). */
  maxStreams?: number;
  /** A followed stream ends after this long (default 1 h); the CLI can ask again. */
  followMaxMs?: number;
  /** Lines are sent every flushMs (default 200) or once a chunk is full. */
  flushMs?: number;
}

const CHUNK_LINES = 200;
const CHUNK_BYTES = 64 * 1024;
/** Lines held while the link is slower than the container: beyond it lines are dropped. */
const BUFFER_LINES = 2000;
const LINE_BYTES = 16_384;

interface Stream {
  abort: AbortController;
  seq: number;
  lines: WireLogLine[];
  bytes: number;
  dropped: number;
  timer?: NodeJS.Timeout;
}

export class LogServer {
  readonly topic: string;
  readonly #o: LogServerOptions;
  readonly #streams = new Map<string, Stream>();
  /** Requests refused as malformed (counted, not answered: there is no request id to use). */
  malformed = 0;

  constructor(o: LogServerOptions) {
    this.#o = o;
    this.topic = topics(o.clusterId).logs(o.nodeId);
  }

  get active(): number {
    return this.#streams.size;
  }

  /** One message on the node's logs topic. Never throws. */
  onRequest(payload: Uint8Array): void {
    const d = decodeMessage(payload, "logsRequest");
    if (!d.ok) {
      this.malformed++;
      this.#o.log(`edge-agent: logs: bad request: ${d.error.message}`);
      return;
    }
    const r = d.message;
    if (r.cancel) {
      this.#streams.get(r.reqId)?.abort.abort();
      return;
    }
    if (this.#streams.has(r.reqId)) return; // a resend of a request already served
    if (this.#streams.size >= (this.#o.maxStreams ?? 8)) {
      this.#send(r.reqId, { seq: 0, lines: [], end: true, error: this.#busy() });
      return;
    }
    void this.#serve(r);
  }

  /** Ends every stream (the agent stops). */
  stop(): void {
    for (const s of this.#streams.values()) s.abort.abort();
  }

  #busy(): string {
    return `node ${this.#o.nodeId} already streams ${this.#streams.size} logs; try again later`;
  }

  async #serve(r: MessageBodies["logsRequest"]): Promise<void> {
    const s: Stream = { abort: new AbortController(), seq: 0, lines: [], bytes: 0, dropped: 0 };
    this.#streams.set(r.reqId, s);
    const bound = r.follow
      ? setTimeout(() => s.abort.abort(), this.#o.followMaxMs ?? 3_600_000)
      : undefined;
    let error: string | undefined;
    try {
      const id = await this.#o.containerOf(r.taskId);
      if (!id) error = `task ${r.taskId} has no container on node ${this.#o.nodeId}`;
      else {
        const o: LogStreamOptions = { follow: r.follow, signal: s.abort.signal };
        if (r.tail !== undefined) o.tail = r.tail;
        if (r.sinceMs !== undefined) o.sinceMs = r.sinceMs;
        await this.#o.streamer.stream(id, o, (line) => this.#add(r.reqId, s, line));
      }
    } catch (err) {
      if (!s.abort.signal.aborted) error = (err as Error).message.slice(0, 1000);
    } finally {
      clearTimeout(bound);
      clearTimeout(s.timer);
      this.#streams.delete(r.reqId);
    }
    this.#flush(r.reqId, s, error === undefined ? { end: true } : { end: true, error });
  }

  #add(reqId: string, s: Stream, line: WireLogLine): void {
    if (s.abort.signal.aborted) return;
    if (s.lines.length >= BUFFER_LINES) {
      s.dropped++;
      return;
    }
    const text = line.text.length > LINE_BYTES ? line.text.slice(0, LINE_BYTES) : line.text;
    s.lines.push(text === line.text ? line : { ...line, text });
    s.bytes += text.length + 16;
    if (s.lines.length >= CHUNK_LINES || s.bytes >= CHUNK_BYTES) this.#flush(reqId, s);
    else s.timer ??= setTimeout(() => this.#flush(reqId, s), this.#o.flushMs ?? 200);
  }

  #flush(reqId: string, s: Stream, last: { end?: boolean; error?: string } = {}): void {
    clearTimeout(s.timer);
    s.timer = undefined;
    do {
      const lines: WireLogLine[] = [];
      let bytes = 0;
      while (s.lines.length > 0 && lines.length < CHUNK_LINES && bytes < CHUNK_BYTES) {
        const l = s.lines.shift()!;
        bytes += l.text.length + 16;
        lines.push(l);
      }
      s.bytes = Math.max(0, s.bytes - bytes);
      const body: Omit<MessageBodies["logsChunk"], "reqId"> = { seq: s.seq++, lines };
      if (s.dropped > 0) body.dropped = s.dropped;
      s.dropped = 0;
      if (s.lines.length === 0) Object.assign(body, last);
      if (lines.length > 0 || body.end || body.dropped) this.#send(reqId, body);
    } while (s.lines.length > 0);
  }

  #send(reqId: string, body: Omit<MessageBodies["logsChunk"], "reqId">): void {
    const topic = topics(this.#o.clusterId).logsChunk(this.#o.nodeId, reqId);
    this.#o.publish(topic, encodeMessage("logsChunk", { reqId, ...body }), 1);
  }
}

/** Finds a task's container: the worker's last status for it, else the engine's labels. */
export function containerFinder(
  executor: Executor,
  statuses: () => { taskId: string; containerId?: string }[],
): (taskId: string) => Promise<string | undefined> {
  return async (taskId) => {
    const known = statuses().find((u) => u.taskId === taskId)?.containerId;
    if (known) return known;
    const found = await executor.list({ [LABEL_TASK_ID]: taskId });
    return found[0]?.id;
  };
}

/** Docker's line stream with times when the executor talks to Docker, else the plain tail. */
export function streamerFor(executor: Executor): LogStreamer {
  const docker = (executor as { docker?: Docker }).docker;
  return docker ? dockerStreamer(docker) : plainStreamer(executor);
}

/** For executors without a line stream (the in-memory one): the tail, no follow, no times. */
export function plainStreamer(executor: Executor): LogStreamer {
  return {
    async stream(id, o, onLine) {
      const text = await executor.logs(id, o.tail ?? 10_000);
      for (const t of text.split("\n")) {
        if (t !== "") onLine({ ts: 0, stream: "stdout", text: t });
      }
    },
  };
}
