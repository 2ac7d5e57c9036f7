// Measures the CA's costs on this machine: certificates issued per second, chain verifications
// per second, joins and renewals per second (the same noble-based paths the CA runs), per curve.
// Run: node --import tsx manager/ca/measure.ts [--renewals N] [--json]

import { randomBytes } from "node:crypto";
import { resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { type Curve, generateKeyPair, type KeyPair, keySeedBytes } from "../../core/crypto/keys.ts";
import { signJoinRequest, signRenewal } from "../../core/crypto/proof.ts";
import { CertificateAuthority } from "./ca.ts";

function key(curve: Curve): KeyPair {
  return generateKeyPair(curve, new Uint8Array(randomBytes(keySeedBytes(curve))));
}

function rate(n: number, fn: (i: number) => void): number {
  const t0 = process.hrtime.bigint();
  for (let i = 0; i < n; i++) fn(i);
  return n / (Number(process.hrtime.bigint() - t0) / 1e9);
}

export interface CaCosts {
  curve: Curve;
  certsPerSec: number;
  verifiesPerSec: number;
  joinsPerSec: number;
  renewals: number;
  renewSeconds: number;
}

/** The CA's costs for one curve; `renewals` nodes renew once each (a bench can wrap this). */
export function measureCa(curve: Curve, renewals: number): CaCosts {
  const { ca, tokens } = CertificateAuthority.create({ clusterId: "bench", curve });
  const pub = key(curve).publicKey;
  const certsPerSec = rate(300, (i) => ca.issue(`n${i}`, "worker", pub));
  const cert = ca.issue("v1", "worker", pub).certPem;
  const verifiesPerSec = rate(300, () => ca.verifyPeer(cert));
  const joins = Array.from({ length: 100 }, (_, i) =>
    signJoinRequest(key(curve), tokens.worker, `r${i}`),
  );
  const joinsPerSec = rate(joins.length, (i) => ca.join(joins[i] as never, `r${i}`, `j${i}`));
  const nodes = Array.from({ length: renewals }, (_, i) => {
    const k = key(curve);
    const issued = ca.issue(`w${i}`, "worker", k.publicKey);
    const subject = { clusterId: "bench", nodeId: `w${i}`, serial: issued.serial };
    return { id: `w${i}`, csr: { ...signRenewal(k, k, subject), certPem: issued.certPem } };
  });
  const t0 = process.hrtime.bigint();
  for (const n of nodes) ca.renew(n.id, n.csr, { role: "worker" });
  const renewSeconds = Number(process.hrtime.bigint() - t0) / 1e9;
  return { curve, certsPerSec, verifiesPerSec, joinsPerSec, renewals, renewSeconds };
}

function main(args: string[]): void {
  const renewals = Number(args[args.indexOf("--renewals") + 1]) || 1000;
  const results = (["ed25519", "p256"] as const).map((c) => measureCa(c, renewals));
  if (args.includes("--json")) {
    const ed = results[0] as CaCosts;
    const renew10kSeconds = (ed.renewSeconds * 10_000) / ed.renewals;
    console.log(
      JSON.stringify({
        bench: "ca",
        certsPerSec: Math.round(ed.certsPerSec),
        renew10kSeconds,
        results,
      }),
    );
  } else {
    for (const r of results)
      console.log(
        `${r.curve.padEnd(8)} issue ${r.certsPerSec.toFixed(0)}/s  ` +
          `verify ${r.verifiesPerSec.toFixed(0)}/s  ` +
          `join ${r.joinsPerSec.toFixed(0)}/s  ` +
          `${r.renewals} renewals ${r.renewSeconds.toFixed(2)} s`,
      );
  }
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  main(process.argv.slice(2));
}
