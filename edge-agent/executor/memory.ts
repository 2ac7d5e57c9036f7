// An in-memory Executor for tests: containers are records, images a set, a registry a set of
// pullable names. It imitates the engine's observable behaviour closely enough to pass the same
// conformance suite as the Docker executor; it never runs anything.
//
// Simulated programs: a container whose command+args mention `exit N` exits with N as soon as it
// starts; anything else runs until stopped (exit 143) or `exit(id, code)` is called. A
// healthcheck whose test mentions `false` turns unhealthy, any other healthy.

import {
  type ContainerConfig,
  type ContainerInfo,
  type Executor,
  ExecutorError,
  type Health,
  normalizeImage,
  type PullProgress,
} from "./executor.ts";

interface Record_ {
  info: ContainerInfo;
  config: ContainerConfig;
  logs: string[];
  waiters: ((code: number) => void)[];
}

export class MemoryExecutor implements Executor {
  readonly images = new Set<string>();
  /** Images a pull can fetch. */
  readonly registry = new Set<string>();
  /** Calls made, by method name, so tests can tell adoption from recreation. */
  readonly calls: Record<string, number> = {};
  /** Grace periods stop was called with, in order. */
  readonly stopGraces: number[] = [];
  /** When false, healthchecks stay "starting" until setHealth is called. */
  autoHealth = true;
  readonly #containers = new Map<string, Record_>();
  #seq = 0;
  readonly #now: () => number;

  constructor(now: () => number = Date.now) {
    this.#now = now;
  }

  #count(name: string): void {
    this.calls[name] = (this.calls[name] ?? 0) + 1;
  }

  #get(id: string): Record_ {
    const c =
      this.#containers.get(id) ?? [...this.#containers.values()].find((r) => r.info.name === id);
    if (!c) throw new ExecutorError("not_found", `no such container ${id}`, false);
    return c;
  }

  async hasImage(image: string): Promise<boolean> {
    return this.images.has(normalizeImage(image));
  }

  async pull(image: string, onProgress?: (p: PullProgress) => void): Promise<void> {
    this.#count("pull");
    const ref = normalizeImage(image);
    if (!this.registry.has(ref)) {
      throw new ExecutorError("image_not_found", `pull ${ref}: not found in registry`, false);
    }
    onProgress?.({ status: "Downloading", currentBytes: 50, totalBytes: 100 });
    onProgress?.({ status: "Pull complete", currentBytes: 100, totalBytes: 100 });
    this.images.add(ref);
  }

  async create(config: ContainerConfig): Promise<string> {
    this.#count("create");
    if (!this.images.has(normalizeImage(config.image))) {
      throw new ExecutorError("image_not_found", `no such image ${config.image}`, false);
    }
    for (const c of this.#containers.values()) {
      if (c.info.name === config.name) {
        throw new ExecutorError("conflict", `container name ${config.name} is in use`, false);
      }
    }
    const id = `mem${(++this.#seq).toString(16).padStart(12, "0")}`;
    const info: ContainerInfo = {
      id,
      name: config.name,
      image: config.image,
      labels: { ...config.labels },
      state: "created",
      health: "none",
      startedAt: 0,
      finishedAt: 0,
    };
    this.#containers.set(id, { info, config, logs: [], waiters: [] });
    return id;
  }

  async start(id: string): Promise<void> {
    this.#count("start");
    const c = this.#get(id);
    if (c.info.state === "running") return;
    Object.assign(c.info, { state: "running", startedAt: this.#now(), finishedAt: 0 });
    delete c.info.exitCode;
    c.info.health = c.config.healthcheck ? "starting" : "none";
    const program = [...(c.config.command ?? []), ...(c.config.args ?? [])].join(" ");
    const echo = /echo ([^;&|]+)/.exec(program);
    if (echo) c.logs.push(echo[1]!.trim());
    const exit = /exit (\d+)/.exec(program);
    if (exit) this.exit(c.info.id, Number(exit[1]));
    else if (c.config.healthcheck && this.autoHealth) {
      const bad = c.config.healthcheck.test.join(" ").includes("false");
      c.info.health = bad ? "unhealthy" : "healthy";
    }
  }

  /** Test hook: the container's process ends with `code`. */
  exit(id: string, code: number): void {
    const c = this.#get(id);
    if (c.info.state !== "running") return;
    Object.assign(c.info, { state: "exited", exitCode: code, finishedAt: this.#now() });
    if (c.info.health !== "none") c.info.health = "unhealthy";
    for (const w of c.waiters.splice(0)) w(code);
  }

  /** Test hook: the healthcheck reports `health`. */
  setHealth(id: string, health: Health): void {
    this.#get(id).info.health = health;
  }

  async wait(id: string): Promise<number> {
    const c = this.#get(id);
    if (c.info.state !== "running") return c.info.exitCode ?? 0;
    return new Promise((resolve) => c.waiters.push(resolve));
  }

  async stop(id: string, graceMs: number): Promise<void> {
    this.#count("stop");
    this.stopGraces.push(graceMs);
    this.exit(id, 143);
  }

  async remove(id: string): Promise<void> {
    this.#count("remove");
    const c = this.#containers.get(id);
    if (!c) return;
    this.exit(id, 137);
    this.#containers.delete(id);
  }

  async inspect(id: string): Promise<ContainerInfo | undefined> {
    const c = this.#containers.get(id);
    return c ? structuredClone(c.info) : undefined;
  }

  async list(labels: Record<string, string>): Promise<ContainerInfo[]> {
    this.#count("list");
    const want = Object.entries(labels);
    return [...this.#containers.values()]
      .filter((c) => want.every(([k, v]) => c.info.labels[k] === v))
      .map((c) => structuredClone(c.info));
  }

  async logs(id: string, tailLines: number): Promise<string> {
    const lines = this.#get(id).logs.slice(-tailLines);
    return lines.length > 0 ? `${lines.join("\n")}\n` : "";
  }
}
