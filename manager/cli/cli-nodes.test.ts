// The real `fleet` entry against an API server on a unix socket: node commands, output formats,
// errors and exit codes.

import assert from "node:assert/strict";
import { test } from "node:test";
import { fleet, startApi } from "./testing.ts";

test("node ls: aligned table with this manager marked, -q ids, --format json", async () => {
  const s = await startApi();
  try {
    const [tableOut, quiet, asJson, filtered] = await Promise.all([
      fleet(["node", "ls"], { socket: s.socket }),
      fleet(["node", "ls", "-q"], { socket: s.socket }),
      fleet(["node", "ls", "--format", "json"], { socket: s.socket }),
      fleet(["node", "ls", "--filter", "role=worker", "-f", "label=storage=ssd", "-q"], {
        socket: s.socket,
      }),
    ]);
    assert.equal(tableOut.code, 0, tableOut.stderr);
    const lines = tableOut.stdout.trimEnd().split("\n");
    assert.match(
      lines[0]!,
      /^ID {5}HOSTNAME {4}STATUS {3}AVAILABILITY {3}MANAGER STATUS {3}PLATFORM$/,
    );
    assert.match(lines[1]!, /^m1 \* {3}manager-1 {3}Ready {4}Active {9}Leader {11}linux\/x86_64$/);
    assert.equal(lines.length, 4);
    assert.equal(lines[0]!.indexOf("HOSTNAME"), lines[2]!.indexOf("worker-1"));
    assert.deepEqual(quiet.stdout.trim().split("\n"), ["m1", "w1", "w2"]);
    const parsed = JSON.parse(asJson.stdout);
    assert.equal(parsed.length, 3);
    assert.equal(parsed[1].description.hostname, "worker-1");
    assert.equal(filtered.stdout.trim(), "w1");
  } finally {
    await s.stop();
  }
});

test("node inspect, update, promote, demote, rm and ps through the real CLI", async () => {
  const s = await startApi();
  const run = (...a: string[]) => fleet(a, { socket: s.socket });
  const node = (id: string) => s.store.view((tx) => tx.get("nodes", id))!;
  try {
    const inspect = await run("node", "inspect", "worker-2");
    assert.equal(JSON.parse(inspect.stdout)[0].id, "w2");
    const up = await run(
      "node",
      "update",
      "--availability",
      "drain",
      "--label-add",
      "zone=a",
      "--label-rm",
      "storage",
      "w1",
    );
    assert.equal(up.code, 0, up.stderr);
    assert.equal(node("w1").spec.availability, "drain");
    assert.deepEqual(node("w1").spec.labels, { zone: "a" });
    // An edge agent cannot run the manager components: refused, saying what to do instead.
    const promote = await run("node", "promote", "w2");
    assert.equal(promote.code, 1);
    assert.match(promote.stderr, /worker-2 .* runs no manager daemon .*fleet join --token/);
    assert.equal(node("w2").spec.role, "worker");
    const demote = await run("node", "demote", "worker-2");
    assert.equal(demote.code, 0, demote.stderr);
    assert.match(demote.stdout, /Node worker-2 is already a worker/);
    const rm = await run("node", "rm", "w2");
    assert.equal(rm.code, 1);
    assert.match(rm.stderr, /not down and can't be removed.*--force/);
    const forced = await run("node", "rm", "--force", "w2");
    assert.equal(forced.code, 0, forced.stderr);
    assert.equal(
      s.store.view((tx) => tx.get("nodes", "w2")),
      undefined,
    );
    const ps = await run("node", "ps", "w1");
    assert.equal(ps.code, 0, ps.stderr);
    assert.match(ps.stdout, /^ID\s+NAME\s+IMAGE\s+NODE\s+DESIRED STATE\s+CURRENT STATE\s+ERROR$/m);
  } finally {
    await s.stop();
  }
});

test("errors: unknown and ambiguous ids, bad flags and values, a manager down", async () => {
  const s = await startApi();
  try {
    const [unknown, ambiguous, badFlag, badValue, missing, down, badHost] = await Promise.all([
      fleet(["node", "inspect", "nope"], { socket: s.socket }),
      fleet(["node", "inspect", "w"], { socket: s.socket }),
      fleet(["node", "update", "--availabilty", "drain", "w1"], { socket: s.socket }),
      fleet(["node", "update", "--availability", "sleep", "w1"], { socket: s.socket }),
      fleet(["node", "update"], { socket: s.socket }),
      fleet(["node", "ls"], { socket: `${s.dir}/no-such.sock` }),
      fleet(["--host", "tcp://nowhere", "node", "ls"]),
    ]);
    assert.equal(unknown.code, 1);
    assert.match(unknown.stderr, /^Error: no such node: nope \(list them with `fleet node ls`\)/);
    assert.equal(ambiguous.code, 1);
    assert.match(ambiguous.stderr, /ambiguous \(2 matches: w1, w2\); use more characters/);
    assert.equal(badFlag.code, 2);
    assert.match(badFlag.stderr, /unknown flag: --availabilty \(did you mean --availability\?\)/);
    assert.match(badFlag.stderr, /See 'fleet node update --help'/);
    assert.equal(badValue.code, 2);
    assert.match(badValue.stderr, /"sleep" is not active, pause or drain/);
    assert.equal(missing.code, 2);
    assert.match(missing.stderr, /requires at least 1 argument/);
    assert.equal(down.code, 1);
    assert.match(
      down.stderr,
      /cannot reach a fleet manager at unix:\/\/.*no-such\.sock.*fleet init/,
    );
    assert.equal(badHost.code, 2);
    assert.match(badHost.stderr, /not a manager address/);
  } finally {
    await s.stop();
  }
});

test("help, version, unknown commands and shell completion", async () => {
  const [top, group, cmd, typo, version, bash, zsh, badShell] = await Promise.all([
    fleet([]),
    fleet(["service"]),
    fleet(["service", "create", "--help"]),
    fleet(["servce", "ls"]),
    fleet(["version"]),
    fleet(["completion", "bash"]),
    fleet(["completion", "zsh"]),
    fleet(["completion", "fish"]),
  ]);
  assert.equal(top.code, 0);
  assert.match(top.stdout, /^ {2}node ls\s+List nodes in the cluster$/m);
  assert.match(group.stdout, /^ {2}rollback\s+Revert a service/m);
  assert.match(cmd.stdout, /--constraint EXPR/);
  assert.match(cmd.stdout, /--update-failure-action ACTION/);
  assert.equal(typo.code, 2);
  assert.match(typo.stderr, /unknown command "fleet servce" \(did you mean "service"\?\)/);
  assert.match(version.stdout, /^fleet \d+\.\d+\.\d+/);
  assert.match(bash.stdout, /complete -F _fleet fleet/);
  assert.match(
    bash.stdout,
    /"service"\) echo "create ls ps inspect update scale rm rollback logs"/,
  );
  assert.match(bash.stdout, /"service create"\) echo "--name --mode --constraint/);
  assert.match(zsh.stdout, /^#compdef fleet/);
  assert.equal(badShell.code, 2);
});
