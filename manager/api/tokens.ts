// Join tokens as the API sees them. The daemon serves `StoreTokenSource`: the tokens and their
// hashes live in the cluster object (written by `--init`), rotation is a store write. Tests of
// the API alone may pass `DevTokenSource`, tokens of the right shape kept in memory.

import { createHash, randomBytes } from "node:crypto";
import { formatJoinToken, parseJoinToken, tokenSecretHash } from "../../core/crypto/token.ts";
import { limits } from "../../core/limits.ts";
import type { Store } from "../../core/store/store.ts";
import type { StoreWriter } from "../../core/store/writer.ts";
import { ApiError } from "./errors.ts";

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

/**
 * The cluster's real tokens, kept in the cluster object (`joinTokenStrings`, and the hashes the
 * CA checks in `joinTokens`). Rotation is one store write: the old secret stops admitting nodes
 * as soon as it is applied, on every manager.
 */
export class StoreTokenSource implements TokenSource {
  constructor(
    private readonly store: Store,
    private readonly writer: StoreWriter,
    private readonly clusterId: string,
    private readonly random: (n: number) => Uint8Array = (n) => new Uint8Array(randomBytes(n)),
  ) {}

  async current(): Promise<JoinTokens> {
    const c = this.store.view((tx) => tx.get("clusters", this.clusterId));
    if (!c?.joinTokenStrings)
      throw new ApiError(
        "not_implemented",
        "this cluster has no join tokens (founded with --initial-cluster, or still starting)",
      );
    return { ...c.joinTokenStrings };
  }

  async rotate(role: JoinRole): Promise<JoinTokens> {
    return this.writer.update((tx) => {
      const c = tx.get("clusters", this.clusterId);
      if (!c?.rootCA || !c.joinTokens || !c.joinTokenStrings)
        throw new ApiError("not_implemented", "this cluster has no join tokens to rotate");
      const token = formatJoinToken(c.rootCA.digest, this.random(limits.joinTokenSecretBytes));
      const hash = tokenSecretHash(parseJoinToken(token).secret);
      const joinTokenStrings = { ...c.joinTokenStrings, [role]: token };
      tx.update("clusters", {
        ...c,
        joinTokens: { ...c.joinTokens, [role]: hash },
        joinTokenStrings,
        updatedAt: Date.now(),
      });
      return { ...joinTokenStrings };
    });
  }
}
