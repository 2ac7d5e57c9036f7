// The Docker executor: the Engine API through dockerode, on /var/run/docker.sock or DOCKER_HOST.
// Containers carry fleet's labels and NO Docker restart policy: the agent supervises them.
// Engine failures become ExecutorErrors; this module never decides what a task does next.

import Docker from "dockerode";
import { watchContainerEvents } from "./docker-events.ts";
import { toCreateOptions } from "./docker-spec.ts";
import {
  type ContainerConfig,
  type ContainerInfo,
  type ContainerState,
  type Executor,
  ExecutorError,
  type Health,
  normalizeImage,
  type PullProgress,
  type Unwatch,
} from "./executor.ts";

export interface DockerExecutorOptions {
  /** A unix socket path; default DOCKER_HOST (unix:// or tcp://) or /var/run/docker.sock. */
  socketPath?: string;
  /** Engine API calls that take longer fail (pulls and waits are not bounded by it). */
  timeoutMs?: number;
}

function status(err: unknown): number | undefined {
  const code = (err as { statusCode?: unknown })?.statusCode;
  return typeof code === "number" ? code : undefined;
}

function message(err: unknown): string {
  const json = (err as { json?: { message?: unknown } })?.json;
  if (json && typeof json.message === "string") return json.message;
  return err instanceof Error ? err.message : String(err);
}

/** Maps a dockerode error to an ExecutorError; `what` says what was being done. */
export function engineError(what: string, err: unknown, notFound = "not_found"): ExecutorError {
  const code = status(err);
  const text = `${what}: ${message(err)}`;
  if (code === 404) return new ExecutorError(notFound as "not_found", text, false, err);
  if (code === 409) return new ExecutorError("conflict", text, false, err);
  if (code === 400) return new ExecutorError("bad_config", text, false, err);
  // No HTTP status: the engine could not be reached, which may pass. Its own errors do not.
  return new ExecutorError("engine", text, code === undefined, err);
}

function dockerOptions(o: DockerExecutorOptions): Docker.DockerOptions {
  const timeout = o.timeoutMs ?? 30_000;
  if (o.socketPath) return { socketPath: o.socketPath, timeout };
  const host = process.env.DOCKER_HOST;
  if (host?.startsWith("unix://")) return { socketPath: host.slice(7), timeout };
  if (host?.startsWith("tcp://")) {
    const u = new URL(host.replace(/^tcp:/, "http:"));
    return { host: u.hostname, port: Number(u.port || 2375), timeout };
  }
  return { socketPath: "/var/run/docker.sock", timeout };
}

function time(s: string | undefined): number {
  const t = s ? Date.parse(s) : Number.NaN;
  return Number.isFinite(t) && t > 0 ? t : 0;
}

function stateOf(s: string | undefined): ContainerState {
  return s === "created" || s === "running" || s === "paused" || s === "exited" || s === "dead"
    ? s
    : "other";
}

function healthOf(s: string | undefined): Health {
  return s === "starting" || s === "healthy" || s === "unhealthy" ? s : "none";
}

