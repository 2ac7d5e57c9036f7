// Platform names as Go/OCI spell them (amd64, arm64, arm + variant), so a node that reports
// uname's `x86_64` or Debian's `armhf` matches a service that asks for `amd64` or `arm/v7`.
// The same table serves constraints (`node.platform.arch==amd64`) and the scheduler's
// platform filter.

import type { Platform } from "../model/types.ts";

export interface NormalPlatform {
  os: string;
  arch: string;
  /** "" when the architecture has no variants. */
  variant: string;
}

// arch alias -> [arch, implied variant]; containerd's normalisation, plus uname spellings.
const ARCH: Record<string, [string, string]> = {
  x86_64: ["amd64", ""],
  "x86-64": ["amd64", ""],
  amd64: ["amd64", ""],
  i386: ["386", ""],
  i686: ["386", ""],
  "386": ["386", ""],
  aarch64: ["arm64", "v8"],
  arm64: ["arm64", "v8"],
  armv8: ["arm64", "v8"],
  armhf: ["arm", "v7"],
  armv7l: ["arm", "v7"],
  armv7: ["arm", "v7"],
  armel: ["arm", "v6"],
  armv6l: ["arm", "v6"],
  armv6: ["arm", "v6"],
  armv5tel: ["arm", "v5"],
  arm: ["arm", "v7"],
};

/** Normalises an architecture name alone: `x86_64` -> `amd64`, `armv7l` -> `arm`. */
export function normalizeArch(arch: string): string {
  const a = arch.trim().toLowerCase();
  return ARCH[a]?.[0] ?? a;
}

/** Normalises a variant: "7" and "v7" are the same; arm64's only variant is v8. */
export function normalizeVariant(arch: string, variant: string | undefined): string {
  const a = arch.trim().toLowerCase();
  const v = (variant ?? "").trim().toLowerCase();
  if (v !== "") return /^\d+$/.test(v) ? `v${v}` : v;
  return ARCH[a]?.[1] ?? "";
}

export function normalizePlatform(p: Platform): NormalPlatform {
  return {
    os: p.os.trim().toLowerCase(),
    arch: normalizeArch(p.arch),
    variant: normalizeVariant(p.arch, p.variant),
  };
}

/**
 * Does a node's platform satisfy one wanted platform? Empty fields of `want` match anything,
 * so `{os: "linux", arch: ""}` accepts every Linux node and `{arch: "arm"}` every arm variant.
 */
export function platformSatisfies(node: NormalPlatform, want: NormalPlatform): boolean {
  if (want.os !== "" && want.os !== node.os) return false;
  if (want.arch !== "" && want.arch !== node.arch) return false;
  return want.variant === "" || want.variant === node.variant;
}
