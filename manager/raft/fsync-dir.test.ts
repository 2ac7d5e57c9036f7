import assert from "node:assert/strict";
import { mkdtempSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import { mkdirDurable } from "./fsync-dir.ts";

test("mkdirDurable creates nested directories and accepts existing ones", async () => {
  const base = mkdtempSync(join(tmpdir(), "fleet-mkdir-"));
  try {
    const deep = join(base, "a", "b", "c");
    await mkdirDurable(deep);
    assert.ok(statSync(deep).isDirectory());
    await mkdirDurable(deep);
    await mkdirDurable(join(base, "a", "x"));
    assert.ok(statSync(join(base, "a", "x")).isDirectory());
  } finally {
    rmSync(base, { recursive: true, force: true });
  }
});
