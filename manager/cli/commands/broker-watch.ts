// `fleet broker-config mosquitto --watch [--reload-cmd CMD]`: keeps an external mosquitto's ACL
// and CRL current. It follows the manager's event stream (node and cluster changes: a manager
// joined or left, a node removed and its serial revoked), re-reads `/v1/ca/broker-state`, and
// when the managers, removed nodes or revoked serials changed, or the CRL is a day old (it is
// valid 7 days), rewrites `acl` and `crl.pem` (tmp + rename) and runs the reload command
// (e.g. `kill -HUP $(pidof mosquitto)`: mosquitto 2.0 rereads its acl_file and crlfile on
// SIGHUP). A lost manager connection is retried with backoff; the command ends on SIGINT or
// SIGTERM.

import { spawn } from "node:child_process";
import { renameSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { aclFile } from "../../ca/mosquitto-config.ts";
import type { CliContext } from "../command.ts";

export interface BrokerState {
  clusterId: string;
  crlPem: string;
  managers: string[];
  removed: string[];
  serials: string[];
}

export interface WatchOptions {
  dir: string;
  admins: string[];
  reloadCmd?: string;
  /** Rewrite the CRL at least this often even when nothing changed (default one day). */
  crlRefreshMs?: number;
}

/** What the files depend on besides the CRL's dates: a change means rewrite and reload. */
export function stateKey(s: BrokerState): string {
  return JSON.stringify([s.managers, s.removed, s.serials]);
}

function write(path: string, text: string): void {
  writeFileSync(`${path}.tmp`, text, { mode: 0o644 });
  renameSync(`${path}.tmp`, path);
}

/** Writes the ACL and CRL of `state` into `dir`. */
export function writeBrokerFiles(dir: string, state: BrokerState, admins: string[]): void {
  const acl = aclFile({
    clusterId: state.clusterId,
    managers: state.managers,
    admins,
    removed: state.removed,
  });
  write(join(dir, "acl"), acl);
  write(join(dir, "crl.pem"), state.crlPem);
}

function runReload(cmd: string, timeoutMs = 30_000): Promise<{ code: number; out: string }> {
  return new Promise((resolve) => {
    const p = spawn("sh", ["-c", cmd], { stdio: ["ignore", "pipe", "pipe"] });
    let out = "";
    p.stdout?.on("data", (d) => {
      out = (out + d).slice(-2000);
    });
    p.stderr?.on("data", (d) => {
      out = (out + d).slice(-2000);
    });
    const timer = setTimeout(() => p.kill("SIGKILL"), timeoutMs);
    p.on("error", (err) => {
      clearTimeout(timer);
      resolve({ code: 127, out: err.message });
    });
    p.on("close", (code) => {
      clearTimeout(timer);
      resolve({ code: code ?? 1, out: out.trim() });
    });
  });
}

function sleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal.aborted) return resolve();
    const t = setTimeout(done, ms);
    function done() {
      clearTimeout(t);
      signal.removeEventListener("abort", done);
      resolve();
    }
    signal.addEventListener("abort", done, { once: true });
  });
}

/** Runs until `signal` (or SIGINT/SIGTERM). `written` is the key of the files already there. */
export async function watchBroker(
  c: CliContext,
  o: WatchOptions,
  written: string,
  signal: AbortSignal,
): Promise<number> {
  const stop = new AbortController();
  const onSignal = () => stop.abort();
  signal.addEventListener("abort", onSignal, { once: true });
  process.once("SIGTERM", onSignal);
  const refreshMs = o.crlRefreshMs ?? 24 * 3600_000;
  let last = written;
  let lastWrite = Date.now();
  let dirty = false;
  let wake: (() => void) | undefined;
  const kick = () => {
    dirty = true;
    wake?.();
  };

  // The event stream, reconnected with backoff; every (re)connect re-reads the state too.
  const follow = async () => {
    for (let attempt = 0; !stop.signal.aborted; attempt++) {
      const started = Date.now();
      try {
        kick();
        await c.client().stream("/v1/events?type=node&type=cluster", () => kick(), stop.signal);
      } catch (err) {
        c.io.err(`broker-config: event stream: ${(err as Error).message}`);
      }
      if (Date.now() - started > 30_000) attempt = 0;
      await sleep(Math.min(30_000, 500 * 2 ** attempt), stop.signal);
    }
  };
  void follow();

  try {
    while (!stop.signal.aborted) {
      if (!dirty) {
        await Promise.race([
          new Promise<void>((r) => {
            wake = r;
          }),
          sleep(Math.min(refreshMs, 3600_000), stop.signal),
        ]);
        wake = undefined;
      }
      if (stop.signal.aborted) break;
      // Coalesce a burst of events (a heartbeat storm updates nodes) into one read.
      await sleep(300, stop.signal);
      dirty = false;
      let state: BrokerState;
      try {
        state = (await c.client().call("GET", "/v1/ca/broker-state")) as BrokerState;
      } catch (err) {
        c.io.err(`broker-config: reading the broker state: ${(err as Error).message}`);
        await sleep(2000, stop.signal);
        dirty = true;
        continue;
      }
      const key = stateKey(state);
      if (key === last && Date.now() - lastWrite < refreshMs) continue;
      writeBrokerFiles(o.dir, state, o.admins);
      const why = key === last ? "CRL refreshed" : "updated";
      last = key;
      lastWrite = Date.now();
      const summary =
        `${why}: ${state.managers.length} managers, ${state.removed.length} removed nodes, ` +
        `${state.serials.length} revoked serials`;
      if (!o.reloadCmd) {
        c.io.out(`${summary} (no --reload-cmd: reload the broker yourself)`);
        continue;
      }
      const r = await runReload(o.reloadCmd);
      if (r.code === 0) c.io.out(`${summary}; reloaded`);
      else c.io.err(`${summary}; reload command exited ${r.code}: ${r.out}`);
    }
  } finally {
    signal.removeEventListener("abort", onSignal);
    process.removeListener("SIGTERM", onSignal);
    stop.abort();
  }
  return 0;
}