/** The engine's inspect answer in fleet's terms. */
export function infoOf(i: Docker.ContainerInspectInfo): ContainerInfo {
  const state = stateOf(i.State.Status);
  const info: ContainerInfo = {
    id: i.Id,
    name: i.Name.replace(/^\//, ""),
    image: i.Config.Image,
    labels: i.Config.Labels ?? {},
    state,
    health: healthOf(i.State.Health?.Status),
    startedAt: time(i.State.StartedAt),
    finishedAt: time(i.State.FinishedAt),
  };
  if (state === "exited" || state === "dead") info.exitCode = i.State.ExitCode;
  if (i.State.Error) info.error = i.State.Error;
  return info;
}

/** Splits Docker's multiplexed log stream (8-byte frame headers) into text. */
export function demuxLogs(buf: Buffer): string {
  const parts: Buffer[] = [];
  let at = 0;
  while (at + 8 <= buf.length && (buf[at] === 0 || buf[at] === 1 || buf[at] === 2)) {
    const size = buf.readUInt32BE(at + 4);
    parts.push(buf.subarray(at + 8, at + 8 + size));
    at += 8 + size;
  }
  if (at === 0) return buf.toString("utf8");
  return Buffer.concat(parts).toString("utf8");
}

export class DockerExecutor implements Executor {
  readonly docker: Docker;
  readonly #options: DockerExecutorOptions;

  constructor(options: DockerExecutorOptions = {}) {
    this.#options = options;
    this.docker = new Docker(dockerOptions(options));
  }

  watch(
    labels: Record<string, string>,
    onChange: (id: string | undefined) => void,
    log?: (line: string) => void,
  ): Unwatch {
    // A client of its own without the request timeout: an idle event stream is not a failure.
    const { timeout: _, ...o } = dockerOptions(this.#options);
    return watchContainerEvents(new Docker(o), labels, onChange, log ? { log } : {});
  }

  async hasImage(image: string): Promise<boolean> {
    try {
      await this.docker.getImage(normalizeImage(image)).inspect();
      return true;
    } catch (err) {
      if (status(err) === 404) return false;
      throw engineError(`image ${image}`, err);
    }
  }

  async pull(image: string, onProgress?: (p: PullProgress) => void): Promise<void> {
    const ref = normalizeImage(image);
    let stream: NodeJS.ReadableStream;
    try {
      stream = await this.docker.pull(ref);
    } catch (err) {
      // 404: the registry has no such image; anything else (unreachable, auth) may pass later.
      if (status(err) === 404) throw engineError(`pull ${ref}`, err, "image_not_found");
      throw new ExecutorError("pull_failed", `pull ${ref}: ${message(err)}`, true, err);
    }
    const layers = new Map<string, { current: number; total: number }>();
    await new Promise<void>((resolve, reject) => {
      const onEvent = (e: PullEvent) => {
        if (e.error) return;
        if (e.id && e.progressDetail?.total) {
          layers.set(e.id, {
            current: e.progressDetail.current ?? 0,
            total: e.progressDetail.total,
          });
        }
        onProgress?.(progressOf(e, layers));
      };
      this.docker.modem.followProgress(
        stream,
        (err: unknown, output: PullEvent[]) => {
          const failed = output?.find((e) => e.error);
          if (err || failed) {
            const text = failed?.error ?? message(err);
            reject(new ExecutorError("pull_failed", `pull ${ref}: ${text}`, true, err));
          } else resolve();
        },
        onEvent,
      );
    });
  }

  async create(config: ContainerConfig): Promise<string> {
    try {
      const c = await this.docker.createContainer(toCreateOptions(config));
      return c.id;
    } catch (err) {
      throw engineError(`create ${config.name}`, err, "image_not_found");
    }
  }

  async start(id: string): Promise<void> {
    try {
      await this.docker.getContainer(id).start();
    } catch (err) {
      if (status(err) === 304) return;
      throw engineError(`start ${id}`, err);
    }
  }

  async wait(id: string): Promise<number> {
    try {
      const r = (await this.docker.getContainer(id).wait()) as { StatusCode: number };
      return r.StatusCode;
    } catch (err) {
      throw engineError(`wait ${id}`, err);
    }
  }

  async stop(id: string, graceMs: number): Promise<void> {
    try {
      await this.docker.getContainer(id).stop({ t: Math.max(0, Math.ceil(graceMs / 1000)) });
    } catch (err) {
      if (status(err) === 304) return;
      throw engineError(`stop ${id}`, err);
    }
  }

  async remove(id: string): Promise<void> {
    try {
      await this.docker.getContainer(id).remove({ force: true, v: true });
    } catch (err) {
      if (status(err) === 404) return;
      throw engineError(`remove ${id}`, err);
    }
  }

  async inspect(id: string): Promise<ContainerInfo | undefined> {
    try {
      return infoOf(await this.docker.getContainer(id).inspect());
    } catch (err) {
      if (status(err) === 404) return undefined;
      throw engineError(`inspect ${id}`, err);
    }
  }

  async list(labels: Record<string, string>): Promise<ContainerInfo[]> {
    let found: Docker.ContainerInfo[];
    try {
      const label = Object.entries(labels).map(([k, v]) => `${k}=${v}`);
      found = await this.docker.listContainers({ all: true, filters: { label } });
    } catch (err) {
      throw engineError("list containers", err);
    }
    const infos = await Promise.all(found.map((c) => this.inspect(c.Id)));
    return infos.filter((i): i is ContainerInfo => i !== undefined);
  }

  async logs(id: string, tailLines: number): Promise<string> {
    try {
      const c = this.docker.getContainer(id);
      const buf = await c.logs({ stdout: true, stderr: true, tail: tailLines, follow: false });
      return demuxLogs(Buffer.isBuffer(buf) ? buf : Buffer.from(String(buf)));
    } catch (err) {
      throw engineError(`logs ${id}`, err);
    }
  }
}

interface PullEvent {
  status?: string;
  id?: string;
  error?: string;
  progressDetail?: { current?: number; total?: number };
}

function progressOf(e: PullEvent, layers: Map<string, { current: number; total: number }>) {
  let currentBytes = 0;
  let totalBytes = 0;
  for (const l of layers.values()) {
    currentBytes += l.current;
    totalBytes += l.total;
  }
  const p: PullProgress = { status: e.status ?? "" };
  if (totalBytes > 0) Object.assign(p, { currentBytes, totalBytes });
  return p;
}
