// Wires the agent's parts: state (data dir) -> worker (executor) <-> session (MQTT), with the
// hardware labels in the node description. No decisions here: each part owns its own.

import { mkdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { MANAGER_SERVER_NAME } from "../core/crypto/names.ts";
import { topics } from "../core/topics.ts";
import type { AgentConfig } from "./config.ts";
import type { Executor } from "./executor/executor.ts";
import { agentGossip, type GossipAgent } from "./gossip.ts";
import { describeNode, detectHardware } from "./labels/labels.ts";
import { containerFinder, LogServer, streamerFor } from "./logs.ts";
import {
  CertificateRenewal,
  loadMaterial,
  loadReenrolWindow,
  REENROL_WINDOW_FILE,
} from "./renewal.ts";
import { Session, type SessionTls } from "./session/session.ts";
import { loadState, saveState } from "./state/state.ts";
import { Worker } from "./worker/worker.ts";

export const AGENT_VERSION = "0.1.0";

export interface Agent {
  worker: Worker;
  session: Session;
  /** Present when the agent holds a certificate (certFile, keyFile and caFile configured). */
  renewal?: CertificateRenewal;
  gossip: GossipAgent;
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
  // Managers are verified by the name every manager certificate carries, whatever address
  // the agent dials (their certificates need not list it).
  if (ca) out.servername = MANAGER_SERVER_NAME;
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
  const renewal = renewalOf(c, () => session, hooks.log);
  // Expired past the re-enrolment window: no broker admits it; the operator must join again.
  renewal?.assertRenewable();
  const certTopic = topics(c.clusterId).cert(c.nodeId);
  // `fleet service logs`: managers ask on the node's logs topic (edge-agent/logs.ts).
  const logServer = new LogServer({
    clusterId: c.clusterId,
    nodeId: c.nodeId,
    publish: (topic, payload, qos) => session?.publish(topic, payload, qos) ?? false,
    containerOf: containerFinder(executor, () => worker.statuses()),
    streamer: streamerFor(executor),
    log: hooks.log,
  });
  const gossip = agentGossip({
    ...c,
    tasks: loaded.state.assignment.tasks,
    statuses: () => worker.statuses(),
    publish: (topic, payload) => session?.publish(topic, payload, 0, true) ?? false,
    log: hooks.log,
    // The agent's own --gossip off wins; otherwise the cluster's switch (in assignments) decides.
    own: c.gossip !== false,
    subscribe: (filter) => session?.subscribe(filter),
    unsubscribe: (filter) => session?.unsubscribe(filter),
  });
  session = new Session({
    clusterId: c.clusterId,
    nodeId: c.nodeId,
    brokers: c.brokers,
    worker,
    describe: () => describeNode(c.hostname, hw),
    agentVersion: AGENT_VERSION,
    heartbeatPeriodMs: c.heartbeatPeriodMs,
    diskPath: c.dataDir,
    brokersDir: c.dataDir,
    log: hooks.log,
    ...(tls ? { tls } : {}),
    ...(hooks.onConnected ? { onConnected: hooks.onConnected } : {}),
    subscriptions: [...(renewal ? [certTopic] : []), logServer.topic],
    // Back after expiry (within the window): a restricted session to re-enrol first.
    ...(renewal
      ? {
          reenrolling: () => renewal.reenrolling(),
          reenrolTopics: [certTopic],
          onReady: () => renewal.onReady(),
        }
      : {}),
    onMessage: (topic: string, payload: Buffer) => {
      if (topic === certTopic) renewal?.onCert(payload);
      else if (topic === logServer.topic) logServer.onRequest(payload);
      else gossip.onMessage(topic, payload);
    },
    onAssignment: (a) => {
      gossip.onAssignment(a);
      // The cluster's re-enrolment window, kept for when the node is offline past expiry.
      if (a.reenrolWindowMs !== undefined) renewal?.setReenrolWindow(a.reenrolWindowMs);
    },
  });
  session.start();
  worker.start();
  renewal?.start();
  gossip.start();
  const s = session;
  return {
    worker,
    session: s,
    ...(renewal ? { renewal } : {}),
    gossip,
    async stop() {
      renewal?.stop();
      gossip.stop();
      logServer.stop();
      await s.stop();
      await worker.stop();
    },
  };
}

/** Renewal of the agent's certificate, when it has one (contract: <data-dir>/certs/…). */
function renewalOf(
  c: AgentConfig,
  session: () => Session | undefined,
  log: (line: string) => void,
): CertificateRenewal | undefined {
  const t = c.tls;
  if (!t?.certFile || !t.keyFile || !t.caFile) return undefined;
  const paths = { cert: t.certFile, key: t.keyFile, ca: t.caFile, prevKey: `${t.keyFile}.prev` };
  const link = {
    publish: (topic: string, payload: Uint8Array, qos: 0 | 1) =>
      session()?.publish(topic, payload, qos) ?? false,
    updateTls: (m: { cert: string; key: string; ca: string }) => session()?.updateTls(m),
  };
  const windowFile = join(c.dataDir, REENROL_WINDOW_FILE);
  const windowMs = loadReenrolWindow(windowFile);
  try {
    const material = loadMaterial(paths);
    return new CertificateRenewal(
      {
        clusterId: c.clusterId,
        nodeId: c.nodeId,
        paths,
        link,
        log,
        windowFile,
        ...(windowMs !== undefined ? { reenrolWindowMs: windowMs } : {}),
        ...(c.joinBrokers ? { joinBrokers: c.joinBrokers } : {}),
      },
      material,
    );
  } catch (err) {
    log(`edge-agent: certificate renewal off: ${(err as Error).message}`);
    return undefined;
  }
}
