// /v1/ca/…: the certificate lifecycle an operator drives (docs/security.md). Keys are made by
// the CLI; only public keys come here. Needs the manager's CaKeeper (services.ca); without one
// these routes answer 501.
//
//   POST /v1/ca/admin           {name, publicKey}              admin certificate (fleet ca issue-admin)
//   POST /v1/ca/broker          {name, publicKey, dnsNames?, ipAddresses?}  an external broker's
//                               certificate, the CA, a fresh CRL and the manager ids
//   GET  /v1/ca/broker-state                                   CRL, manager and removed ids (--watch)
//   POST /v1/ca/unlock          {key}                          fleet unlock
//   GET  /v1/ca/unlock-key                                     fleet unlock-key
//   POST /v1/ca/unlock-key/rotate                              fleet unlock-key --rotate
//   POST /v1/ca/autolock?enable=true|false                     fleet cluster update --autolock

import { fromHex } from "../../core/crypto/bytes.ts";
import { CryptoError } from "../../core/crypto/errors.ts";
import type { Cluster } from "../../core/model/types.ts";
import { by } from "../../core/store/indexes.ts";
import type { ReadTx } from "../../core/store/tx.ts";
import { isTopicId } from "../../core/topics.ts";
import type { CertificateAuthority } from "../ca/ca.ts";
import type { CaKeeper } from "../ca/lifecycle.ts";
import { ApiError } from "./errors.ts";
import type { ApiResponse, Call, Route } from "./router.ts";

export interface CaDeps {
  ca?: CaKeeper;
}

const ok = (body: unknown): ApiResponse => ({ status: 200, body });

function keeper(c: Call<CaDeps>): CaKeeper {
  if (!c.services.ca)
    throw new ApiError("not_implemented", "this manager runs without a CA (--insecure?)");
  return c.services.ca;
}

function cluster(tx: ReadTx): Cluster {
  const c = tx.find("clusters").sort((a, b) => a.createdAt - b.createdAt)[0];
  if (!c) throw new ApiError("not_found", "this manager has no cluster object yet");
  return c;
}

function current(c: Call<CaDeps>): Cluster {
  return c.ctx.store.view(cluster);
}

function theCA(c: Call<CaDeps>): CertificateAuthority {
  const k = keeper(c);
  const cl = current(c);
  const ca = k.ca(cl);
  if (ca) return ca;
  if (k.isLocked(cl))
    throw new ApiError(
      "failed_precondition",
      "the cluster's CA key is sealed (autolock): run `fleet unlock` on this manager",
    );
  throw new ApiError("not_implemented", "this cluster has no certificate authority");
}

/** Maps the CA's typed errors to 400s; everything else goes on. */
function cryptoErrors<T>(fn: () => T): T {
  try {
    return fn();
  } catch (err) {
    if (err instanceof CryptoError) throw new ApiError("bad_request", err.message);
    if (err instanceof Error && err.name === "CaLocked")
      throw new ApiError("failed_precondition", err.message);
    throw err;
  }
}

function body(c: Call<CaDeps>): Record<string, unknown> {
  const b = c.body;
  if (typeof b !== "object" || b === null || Array.isArray(b))
    throw new ApiError("bad_request", "the body must be a JSON object");
  return b as Record<string, unknown>;
}

function name(b: Record<string, unknown>): string {
  const n = b.name;
  if (typeof n !== "string" || !isTopicId(n))
    throw new ApiError("bad_request", "name: 1-128 letters, digits, '.', '_' or '-'");
  return n;
}

function publicKey(b: Record<string, unknown>): Uint8Array {
  const k = b.publicKey;
  if (typeof k !== "string" || !/^([0-9a-f]{64}|[0-9a-f]{130})$/.test(k))
    throw new ApiError(
      "bad_request",
      "publicKey: hex of a raw Ed25519 key (64) or uncompressed P-256 point (130)",
    );
  return fromHex(k);
}

function strings(b: Record<string, unknown>, field: string): string[] {
  const v = b[field];
  if (v === undefined) return [];
  if (!Array.isArray(v) || v.length > 16 || v.some((s) => typeof s !== "string" || s.length > 253))
    throw new ApiError("bad_request", `${field}: at most 16 strings`);
  return v as string[];
}

function admin(c: Call<CaDeps>): ApiResponse {
  const b = body(c);
  const ca = theCA(c);
  const n = name(b);
  const issued = cryptoErrors(() => ca.issueAdmin(n, publicKey(b)));
  return ok({ ...issued, caPem: ca.root.certPem, clusterId: ca.clusterId });
}

