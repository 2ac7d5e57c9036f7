// Who a connecting client is: a peer manager's broker presenting the mesh credential, or
// whatever the authorizer says. A mesh link is recognised here (a manager certificate naming the
// manager id, asked of the authorizer's meshPeer; or the shared secret in insecure mode), and a
// device may not borrow a mesh client id (it would take over a mesh link's session,
// [MQTT-3.1.4-2]).

import { timingSafeEqual } from "node:crypto";
import { limits } from "../../core/limits.ts";
import type { Authorizer, ConnectInfo, Identity } from "./authorizer.ts";

/** Username a peer manager's broker presents on a mesh link; its client id has the prefix. */
export const MESH_USERNAME = "fleet-mesh";
export const MESH_CLIENT_PREFIX = "fleet-mesh.";

export type Verdict =
  | { ok: true; identity: Identity; mesh: boolean }
  | { ok: false; returnCode: 2 | 4 | 5; reason: string };

export async function identify(
  info: ConnectInfo,
  authorizer: Authorizer,
  meshSecret: string | undefined,
): Promise<Verdict> {
  const { clientId, username, password } = info;
  if (clientId.length > limits.brokerClientIdLengthMax) {
    return { ok: false, returnCode: 2, reason: "client id too long" };
  }
  if (username === MESH_USERNAME || clientId.startsWith(MESH_CLIENT_PREFIX)) {
    const managerId = clientId.slice(MESH_CLIENT_PREFIX.length);
    const identity: Identity | undefined = authorizer.meshPeer
      ? username === MESH_USERNAME && clientId.startsWith(MESH_CLIENT_PREFIX)
        ? authorizer.meshPeer(info, managerId)
        : undefined
      : meshCredentialOk(meshSecret, clientId, username, password)
        ? { principal: managerId, role: "manager" }
        : undefined;
    if (!identity) return { ok: false, returnCode: 4, reason: "bad mesh credential" };
    return { ok: true, identity, mesh: true };
  }
  const identity = await authorizer.authenticate(info);
  if (!identity) return { ok: false, returnCode: 5, reason: "not authorized" };
  return { ok: true, identity, mesh: false };
}

function meshCredentialOk(
  secret: string | undefined,
  clientId: string,
  username: string | undefined,
  password: Buffer | undefined,
): boolean {
  if (secret === undefined || username !== MESH_USERNAME || password === undefined) return false;
  if (!clientId.startsWith(MESH_CLIENT_PREFIX) || clientId === MESH_CLIENT_PREFIX) return false;
  const want = Buffer.from(secret);
  return password.length === want.length && timingSafeEqual(password, want);
}
