// One request/answer on the join topics over a socket already pinned to the cluster root
// (pinned.ts): CONNECT (with the join token when there is one), SUBSCRIBE `join/<req>/resp`,
// PUBLISH `join/<req>/req`, the first valid answer. Used by the join (client.ts) and by
// re-enrolment through a join listener (reenrol.ts). Only MQTT and the codec: the running agent
// must not load the X.509 libraries through it.

import mqtt, { type IClientOptions, type MqttClient } from "mqtt";
import { decodeMessage, type MessageBodies } from "../../core/codec/messages.ts";
import { topics } from "../../core/topics.ts";
import { JoinError } from "./errors.ts";
import type { PinnedConnection } from "./pinned.ts";

/** The username of a session admitted by join token (the token is its password). */
export const JOIN_USERNAME = "fleet-join";

export interface ExchangeOptions {
  /** The join token; absent for a re-enrolment (the csr's proofs stand in for it). */
  token?: string;
  connectMs: number;
  responseMs: number;
  /** Prefix of error messages (e.g. the broker's URL). */
  label?: string;
  /** What the answer is called in a timeout message. */
  answer: string;
}

export function exchange(
  pinned: Pick<PinnedConnection, "socket" | "clusterId">,
  requestId: string,
  request: Uint8Array,
  o: ExchangeOptions,
): Promise<MessageBodies["joinResponse"]> {
  const t = topics(pinned.clusterId);
  const respTopic = t.joinResponse(requestId);
  const label = o.label ?? "";
  const options: IClientOptions = {
    clientId: requestId,
    ...(o.token !== undefined ? { username: JOIN_USERNAME, password: o.token } : {}),
    protocolVersion: 4,
    clean: true,
    reconnectPeriod: 0,
    connectTimeout: o.connectMs,
    keepalive: 30,
    writeCache: false,
  };
  return new Promise((resolve, reject) => {
    let settled = false;
    let timer = setTimeout(() => finish(timeout("CONNACK", o.connectMs)), o.connectMs);
    // MQTT.js writes CONNECT (with the token) on this socket only now, after pinning.
    const client: MqttClient = new mqtt.MqttClient(() => pinned.socket, options);
    const finish = (r: Error | MessageBodies["joinResponse"]) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      client.end(true);
      pinned.socket.destroy();
      if (r instanceof Error) reject(r);
      else resolve(r);
    };
    client.on("error", (err) => {
      const rc = (err as { code?: unknown }).code;
      if (o.token !== undefined && (rc === 4 || rc === 5))
        finish(new JoinError("wrong-token", `${label}the broker refused the join token`));
      else if (typeof rc === "number") finish(new JoinError("refused", `${label}${err.message}`));
      else finish(new JoinError("unreachable", `${label}${err.message}`, { cause: err }));
    });
    let connacked = false;
    client.on("close", () =>
      finish(
        connacked
          ? new JoinError("unreachable", `${label}connection closed`)
          : new JoinError(
              "session-closed",
              `${label}the broker closed the joining session before CONNACK`,
            ),
      ),
    );
    client.once("connect", () => {
      connacked = true;
      clearTimeout(timer);
      timer = setTimeout(() => finish(timeout(o.answer, o.responseMs)), o.responseMs);
      client.subscribe(respTopic, { qos: 1 }, (err, granted) => {
        if (err || granted?.[0]?.qos === 128)
          return finish(
            new JoinError("refused", `${label}the broker refused the join response topic`),
          );
        client.publish(t.joinRequest(requestId), Buffer.from(request), { qos: 1 });
      });
    });
    client.on("message", (topic, payload) => {
      if (topic !== respTopic) return;
      const d = decodeMessage(new Uint8Array(payload), "joinResponse");
      if (!d.ok) return finish(new JoinError("bad-response", d.error.message));
      const { v: _, type: __, ...body } = d.message;
      finish(body);
    });
  });
}

export function timeout(what: string, ms: number): JoinError {
  return new JoinError("timeout", `no ${what} within ${ms} ms`);
}
