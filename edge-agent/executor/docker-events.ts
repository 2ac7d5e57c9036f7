// The engine's event stream (GET /events), filtered to fleet's containers by label, so the
// worker hears of a container's death, start or health change at once instead of at its next
// poll. The stream is reconnected with capped exponential backoff when it ends or fails; every
// (re)connect reports a change without a container id, since events may have been missed
// meanwhile (the worker then looks at everything). The worker's slow poll stays as the net.

import type Docker from "dockerode";
import { backoffDelay } from "../session/backoff.ts";
import type { Unwatch } from "./executor.ts";

/** The container actions that can change what the worker decides. */
export const WATCHED_ACTIONS = [
  "create",
  "start",
  "die",
  "stop",
  "kill",
  "oom",
  "pause",
  "unpause",
  "destroy",
  "health_status",
] as const;

export interface WatchOptions {
  retryBaseMs?: number;
  retryMaxMs?: number;
  random?: () => number;
  log?: (line: string) => void;
}

interface EngineEvent {
  Type?: string;
  Action?: string;
  id?: string;
  Actor?: { ID?: string };
}

/** Splits a stream of JSON lines; a line that is not JSON is skipped. */
export function eventLines(onEvent: (e: EngineEvent) => void): (chunk: Buffer | string) => void {
  let rest = "";
  return (chunk) => {
    rest += String(chunk);
    // One event is a few hundred bytes; a runaway line without newline is cut off.
    if (rest.length > 1024 * 1024) rest = "";
    const lines = rest.split("\n");
    rest = lines.pop() ?? "";
    for (const line of lines) {
      if (!line.trim()) continue;
      try {
        onEvent(JSON.parse(line) as EngineEvent);
      } catch {
        // not an event: ignore it
      }
    }
  };
}

/**
 * Follows the engine's container events for containers carrying all of `labels`; `onChange`
 * gets the container id, or undefined after a (re)connect. Returns the function that stops it.
 */
export function watchContainerEvents(
  docker: Docker,
  labels: Record<string, string>,
  onChange: (containerId: string | undefined) => void,
  o: WatchOptions = {},
): Unwatch {
  let stopped = false;
  let attempt = 0;
  let retry: NodeJS.Timeout | undefined;
  let stream: NodeJS.ReadableStream | undefined;
  const filters = {
    type: ["container" as const],
    label: Object.entries(labels).map(([k, v]) => `${k}=${v}`),
    event: [...WATCHED_ACTIONS],
  };
  const again = (why: string) => {
    stream = undefined;
    if (stopped || retry) return;
    const delay = backoffDelay(
      attempt++,
      { baseMs: o.retryBaseMs ?? 500, maxMs: o.retryMaxMs ?? 30_000 },
      o.random ?? Math.random,
    );
    o.log?.(`executor: engine event stream ${why}; reconnecting in ${Math.round(delay)} ms`);
    retry = setTimeout(() => {
      retry = undefined;
      connect();
    }, delay);
    retry.unref?.();
  };
  const connect = () => {
    if (stopped) return;
    docker.getEvents({ filters }).then(
      (s) => {
        if (stopped) {
          destroy(s);
          return;
        }
        stream = s;
        attempt = 0;
        onChange(undefined);
        const feed = eventLines((e) => {
          if (e.Type !== undefined && e.Type !== "container") return;
          onChange(e.Actor?.ID ?? e.id);
        });
        s.on("data", feed);
        s.once("end", () => again("ended"));
        s.once("error", (err: Error) => again(`failed: ${err.message}`));
      },
      (err: unknown) => again(`unavailable: ${err instanceof Error ? err.message : String(err)}`),
    );
  };
  connect();
  return () => {
    stopped = true;
    clearTimeout(retry);
    if (stream) destroy(stream);
    stream = undefined;
  };
}

function destroy(s: NodeJS.ReadableStream): void {
  s.removeAllListeners();
  s.on("error", () => {});
  (s as unknown as { destroy?: () => void }).destroy?.();
}