function broker(c: Call<CaDeps>): ApiResponse {
  const b = body(c);
  const ca = theCA(c);
  const n = name(b);
  const names = { dnsNames: strings(b, "dnsNames"), ipAddresses: strings(b, "ipAddresses") };
  // A broker is a server every node and manager talks to: a manager certificate (it carries
  // the fleet-manager name agents verify), under the broker's own name.
  const issued = cryptoErrors(() => ca.issue(n, "manager", publicKey(b), names));
  const { managers, removed, serials } = brokerLists(c);
  return ok({
    ...issued,
    caPem: ca.root.certPem,
    crlPem: ca.crlPem(),
    clusterId: ca.clusterId,
    managers,
    removed,
    serials,
  });
}

/** What an external broker's files follow (`fleet broker-config mosquitto --watch`): a fresh
 * CRL, the manager ids (full access) and the removed node ids (denied), with the revoked
 * serials so a watcher can tell when the CRL changed. No certificate is issued. */
function brokerState(c: Call<CaDeps>): ApiResponse {
  const ca = theCA(c);
  return ok({
    clusterId: ca.clusterId,
    caPem: ca.root.certPem,
    crlPem: ca.crlPem(),
    ...brokerLists(c),
  });
}

/** Manager ids, removed node ids and revoked serials, sorted (a watcher compares them). */
function brokerLists(c: Call<CaDeps>) {
  const cl = current(c);
  const managers = c.ctx.store.view((tx) => tx.find("nodes", by.role("manager")).map((m) => m.id));
  return {
    managers: managers.sort(),
    removed: [...(cl.revocations?.removedNodes ?? [])].sort(),
    serials: (cl.revocations?.serials ?? []).map((s) => s.serial).sort(),
  };
}

function unlock(c: Call<CaDeps>): ApiResponse {
  const key = body(c).key;
  if (typeof key !== "string") throw new ApiError("bad_request", "key: the unlock key");
  cryptoErrors(() => keeper(c).unlock(current(c), key));
  return ok({ unlocked: true });
}

function unlockKey(c: Call<CaDeps>): ApiResponse {
  const k = keeper(c);
  const cl = current(c);
  if (!cl.rootCA?.keyEncrypted)
    throw new ApiError("failed_precondition", "autolock is off: there is no unlock key");
  if (k.unlockKey === undefined || k.isLocked(cl))
    throw new ApiError(
      "failed_precondition",
      "this manager does not hold the current unlock key: run `fleet unlock` on it first",
    );
  return ok({ unlockKey: k.unlockKey });
}

async function rewrite(
  c: Call<CaDeps>,
  change: (k: CaKeeper, cl: Cluster) => { cluster: Cluster; unlockKey?: string },
): Promise<{ unlockKey?: string }> {
  const k = keeper(c);
  const now = c.ctx.now();
  return c.ctx.writer.update((tx) => {
    const r = cryptoErrors(() => change(k, cluster(tx)));
    tx.update("clusters", { ...r.cluster, updatedAt: now });
    return r.unlockKey === undefined ? {} : { unlockKey: r.unlockKey };
  });
}

async function rotate(c: Call<CaDeps>): Promise<ApiResponse> {
  return ok(await rewrite(c, (k, cl) => k.rotateUnlockKey(cl)));
}

async function autolock(c: Call<CaDeps>): Promise<ApiResponse> {
  const enable = c.query.str("enable");
  if (enable !== "true" && enable !== "false")
    throw new ApiError("bad_request", "query parameter enable: true or false");
  const on = enable === "true";
  const r = await rewrite(c, (k, cl) =>
    cl.spec.autolock === on && (cl.rootCA?.keyEncrypted ?? false) === on
      ? { cluster: cl }
      : k.setAutolock(cl, on),
  );
  return ok({ autolock: on, ...r });
}

export const caRoutes: Route<CaDeps>[] = [
  { method: "POST", path: "/v1/ca/admin", body: true, handler: admin },
  { method: "POST", path: "/v1/ca/broker", body: true, handler: broker },
  { method: "GET", path: "/v1/ca/broker-state", handler: brokerState },
  { method: "POST", path: "/v1/ca/unlock", body: true, handler: unlock },
  { method: "GET", path: "/v1/ca/unlock-key", handler: unlockKey },
  { method: "POST", path: "/v1/ca/unlock-key/rotate", handler: rotate },
  { method: "POST", path: "/v1/ca/autolock", query: ["enable"], handler: autolock },
];
