// PEM armour (RFC 7468): base64 DER between BEGIN/END lines. Bounded: a PEM text longer than
// limits.pemBytesMax is refused before it is scanned.

import { limits } from "../limits.ts";
import { fromBase64, toBase64 } from "./bytes.ts";
import { CryptoError } from "./errors.ts";

export type PemLabel = "CERTIFICATE" | "PRIVATE KEY" | "PUBLIC KEY" | "X509 CRL";

export function toPem(label: PemLabel, der: Uint8Array): string {
  const b64 = toBase64(der);
  const lines: string[] = [];
  for (let i = 0; i < b64.length; i += 64) lines.push(b64.slice(i, i + 64));
  return `-----BEGIN ${label}-----\n${lines.join("\n")}\n-----END ${label}-----\n`;
}

const BLOCK = /-----BEGIN ([A-Z0-9 ]+)-----([A-Za-z0-9+/=\s]*?)-----END ([A-Z0-9 ]+)-----/g;

/** Every `label` block in `text`, in order, as DER. */
export function pemBlocks(text: string, label: PemLabel): Uint8Array[] {
  if (typeof text !== "string" || text.length > limits.pemBytesMax)
    throw new CryptoError("bad-pem", `PEM text must be a string of at most ${limits.pemBytesMax}`);
  const out: Uint8Array[] = [];
  for (const m of text.matchAll(BLOCK)) {
    if (m[1] !== m[3]) throw new CryptoError("bad-pem", `PEM block ${m[1]} ends as ${m[3]}`);
    if (m[1] !== label) continue;
    out.push(fromBase64((m[2] ?? "").replace(/\s+/g, "")));
  }
  return out;
}

/** The single `label` block in `text`; refuses none or several. */
export function fromPem(text: string, label: PemLabel): Uint8Array {
  const blocks = pemBlocks(text, label);
  if (blocks.length !== 1)
    throw new CryptoError("bad-pem", `expected one ${label} PEM block, found ${blocks.length}`);
  return blocks[0] as Uint8Array;
}
