// `npm run bench -- ca [--nodes N] [--json]`: the certificate authority's costs.
// - certsPerSec: node certificates issued per second (build + sign with noble, the CA's path).
// - renew10kSeconds: after `cluster update --cert-expiry` every one of N simulated nodes (default
//   10,000) sends its csr at once; the time until the leader's RenewalService has answered all
//   of them on their cert topics (CBOR decode, certificate + two proof checks, issue, encode,
//   publish), through an in-process bus. The nodes' own signing is done before the clock starts
//   (each device signs on its own CPU). Scaled to 10,000 when --nodes is smaller.

import { randomBytes } from "node:crypto";
import { decodeMessage, encodeMessage } from "../../core/codec/index.ts";
import { parseCertificate } from "../../core/crypto/cert-read.ts";
import { generateKeyPair, type KeyPair } from "../../core/crypto/keys.ts";
import { signRenewal } from "../../core/crypto/proof.ts";
import { topics } from "../../core/topics.ts";
import { CertificateAuthority } from "../../manager/ca/ca.ts";
import { measureCa } from "../../manager/ca/measure.ts";
import { RenewalService } from "../../manager/ca/renewal-service.ts";
import { MemoryBroker } from "../../manager/dispatcher/bus.ts";
import { type Bench, numberFlag, table } from "./run.ts";

const DAY_MS = 24 * 60 * 60 * 1000;
const TIME_BOUND_MS = 30 * 60 * 1000;

function key(): KeyPair {
  return generateKeyPair("ed25519", new Uint8Array(randomBytes(32)));
}

async function renewAll(n: number, log: (l: string) => void) {
  const { ca } = CertificateAuthority.create({ clusterId: "bench" });
  const t = topics("bench");
  const csrs: { id: string; body: Uint8Array }[] = [];
  const t0 = Date.now();
  for (let i = 0; i < n; i++) {
    const id = `w${i}`;
    const k = key();
    const issued = ca.issue(id, "worker", k.publicKey);
    const proof = signRenewal(k, key(), { clusterId: "bench", nodeId: id, serial: issued.serial });
    csrs.push({
      id,
      body: encodeMessage("csr", { ...proof, role: "worker", certPem: issued.certPem }),
    });
  }
  log(`  ${n} nodes enrolled and their csrs signed in ${((Date.now() - t0) / 1000).toFixed(1)} s`);
  // The expiry change: 90 days -> 30 days; every renewed certificate must carry it.
  ca.nodeCertExpiryMs = 30 * DAY_MS;
  const broker = new MemoryBroker();
  const service = new RenewalService({
    bus: broker.client(),
    clusterId: "bench",
    ca: () => ca,
    node: () => ({ role: "worker" }),
  });
  await service.start();
  let answered = 0;
  let lastCert = "";
  let done: () => void = () => {};
  const all = new Promise<void>((r) => {
    done = r;
  });
  await broker.client().subscribe(`${t.root}/n/+/cert`, (_topic, payload) => {
    const d = decodeMessage(payload, "cert");
    if (d.ok) lastCert = d.message.certPem;
    if (++answered === n) done();
  });
  const agents = broker.client();
  const start = process.hrtime.bigint();
  for (const c of csrs) await agents.publish(t.csr(c.id), c.body, { qos: 1, retain: false });
  const timeout = new Promise<never>((_, reject) =>
    setTimeout(() => reject(new Error(`${answered}/${n} renewed`)), TIME_BOUND_MS).unref(),
  );
  await Promise.race([all, timeout]);
  const seconds = Number(process.hrtime.bigint() - start) / 1e9;
  await service.stop();
  const life = parseCertificate(lastCert);
  const days = (life.notAfterMs - Date.now()) / DAY_MS;
  if (service.stats.issued !== n || days > 31 || days < 29)
    throw new Error(`renewal bench: ${service.stats.issued}/${n} issued, ${days} days`);
  return { seconds, issued: service.stats.issued };
}

export const bench: Bench = {
  description:
    "CA: certificates issued per second (noble signing), and N nodes renewing after an expiry change",
  async run({ args, log }) {
    const nodes = numberFlag(args, "nodes", 10_000);
    if (!(nodes >= 1 && nodes <= 100_000)) throw new Error("--nodes: 1..100000");
    const costs = ["ed25519", "p256"].map((c) => measureCa(c as "ed25519" | "p256", 200));
    log(
      table([
        ["curve", "issue/s", "verify/s", "join/s", "renew/s (direct)"],
        ...costs.map((c) => [
          c.curve,
          c.certsPerSec.toFixed(0),
          c.verifiesPerSec.toFixed(0),
          c.joinsPerSec.toFixed(0),
          (c.renewals / c.renewSeconds).toFixed(0),
        ]),
      ]),
    );
    log(`renewal of ${nodes} nodes through the RenewalService (Ed25519):`);
    const r = await renewAll(nodes, log);
    const renew10kSeconds = (r.seconds * 10_000) / nodes;
    log(
      `  ${r.issued} renewed in ${r.seconds.toFixed(1)} s ` +
        `(${(r.issued / r.seconds).toFixed(0)}/s; 10,000 in ${renew10kSeconds.toFixed(1)} s)`,
    );
    const ed = costs[0]!;
    return {
      certsPerSec: Math.round(ed.certsPerSec),
      renew10kSeconds: Math.round(renew10kSeconds * 10) / 10,
      nodes,
      p256CertsPerSec: Math.round(costs[1]!.certsPerSec),
      verifiesPerSec: Math.round(ed.verifiesPerSec),
      joinsPerSec: Math.round(ed.joinsPerSec),
    };
  },
};
