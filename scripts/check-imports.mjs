#!/usr/bin/env node
// Enforces the layering rules of DESIGN §1 that a linter cannot express:
//  - core/ is pure: no node: modules, no I/O packages, no clocks or randomness;
//  - core/ never imports manager/ or edge-agent/;
//  - edge-agent/ never imports manager/ (nor aedes, which must stay out of the agent bundle).
import { readdirSync, readFileSync, statSync } from "node:fs";
import { dirname, join, relative, resolve } from "node:path";
import { fileURLToPath } from "node:url";

const CORE_PACKAGES = new Set([
  "cbor-x",
  "@noble/curves",
  "@noble/hashes",
  "fast-check",
  // Pure ASN.1 schemas (no I/O, no global crypto) for X.509 in core/crypto.
  "@peculiar/asn1-schema",
  "@peculiar/asn1-x509",
  "@peculiar/asn1-pkcs8",
  "@peculiar/asn1-ecc",
]);
const TEST_ONLY_NODE = new Set(["node:test", "node:assert", "node:assert/strict"]);
const IMPURE_PATTERNS = [
  [/\bDate\.now\s*\(/, "Date.now() (inject a clock)"],
  [/\bnew Date\s*\(\s*\)/, "new Date() (inject a clock)"],
  [/\bMath\.random\s*\(/, "Math.random() (inject a seeded PRNG)"],
  [/\bperformance\.now\s*\(/, "performance.now() (inject a clock)"],
  [/\bcrypto\.(randomUUID|getRandomValues|randomBytes)\s*\(/, "system randomness (inject it)"],
  [/\bset(Timeout|Interval|Immediate)\s*\(/, "timers (drive with tick())"],
];

const IMPORT_RE =
  /(?:^|[\s;])(?:import|export)\s[^'"`]*?from\s*["']([^"']+)["']|(?:^|[\s;(])import\s*\(\s*["']([^"']+)["']\s*\)|^\s*import\s*["']([^"']+)["']/gm;

/** Every module specifier a source file imports or re-exports. */
export function importsOf(source) {
  const out = [];
  for (const m of source.matchAll(IMPORT_RE)) out.push(m[1] ?? m[2] ?? m[3]);
  return out;
}

function packageName(spec) {
  const parts = spec.split("/");
  return spec.startsWith("@") ? parts.slice(0, 2).join("/") : parts[0];
}

function stripComments(source) {
  return source.replace(/\/\*[\s\S]*?\*\//g, "").replace(/(^|[^:"'`])\/\/.*$/gm, "$1");
}

/** Returns the violations of one file; `file` is relative to the repository root. */
export function checkFile(file, source) {
  const problems = [];
  const area = file.split("/")[0];
  const isTest = /\.test\.ts$/.test(file);
  for (const spec of importsOf(source)) {
    const target = spec.startsWith(".") ? join(dirname(file), spec) : null;
    const targetArea = target?.split("/")[0];
    if (area === "core") {
      if (target && targetArea !== "core") problems.push(`${file}: core/ imports ${spec}`);
      if (!target && !(isTest && TEST_ONLY_NODE.has(spec)) && !CORE_PACKAGES.has(packageName(spec)))
        problems.push(`${file}: core/ must stay pure but imports "${spec}"`);
    }
    if (area === "edge-agent") {
      if (targetArea === "manager")
        problems.push(`${file}: edge-agent/ imports manager/ (${spec})`);
      if (!target && packageName(spec) === "aedes")
        problems.push(`${file}: edge-agent/ imports aedes (the broker stays out of the agent)`);
    }
  }
  if (area === "core" && !isTest) {
    const code = stripComments(source);
    for (const [re, what] of IMPURE_PATTERNS)
      if (re.test(code)) problems.push(`${file}: core/ must stay pure but uses ${what}`);
  }
  return problems;
}

function walk(dir, out) {
  for (const name of readdirSync(dir)) {
    if (name === "node_modules" || name.startsWith(".")) continue;
    const path = join(dir, name);
    if (statSync(path).isDirectory()) walk(path, out);
    else if (name.endsWith(".ts")) out.push(path);
  }
  return out;
}

export function checkTree(root) {
  const problems = [];
  for (const area of ["core", "edge-agent"]) {
    let files = [];
    try {
      files = walk(join(root, area), []);
    } catch {
      continue;
    }
    for (const f of files) problems.push(...checkFile(relative(root, f), readFileSync(f, "utf8")));
  }
  return problems;
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const root = resolve(dirname(fileURLToPath(import.meta.url)), "..");
  const problems = checkTree(root);
  for (const p of problems) console.error(`check-imports: ${p}`);
  if (problems.length > 0) process.exit(1);
  console.log("check-imports: layering rules hold");
}
