// Shell completion from the real binary: `fleet completion bash` sourced in bash (the completion
// function asked directly, as bash's readline would), and `fleet completion zsh` loaded in a real
// interactive zsh driven through zpty, where TAB completes command words and flags.

import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, type TestContext, test } from "node:test";
import { bundleCli } from "./cli-harness.ts";

const dir = mkdtempSync(join(tmpdir(), "fleet-completion-"));
let bin = "";

before(async () => {
  bin = await bundleCli(dir);
});

after(() => rmSync(dir, { recursive: true, force: true }));

function shell(t: TestContext, name: "bash" | "zsh"): boolean {
  if (spawnSync(name, ["--version"]).status === 0) return true;
  // CI installs both (.ci/run); elsewhere a missing shell skips its test.
  const msg = `${name} is not installed (apt-get install -y ${name}; bash .ci/run does it)`;
  if (process.env.CI === "true") assert.fail(msg);
  console.warn(`\n*** ${t.name}: SKIPPED: ${msg} ***\n`);
  t.skip(msg);
  return false;
}

const fleetCmd = () => `${JSON.stringify(process.execPath)} ${JSON.stringify(bin)}`;

test("bash: complete -p names the function; words and flags complete", (t) => {
  if (!shell(t, "bash")) return;
  const script = `
set -e
source <(${fleetCmd()} completion bash)
complete -p fleet
comp() { COMP_WORDS=("$@"); COMP_CWORD=$(( $# - 1 )); COMPREPLY=(); _fleet; echo "[$*] \${COMPREPLY[*]}"; }
comp fleet serv
comp fleet service ""
comp fleet service create --rep
comp fleet node ls --f
comp fleet -H /x.sock no
comp fleet cluster update --heart
`;
  const r = spawnSync("bash", ["-c", script], { encoding: "utf8", timeout: 30_000 });
  assert.equal(r.status, 0, r.stderr);
  const lines = r.stdout.trim().split("\n");
  assert.equal(lines[0], "complete -F _fleet fleet");
  const got = new Map(
    lines.slice(1).map((l) => {
      const m = /^\[(.*?)\] ?(.*)$/.exec(l)!;
      return [m[1]!, m[2]!.split(" ").filter(Boolean)];
    }),
  );
  assert.deepEqual(got.get("fleet serv"), ["service"]);
  assert.deepEqual(got.get("fleet service ")?.sort(), [
    "create",
    "inspect",
    "logs",
    "ls",
    "ps",
    "rm",
    "rollback",
    "scale",
    "update",
  ]);
  assert.deepEqual(got.get("fleet service create --rep")?.sort(), [
    "--replicas",
    "--replicas-max-per-node",
  ]);
  assert.deepEqual(got.get("fleet node ls --f")?.sort(), ["--filter", "--format"]);
  assert.deepEqual(got.get("fleet -H /x.sock no"), ["node"]);
  assert.deepEqual(got.get("fleet cluster update --heart"), ["--heartbeat-period"]);
});

test("zsh: TAB in an interactive zsh completes words and flags", (t) => {
  if (!shell(t, "zsh")) return;
  const script = join(dir, "fleet.zsh");
  const gen = spawnSync(process.execPath, [bin, "completion", "zsh"], { encoding: "utf8" });
  assert.equal(gen.status, 0, gen.stderr);
  assert.match(gen.stdout, /^#compdef fleet\n/);
  writeFileSync(script, gen.stdout);
  // Each case types a partial line with TABs; `fleet` is a function printing the final argv,
  // marked GOT<…> (the marker is split in the definition so the echo cannot match it).
  const typed = (keys: string[]) =>
    keys.map((k, i) =>
      i < keys.length - 1
        ? `zpty -w -n z $'${k}'; sleep 0.4`
        : `zpty -w z $'${k}'; out=""; zpty -r -m z out '*GOT<*>*'; print -r -- "\${out##*GOT}"`,
    );
  const driver = [
    "zmodload zsh/zpty",
    "zpty -b z 'zsh -f -i'",
    `zpty -w z 'PS1="> "; autoload -U compinit && compinit -u; source ${script}; fleet() { print -r -- "GOT""<$*>" }'`,
    ...typed(["fleet serv\\t", "ls --for\\t", "json"]),
    ...typed(["fleet no\\t", "prom\\t", "edge-1"]),
    ...typed(["fleet service create --replicas-m\\t", "2 busybox"]),
    "zpty -d z",
  ].join("\n");
  const r = spawnSync("zsh", ["-f", "-c", driver], { encoding: "utf8", timeout: 60_000 });
  assert.equal(r.status, 0, r.stderr);
  const got = [...r.stdout.matchAll(/<([^>\r\n]*)>/g)].map((m) => m[1]);
  assert.deepEqual(got, [
    "service ls --format json",
    "node promote edge-1",
    "service create --replicas-max-per-node 2 busybox",
  ]);
});

test("completion for an unknown shell, version and help", async () => {
  const run = (args: string[]) =>
    spawnSync(process.execPath, [bin, ...args], { encoding: "utf8", timeout: 30_000 });
  const fish = run(["completion", "fish"]);
  assert.equal(fish.status, 2);
  assert.match(fish.stderr, /no completion for "fish" \(bash or zsh\)/);
  const none = run(["completion"]);
  assert.equal(none.status, 2);
  assert.match(none.stderr, /"fleet completion" requires at least 1 argument/);
  const v = run(["version"]);
  assert.equal(v.status, 0);
  assert.match(v.stdout, /^fleet \d+\.\d+\.\d+ \(API v1\)$/m);
  const help = run(["service"]);
  assert.equal(help.status, 0);
  assert.match(help.stdout, /logs/);
  const typo = run(["servce", "ls"]);
  assert.equal(typo.status, 2);
  assert.match(typo.stderr, /unknown command "fleet servce" \(did you mean "service"\?\)/);
});
