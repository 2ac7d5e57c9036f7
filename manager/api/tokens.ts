// Join tokens as the API sees them. The certificate authority (security work, DESIGN §7) will
// own them: hashes in the cluster object, rotation as a store write. Until it lands, the daemon
// may pass `DevTokenSource`, which keeps tokens of the right shape in memory and says it is a
// stand-in; nothing accepts these tokens yet.

import { createHash, randomBytes } from "node:crypto";

export type JoinRole = "worker" | "manager";

export interface JoinTokens {
  worker: string;
  manager: string;
}

export interface TokenSource {
  /** The tokens that admit a node now. */
  current(): Promise<JoinTokens>;
  /** Replaces one role's token; the old one stops admitting nodes. Absent: rotation refused. */
  rotate?(role: JoinRole): Promise<JoinTokens>;
}

const ALPHABET = "abcdefghijklmnopqrstuvwxyz234567";

function secret(length = 25): string {
  const bytes = randomBytes(length);
  let out = "";
  for (const b of bytes) out += ALPHABET[b & 31];
  return out;
}

/** In-memory tokens `FLT1-<digest>-<secret>` for development, until the CA issues real ones. */
export class DevTokenSource implements TokenSource {
  readonly #digest: string;
  #tokens: JoinTokens;

  constructor(clusterId: string) {
    this.#digest = createHash("sha256").update(`fleet-dev-ca:${clusterId}`).digest("hex");
    this.#tokens = { worker: this.#make(), manager: this.#make() };
  }

  #make(): string {
    return `FLT1-${this.#digest.slice(0, 50)}-${secret()}`;
  }

  async current(): Promise<JoinTokens> {
    return { ...this.#tokens };
  }

  async rotate(role: JoinRole): Promise<JoinTokens> {
    this.#tokens = { ...this.#tokens, [role]: this.#make() };
    return { ...this.#tokens };
  }
}
