// Wires the agent's parts: state (data dir) -> worker (executor) <-> session (MQTT), with the
// hardware labels in the node description. No decisions here: each part owns its own.

import { mkdirSync, readFileSync } from "node:fs";
import type { AgentConfig } from "./config.ts";
import type { Executor } from "./executor/executor.ts";
import { describeNode, detectHardware } from "./labels/labels.ts";
import { Session, type SessionTls } from "./session/session.ts";
import { loadState, saveState } from "./state/state.ts";
import { Worker } from "./worker/worker.ts";

export const AGENT_VERSION = "0.1.0";

export interface Agent {
  worker: Worker;
  session: Session;
  stop(): Promise<void>;
}

export interface AgentHooks {
  log: (line: string) => void;
  onConnected?: (broker: string) => void;
}

function tlsOf(c: AgentConfig): SessionTls | undefined {
  if (!c.tls) return undefined;
  const read = (p?: string) => (p ? readFileSync(p) : undefined);
  const out: SessionTls = {};
  const cert = read(c.tls.certFile);
  const key = read(c.tls.keyFile);
  const ca = read(c.tls.caFile);
  if (cert) out.cert = cert;
  if (key) out.key = key;
  if (ca) out.ca = ca;
  return out;
}

export function startAgent(c: AgentConfig, executor: Executor, hooks: AgentHooks): Agent {
  mkdirSync(c.dataDir, { recursive: true, mode: 0o700 });
  const loaded = loadState(c.dataDir);
  if (loaded.error) hooks.log(`edge-agent: ${loaded.error.message}`);
  const hw = detectHardware({ configured: c.labels });
  // The session is the worker's status sink and the worker is the session's; one of them
  // must exist first, so the sink forwards to a session assigned just below.
  let session: Session | undefined;
  const worker = new Worker({
    executor,
    nodeId: c.nodeId,
    sink: { report: (u) => session?.report(u) },
    initial: loaded.state,
    initialTrusted: loaded.found,
    persist: (s) => saveState(c.dataDir, s),
    pollIntervalMs: c.pollIntervalMs,
    offlineAfterMs: c.offlineAfterMs,
    log: hooks.log,
  });
  const tls = tlsOf(c);
  session = new Session({
    clusterId: c.clusterId,
    nodeId: c.nodeId,
    brokers: c.brokers,
    worker,
    describe: () => describeNode(c.hostname, hw),
    agentVersion: AGENT_VERSION,
    heartbeatPeriodMs: c.heartbeatPeriodMs,
    diskPath: c.dataDir,
    log: hooks.log,
    ...(tls ? { tls } : {}),
    ...(hooks.onConnected ? { onConnected: hooks.onConnected } : {}),
  });
  session.start();
  worker.start();
  const s = session;
  return {
    worker,
    session: s,
    async stop() {
      await s.stop();
      await worker.stop();
    },
  };
}
