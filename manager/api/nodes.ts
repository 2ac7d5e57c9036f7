// /v1/nodes: list with filters, inspect, update the spec (optimistic concurrency), remove.
// Managers write only a node's spec; its description and status belong to the dispatcher.

import type { Node } from "../../core/model/types.ts";
import { validateNodeSpec } from "../../core/model/validate.ts";
import { by } from "../../core/store/indexes.ts";
import type { ReadTx } from "../../core/store/tx.ts";
import { revokeNodeInTx } from "../ca/lifecycle.ts";
import { promotionRefusal } from "../ca/role-reissue.ts";
import { ApiError, invalidSpec } from "./errors.ts";
import { findNode } from "./resolve.ts";
import type { ApiResponse, Call, Query, Route } from "./router.ts";

const ok = (body: unknown, status = 200): ApiResponse => ({ status, body });

function labelMatch(labels: Record<string, string>, want: string): boolean {
  const eq = want.indexOf("=");
  if (eq < 0) return Object.hasOwn(labels, want);
  return labels[want.slice(0, eq)] === want.slice(eq + 1);
}

/** Filters, each repeatable (OR within a filter, AND across filters), as `docker node ls`. */
function nodeFilter(q: Query): (n: Node) => boolean {
  const ids = q.all("id");
  const names = q.all("name").map((s) => s.toLowerCase());
  const roles = q.all("role");
  const avail = q.all("availability");
  const states = q.all("state");
  const labels = q.all("label");
  for (const r of roles)
    if (r !== "worker" && r !== "manager")
      throw new ApiError("bad_request", `filter role: expected worker or manager, got "${r}"`);
  return (n) =>
    (ids.length === 0 || ids.some((i) => n.id.startsWith(i))) &&
    (names.length === 0 || names.some((s) => n.description.hostname.toLowerCase().includes(s))) &&
    (roles.length === 0 || roles.includes(n.spec.role)) &&
    (avail.length === 0 || avail.includes(n.spec.availability)) &&
    (states.length === 0 || states.includes(n.status.state)) &&
    labels.every((l) => labelMatch(n.spec.labels, l));
}

function byHostname(a: Node, b: Node): number {
  const x = a.description.hostname;
  const y = b.description.hostname;
  return x < y ? -1 : x > y ? 1 : a.id < b.id ? -1 : 1;
}

/** A manager's `leader` flag as this replica's Raft sees it now (the store's copy was written
 * at registration and would keep naming the first leader forever). */
function withLeader(c: Call, n: Node): Node {
  const ms = n.managerStatus;
  if (!ms) return n;
  const leader = c.ctx.consensus.leader();
  return { ...n, managerStatus: { ...ms, leader: leader !== 0 && Number(ms.raftId) === leader } };
}

function list(c: Call): ApiResponse {
  const keep = nodeFilter(c.query);
  const nodes = c.ctx.store.view((tx) => tx.find("nodes").filter(keep).sort(byHostname));
  return ok(nodes.map((n) => withLeader(c, n)));
}

function inspect(c: Call): ApiResponse {
  return ok(
    withLeader(
      c,
      c.ctx.store.view((tx) => findNode(tx, c.params.ref!)),
    ),
  );
}

function managers(tx: ReadTx): number {
  return tx.count("nodes", by.role("manager"));
}

async function update(c: Call): Promise<ApiResponse> {
  const version = c.query.version("node");
  const v = validateNodeSpec(c.body);
  if (!v.ok) throw invalidSpec("node", v.problems);
  const spec = v.value;
  const now = c.ctx.now();
  const node = await c.ctx.writer.update((tx) => {
    const cur = findNode(tx, c.params.ref!);
    // Only a manager daemon can be a manager: an edge agent is refused with what to do.
    const refusal = spec.role === "manager" ? promotionRefusal(cur) : undefined;
    if (refusal !== undefined) throw new ApiError("failed_precondition", refusal);
    if (cur.spec.role === "manager" && spec.role === "worker" && managers(tx) <= 1) {
      throw new ApiError(
        "failed_precondition",
        `node ${cur.description.hostname} is the last manager: demoting it would leave the ` +
          "cluster without managers (promote another node first)",
      );
    }
    if (cur.spec.role === "manager" && spec.role === "worker") {
      // The leader removes a demoted manager from Raft only if the rest keep a quorum of
      // reachable members (manager/membership.ts); refuse here so the operator hears it now.
      const rest = tx.find("nodes", by.role("manager")).filter((n) => n.id !== cur.id);
      const live = rest.filter((n) => n.managerStatus?.reachability !== "unreachable").length;
      if (live < Math.floor(rest.length / 2) + 1) {
        throw new ApiError(
          "failed_precondition",
          `demoting ${cur.description.hostname} would leave ${live} of ${rest.length} ` +
            "managers reachable, not a quorum: bring the unreachable managers back first",
        );
      }
    }
    tx.update("nodes", { ...cur, version, spec, updatedAt: now });
    return cur;
  });
  return ok({ id: node.id });
}

async function remove(c: Call): Promise<ApiResponse> {
  const force = c.query.bool("force");
  const node = await c.ctx.writer.update((tx) => {
    const cur = findNode(tx, c.params.ref!);
    const name = `${cur.description.hostname} (${cur.id.slice(0, 12)})`;
    if (cur.spec.role === "manager") {
      throw new ApiError(
        "failed_precondition",
        `node ${name} is a manager and a member of the Raft group: demote it first ` +
          "(fleet node demote), then remove it",
      );
    }
    const up = cur.status.state === "ready";
    if (up && !force) {
      throw new ApiError(
        "failed_precondition",
        `node ${name} is not down and can't be removed: drain it and stop its agent, ` +
          "or remove it anyway with --force",
      );
    }
    // Revoked with its certificate and its id retired for good (docs/security.md).
    revokeNodeInTx(tx, cur, c.ctx.now());
    tx.delete("nodes", cur.id);
    return cur;
  });
  return ok({ id: node.id });
}

export const nodeRoutes: Route[] = [
  {
    method: "GET",
    path: "/v1/nodes",
    read: true,
    query: ["id", "name", "role", "availability", "state", "label"],
    handler: list,
  },
  { method: "GET", path: "/v1/nodes/:ref", read: true, handler: inspect },
  {
    method: "POST",
    path: "/v1/nodes/:ref/update",
    query: ["version"],
    body: true,
    handler: update,
  },
  { method: "DELETE", path: "/v1/nodes/:ref", query: ["force"], handler: remove },
];
