import assert from "node:assert/strict";
import { test } from "node:test";
import { normalizePlatform, platformSatisfies } from "./platform.ts";

test("architecture aliases normalise to Go/OCI names", () => {
  const cases: [string, string | undefined, string, string][] = [
    ["x86_64", undefined, "amd64", ""],
    ["AMD64", undefined, "amd64", ""],
    ["aarch64", undefined, "arm64", "v8"],
    ["arm64", "v8", "arm64", "v8"],
    ["armhf", undefined, "arm", "v7"],
    ["armv7l", undefined, "arm", "v7"],
    ["armv6l", undefined, "arm", "v6"],
    ["armel", undefined, "arm", "v6"],
    ["arm", "7", "arm", "v7"],
    ["arm", "v6", "arm", "v6"],
    ["riscv64", undefined, "riscv64", ""],
  ];
  for (const [arch, variant, wantArch, wantVariant] of cases) {
    const p = normalizePlatform(
      variant === undefined ? { os: "Linux", arch } : { os: "Linux", arch, variant },
    );
    assert.deepEqual(p, { os: "linux", arch: wantArch, variant: wantVariant }, arch);
  }
});

test("a wanted platform's empty fields match anything", () => {
  const pi = normalizePlatform({ os: "linux", arch: "armv7l" });
  const want = (os: string, arch: string, variant?: string) =>
    normalizePlatform(variant === undefined ? { os, arch } : { os, arch, variant });
  assert.equal(platformSatisfies(pi, want("linux", "arm")), true);
  assert.equal(platformSatisfies(pi, want("linux", "armhf")), true);
  assert.equal(platformSatisfies(pi, want("", "arm", "v7")), true);
  assert.equal(platformSatisfies(pi, want("linux", "arm", "v6")), false);
  assert.equal(platformSatisfies(pi, want("linux", "arm64")), false);
  assert.equal(platformSatisfies(pi, want("windows", "")), false);
  assert.equal(platformSatisfies(pi, want("linux", "")), true);
});
