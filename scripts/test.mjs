#!/usr/bin/env node
// The one test command: lint, type-check, then every *.test.ts through node:test.
// Fails when any step fails and when node:test counted zero tests (Node 20 runs nothing and
// exits 0 when handed a glob it cannot expand). `npm test -- <file...>` runs only those files
// (without lint and type-check unless --full).
import { spawnSync } from "node:child_process";
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, relative, resolve } from "node:path";
import { fileURLToPath } from "node:url";

const root = resolve(fileURLToPath(import.meta.url), "../..");
const args = process.argv.slice(2);
const flags = new Set(args.filter((a) => a.startsWith("--")));
const picked = args.filter((a) => !a.startsWith("--"));
const full = flags.has("--full") || picked.length === 0;

function run(what, cmd, cmdArgs) {
  const t0 = process.hrtime.bigint();
  const r = spawnSync(cmd, cmdArgs, { cwd: root, stdio: "inherit" });
  const s = Number(process.hrtime.bigint() - t0) / 1e9;
  if (r.status !== 0) {
    console.error(`\ntest: ${what} failed (exit ${r.status ?? r.signal})`);
    process.exit(1);
  }
  console.log(`test: ${what} ok (${s.toFixed(1)} s)`);
}

function findTests(dir, out) {
  for (const name of readdirSync(dir)) {
    if (name === "node_modules" || name === "dist" || name.startsWith(".")) continue;
    const path = join(dir, name);
    if (statSync(path).isDirectory()) findTests(path, out);
    else if (name.endsWith(".test.ts")) out.push(relative(root, path));
  }
  return out;
}

const bin = (name) => join(root, "node_modules", ".bin", name);
if (full && !flags.has("--no-lint")) run("lint", "npm", ["run", "--silent", "lint"]);
if (full && !flags.has("--no-typecheck")) run("type-check", bin("tsc"), ["--noEmit", "-p", "."]);

const files =
  picked.length > 0
    ? picked
    : ["core", "manager", "edge-agent", "test", "scripts"].flatMap((d) => {
        try {
          return findTests(join(root, d), []);
        } catch {
          return [];
        }
      });
const missing = picked.filter((f) => !existsSync(resolve(root, f)));
if (missing.length > 0) {
  console.error(`test: no such test file: ${missing.join(", ")}`);
  process.exit(1);
}
if (files.length === 0) {
  console.error("test: found no *.test.ts files");
  process.exit(1);
}
files.sort();

const tmp = mkdtempSync(join(tmpdir(), "fleet-test-"));
const countFile = join(tmp, "count.jsonl");
const concurrency = process.env.FLEET_TEST_CONCURRENCY ?? "2";
const r = spawnSync(
  process.execPath,
  [
    "--import",
    "tsx",
    "--test",
    `--test-concurrency=${concurrency}`,
    // A failed test must not hang the run on handles it left open, nor may any test run forever.
    "--test-force-exit",
    "--test-timeout=300000",
    "--test-reporter=spec",
    "--test-reporter-destination=stdout",
    `--test-reporter=${join(root, "scripts/test-count.mjs")}`,
    `--test-reporter-destination=${join(tmp, "count.out")}`,
    ...files,
  ],
  // A runner started from inside a test must not report to that test's parent runner.
  {
    cwd: root,
    stdio: "inherit",
    env: { ...process.env, NODE_TEST_CONTEXT: undefined, FLEET_TEST_COUNT: countFile },
  },
);
const events = existsSync(countFile)
  ? readFileSync(countFile, "utf8")
      .split("\n")
      .filter(Boolean)
      .map((l) => JSON.parse(l))
  : [];
rmSync(tmp, { recursive: true, force: true });
// Leaf tests: a test whose previous event in its file was not one level deeper (children
// finish before their parent). Suites are not tests. Node 20 reports a file that registered no
// tests as one passing top-level "test" named after the file: not a test, and a mistake.
function count(list) {
  const c = { tests: 0, pass: 0, fail: 0, skipped: 0, empty: [] };
  const prev = new Map();
  for (const e of list) {
    const leaf = (prev.get(e.file) ?? 0) <= e.nesting;
    prev.set(e.file, e.nesting);
    if (!leaf || e.suite) continue;
    if (e.nesting === 0 && e.pass && e.name === e.file) {
      c.empty.push(relative(root, e.file));
      continue;
    }
    c.tests++;
    if (e.skip || e.todo) c.skipped++;
    else if (e.pass) c.pass++;
    else c.fail++;
  }
  return c;
}
const { tests, pass, fail, skipped, empty } = count(events);
console.log(
  `test: ${files.length} files, ${tests} tests, ${pass} passed, ${fail} failed, ${skipped} skipped`,
);
if (r.status !== 0 || fail > 0) {
  console.error("test: node:test reported failures");
  process.exit(1);
}
if (empty.length > 0) {
  console.error(`test: these files registered no tests: ${empty.join(", ")}`);
}
if (tests <= 0) {
  console.error("test: node:test counted zero tests; refusing to call that a pass");
  process.exit(1);
}
if (empty.length > 0) process.exit(1);
if (process.env.CI === "true" && skipped > 0) {
  console.error(`test: ${skipped} tests skipped under CI=true; every real part must be present`);
  process.exit(1);
}
