// Who may publish or subscribe to what on the broker (DESIGN §6, §7). One pure function that
// the embedded broker's authorizer hooks call per packet, and that the mosquitto configuration
// (manager/ca/mosquitto-config.ts) mirrors. Anything not allowed here is refused.

import { isTopicId, TOPIC_ROOT } from "../topics.ts";
import type { Role } from "./identity.ts";

/**
 * A client authenticated by a certificate, a join session (token-restricted, no cert), or a
 * node re-enrolling with a certificate expired less than the re-enrolment window ago (it may
 * only ask for a new certificate: its csr and cert topics, nothing else).
 */
export type Principal =
  | { kind: "node"; clusterId: string; nodeId: string; role: Role }
  | { kind: "join"; clusterId: string; requestId: string }
  | { kind: "reenrol"; clusterId: string; nodeId: string };

export type Access = "publish" | "subscribe";

export interface AclDecision {
  allow: boolean;
  reason: string;
}

/** Topic filters a principal may use, per access (`+`/`#` as in MQTT). */
export function grants(p: Principal): Record<Access, string[]> {
  const root = `${TOPIC_ROOT}/${p.clusterId}`;
  if (p.kind === "join")
    return {
      publish: [`${root}/join/${p.requestId}/req`],
      subscribe: [`${root}/join/${p.requestId}/resp`],
    };
  if (p.kind === "reenrol")
    return { publish: [`${root}/n/${p.nodeId}/csr`], subscribe: [`${root}/n/${p.nodeId}/cert`] };
  if (p.role === "manager") return { publish: [`${root}/#`], subscribe: [`${root}/#`] };
  if (p.role === "admin")
    return { publish: [], subscribe: [`${root}/events/#`, `${root}/state/#`] };
  const own = `${root}/n/${p.nodeId}`;
  return {
    publish: [
      `${own}/hello`,
      `${own}/hb`,
      `${own}/status`,
      `${own}/csr`,
      `${own}/logs/+`,
      `${root}/gossip/${p.nodeId}`,
    ],
    subscribe: [
      `${own}/assign`,
      `${own}/cert`,
      `${own}/logs`,
      `${root}/gossip/+`,
      // The leader's liveness beacon (only managers publish it).
      `${root}/managers/beacon`,
    ],
  };
}

/**
 * True when every topic `filter` can match is also matched by `grant`. A literal level is
 * covered by the same literal or `+`; `+` only by `+`; `#` only by `#`.
 */
export function filterCovered(filter: string, grant: string): boolean {
  const f = filter.split("/");
  const g = grant.split("/");
  for (let i = 0; i < f.length; i++) {
    const gi = g[i];
    if (gi === "#") return true;
    if (gi === undefined) return false;
    const fi = f[i] as string;
    if (fi === "#") return false;
    if (gi === "+") continue;
    if (fi === "+" || fi !== gi) return false;
  }
  return f.length === g.length;
}

function principalValid(p: Principal): boolean {
  const id = p.kind === "join" ? p.requestId : p.nodeId;
  return isTopicId(p.clusterId) && isTopicId(id);
}

function topicWellFormed(topic: string, access: Access): string | undefined {
  if (topic.length === 0 || topic.length > 65_535) return "empty or oversized topic";
  if (topic.startsWith("$")) return "system topics are not for clients";
  if (access === "publish" && /[+#]/.test(topic)) return "wildcards in a publish topic";
  if (topic.includes("\u0000")) return "NUL in topic";
  return undefined;
}

function describe(p: Principal): string {
  if (p.kind === "join") return `join session ${p.requestId}`;
  return p.kind === "reenrol" ? `re-enrolling ${p.nodeId}` : `${p.role} ${p.nodeId}`;
}

/** Decides one publish or subscribe; the reason is for the broker's refusal log. */
export function authorize(p: Principal, access: Access, topic: string): AclDecision {
  if (!principalValid(p)) return { allow: false, reason: "invalid principal" };
  const bad = topicWellFormed(topic, access);
  if (bad) return { allow: false, reason: `${describe(p)}: ${bad}` };
  const grant = grants(p)[access].find((g) => filterCovered(topic, g));
  if (grant) return { allow: true, reason: `${describe(p)}: ${access} ${topic} within ${grant}` };
  return { allow: false, reason: `${describe(p)} may not ${access} ${topic}` };
}
