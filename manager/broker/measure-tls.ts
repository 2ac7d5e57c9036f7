// How many agents per second the secure broker admits: TLS 1.3 handshakes with client
// certificates, each followed by an MQTT CONNECT and its CONNACK, against a broker in this
// process (so the figure includes the clients' half of the work too: a floor for the broker).
//
//   node --import tsx manager/broker/measure-tls.ts [--connections 300] [--parallel 20] [--json]

import { connect } from "node:tls";
import { parseArgs } from "node:util";
import type { Curve } from "../../core/crypto/keys.ts";
import { brokerSecurity } from "../secure.ts";
import { TestCluster } from "../secure-testing.ts";
import { Broker } from "./broker.ts";

/** An MQTT 3.1.1 CONNECT with a clean session, keepalive 30 s and this client id. */
function connectPacket(clientId: string): Buffer {
  const id = Buffer.from(clientId);
  const header = Buffer.from([0, 4, 0x4d, 0x51, 0x54, 0x54, 4, 2, 0, 30]);
  const body = Buffer.concat([header, Buffer.from([id.length >> 8, id.length & 255]), id]);
  return Buffer.concat([Buffer.from([0x10, body.length]), body]);
}

async function measure(curve: Curve, connections: number, parallel: number) {
  const cluster = new TestCluster("c1", curve);
  const manager = cluster.issue("mgr", "manager");
  const { tls, authorizer } = brokerSecurity(cluster.deps(() => manager));
  const broker = await Broker.start({ id: "mgr", tls, authorizer });
  const workers = Array.from({ length: parallel }, (_, i) => cluster.issue(`w${i}`, "worker"));
  let admitted = 0;
  const one = (i: number) =>
    new Promise<void>((resolve) => {
      const w = workers[i % parallel]!;
      const s = connect({
        host: "127.0.0.1",
        port: broker.port,
        ca: [manager.caPem],
        cert: w.certPem,
        key: w.keyPem,
        servername: "fleet-manager",
      });
      const done = () => {
        s.destroy();
        resolve();
      };
      s.setTimeout(30_000, done);
      s.on("secureConnect", () => s.write(connectPacket(`fleet-agent-${w.nodeId}`)));
      s.on("data", (d: Buffer) => {
        if (d[0] === 0x20 && d[3] === 0) admitted++;
        done();
      });
      s.on("error", done);
      s.on("close", done);
    });
  const t0 = performance.now();
  // `parallel` clients, each connecting again as soon as its last connection was admitted.
  let next = 0;
  await Promise.all(
    workers.map(async () => {
      while (next < connections) await one(next++);
    }),
  );
  const seconds = (performance.now() - t0) / 1000;
  await broker.close();
  return {
    curve,
    connections,
    admitted,
    seconds: +seconds.toFixed(2),
    perSec: +(admitted / seconds).toFixed(1),
  };
}

const { values } = parseArgs({
  options: {
    connections: { type: "string", default: "300" },
    parallel: { type: "string", default: "20" },
    json: { type: "boolean", default: false },
  },
});
const results = [];
for (const curve of ["ed25519", "p256"] as Curve[]) {
  results.push(await measure(curve, Number(values.connections), Number(values.parallel)));
}
if (values.json) console.log(JSON.stringify({ bench: "broker-tls", results }));
else
  for (const r of results)
    console.log(
      `${r.curve}: ${r.admitted}/${r.connections} admitted in ${r.seconds} s = ${r.perSec}/s`,
    );
