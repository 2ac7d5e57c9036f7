// The Executor: the only way the agent touches a container runtime. The worker decides, the
// executor does; it never decides what a task should do next and never retries on its own.
// Implementations: docker.ts (the Docker Engine API through dockerode) and memory.ts (tests).

import { FleetError } from "../../core/errors.ts";
import type { Healthcheck, Mount } from "../../core/model/types.ts";

/** Labels every fleet container carries; containers are found again by them. */
export const LABEL_TASK_ID = "fleet.task.id";
export const LABEL_SERVICE_ID = "fleet.service.id";
export const LABEL_NODE_ID = "fleet.node.id";

/** What to create: a task's container spec resolved to one container. */
export interface ContainerConfig {
  name: string;
  image: string;
  /** Replaces the image's entrypoint (swarm: ContainerSpec.Command). */
  command?: string[];
  /** Replaces the image's cmd (swarm: ContainerSpec.Args). */
  args?: string[];
  env?: string[];
  labels: Record<string, string>;
  mounts?: Mount[];
  healthcheck?: Healthcheck;
  user?: string;
  /** `host[:container[:permissions]]`, as `docker run --device`. */
  devices?: string[];
  privileged?: boolean;
  nanoCPUs?: number;
  memoryBytes?: number;
}

export type ContainerState = "created" | "running" | "paused" | "exited" | "dead" | "other";
export type Health = "none" | "starting" | "healthy" | "unhealthy";

export interface ContainerInfo {
  id: string;
  name: string;
  image: string;
  labels: Record<string, string>;
  state: ContainerState;
  health: Health;
  /** Set once the container has exited. */
  exitCode?: number;
  /** Milliseconds since the epoch; 0 when never started / not finished. */
  startedAt: number;
  finishedAt: number;
  /** The engine's error for a container that could not start. */
  error?: string;
}

export interface PullProgress {
  /** The engine's status line ("Downloading", "Pull complete", …). */
  status: string;
  /** Bytes done and total over the layers reported so far, when known. */
  currentBytes?: number;
  totalBytes?: number;
}

export interface Executor {
  /** Whether the image is present locally (no network). */
  hasImage(image: string): Promise<boolean>;
  /** Pulls the image from its registry, reporting progress. */
  pull(image: string, onProgress?: (p: PullProgress) => void): Promise<void>;
  /** Creates (does not start) a container; returns its id. */
  create(config: ContainerConfig): Promise<string>;
  /** Starts a created or exited container; starting a running one is not an error. */
  start(id: string): Promise<void>;
  /** Resolves with the exit code once the container is not running. */
  wait(id: string): Promise<number>;
  /** SIGTERM, then SIGKILL after the grace period; stopping a stopped one is not an error. */
  stop(id: string, graceMs: number): Promise<void>;
  /** Removes the container (forcefully); removing a missing one is not an error. */
  remove(id: string): Promise<void>;
  /** The container's state; undefined when it does not exist. */
  inspect(id: string): Promise<ContainerInfo | undefined>;
  /** Every container (running or not) carrying all of these labels. */
  list(labels: Record<string, string>): Promise<ContainerInfo[]>;
  /** The last lines of the container's output (stdout and stderr interleaved). */
  logs(id: string, tailLines: number): Promise<string>;
  /**
   * Optional: calls `onChange` as soon as a container carrying all of these labels changes
   * (its id), or with undefined when changes may have been missed (stream (re)connected).
   * Without it the worker's poll alone notices changes. Returns the function that stops it.
   */
  watch?(
    labels: Record<string, string>,
    onChange: (containerId: string | undefined) => void,
    log?: (line: string) => void,
  ): Unwatch;
}

export type Unwatch = () => void;

export type ExecutorErrorCode =
  | "not_found"
  | "image_not_found"
  | "pull_failed"
  | "bad_config"
  | "conflict"
  | "engine";

/** A runtime failure; `retryable` says whether the same call may succeed later. */
export class ExecutorError extends FleetError {
  override readonly code: ExecutorErrorCode;
  override readonly cause: unknown;

  constructor(code: ExecutorErrorCode, message: string, retryable: boolean, cause?: unknown) {
    super("executor", code, message, retryable);
    this.name = "ExecutorError";
    this.code = code;
    this.cause = cause;
  }
}

/** `image` with `:latest` added when it names neither a tag nor a digest (as docker does). */
export function normalizeImage(image: string): string {
  if (image.includes("@")) return image;
  const lastSlash = image.lastIndexOf("/");
  return image.slice(lastSlash + 1).includes(":") ? image : `${image}:latest`;
}
