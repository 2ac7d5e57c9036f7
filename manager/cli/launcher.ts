// `fleet init`, `fleet join` and `fleet leave` start or stop the manager daemon on this host.
// The daemon (manager work) implements DaemonLauncher; the CLI only parses flags, calls it and
// prints what happened. Until the daemon registers one, these commands say so plainly.
//
// A launcher is found, in order: one registered with `registerDaemonLauncher` (the daemon's
// module does this when it is bundled into the CLI), or the module named by FLEET_LAUNCHER
// (its default export, or its `launcher` export).

import { pathToFileURL } from "node:url";
import { CliError } from "./client.ts";

export interface InitOptions {
  dataDir: string;
  /** Raft/peer listen address (host:port). */
  listenAddr: string;
  /** Address other managers and agents use to reach this one. */
  advertiseAddr?: string;
  /** Broker listen address for agents. */
  brokerAddr?: string;
  /** API socket path and optional TCP address. */
  apiSocket: string;
  apiAddr?: string;
  forceNewCluster: boolean;
  clusterName?: string;
}

export interface JoinOptions {
  dataDir: string;
  token: string;
  /** The managers to contact (host:port). */
  remotes: string[];
  listenAddr: string;
  advertiseAddr?: string;
  apiSocket: string;
}

export interface LeaveOptions {
  dataDir: string;
  force: boolean;
}

export interface InitResult {
  nodeId: string;
  clusterId: string;
  /** The worker join command to print, when known. */
  workerToken?: string;
  managerToken?: string;
}

export interface JoinResult {
  nodeId: string;
  role: "worker" | "manager";
}

export interface DaemonLauncher {
  init(o: InitOptions): Promise<InitResult>;
  join(o: JoinOptions): Promise<JoinResult>;
  leave(o: LeaveOptions): Promise<void>;
}

let registered: DaemonLauncher | undefined;

export function registerDaemonLauncher(l: DaemonLauncher): void {
  registered = l;
}

export async function findLauncher(
  env: Record<string, string | undefined>,
): Promise<DaemonLauncher> {
  if (registered) return registered;
  const path = env.FLEET_LAUNCHER;
  if (path) {
    let mod: { default?: DaemonLauncher; launcher?: DaemonLauncher };
    try {
      mod = await import(pathToFileURL(path).href);
    } catch (err) {
      throw new CliError(`FLEET_LAUNCHER=${path} could not be loaded: ${(err as Error).message}`);
    }
    const l = mod.launcher ?? mod.default;
    if (l && typeof l.init === "function") return l;
    throw new CliError(`FLEET_LAUNCHER=${path} exports no launcher (init, join, leave)`);
  }
  throw new CliError(
    "this build of fleet cannot start a manager yet: the manager daemon is not part of it " +
      "(it arrives with the manager work). Point the CLI at a running manager with --host, " +
      "or set FLEET_LAUNCHER to a module that implements DaemonLauncher",
  );
}
