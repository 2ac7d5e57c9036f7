// In-process tests of flag parsing and of the flags-to-spec mapping (fast; the real entry is
// exercised by the cli-*.test.ts files).

import assert from "node:assert/strict";
import { test } from "node:test";
import { makeServiceSpec } from "../../core/model/fixtures.ts";
import { parseArgs, UsageError } from "./args.ts";
import { parseHost } from "./client.ts";
import { updateSpec, updateSpecFlags } from "./service-spec.ts";
import { parseBytes, parseCpus, parseDuration } from "./units.ts";

const defs = [
  { name: "quiet", short: "q", kind: "bool" as const, help: "" },
  { name: "detach", short: "d", kind: "bool" as const, help: "" },
  { name: "name", short: "n", kind: "string" as const, help: "" },
  { name: "env", short: "e", kind: "list" as const, help: "" },
];

test("args: long, short, grouped, inline values, repeats, --, and unknown flags", () => {
  const p = parseArgs(["-qd", "--name=web", "-e", "A=1", "--env", "B=2", "img", "--", "-x"], defs);
  assert.deepEqual(p.positionals, ["img", "-x"]);
  assert.equal(p.bools.get("quiet"), true);
  assert.equal(p.bools.get("detach"), true);
  assert.deepEqual(p.values.get("name"), ["web"]);
  assert.deepEqual(p.values.get("env"), ["A=1", "B=2"]);
  assert.deepEqual(parseArgs(["-nweb"], defs).values.get("name"), ["web"]);
  assert.equal(parseArgs(["--detach=false"], defs).bools.get("detach"), false);
  assert.throws(
    () => parseArgs(["--nmae", "x"], defs),
    /unknown flag: --nmae \(did you mean --name\?\)/,
  );
  assert.throws(() => parseArgs(["--name"], defs), /--name needs a value/);
  assert.throws(() => parseArgs(["-z"], defs), UsageError);
  const create = parseArgs(["-d", "busybox", "httpd", "-f"], defs, false);
  assert.deepEqual(create.positionals, ["busybox", "httpd", "-f"]);
});

test("units: durations, sizes and CPUs, with errors naming the flag", () => {
  assert.equal(parseDuration("d", "1m30s"), 90_000);
  assert.equal(parseDuration("d", "500ms"), 500);
  assert.equal(parseDuration("d", "2h"), 7_200_000);
  assert.equal(parseDuration("d", "10"), 10_000);
  assert.throws(
    () => parseDuration("update-delay", "1x"),
    /--update-delay: "1x" is not a duration/,
  );
  assert.equal(parseBytes("m", "64M"), 64 * 2 ** 20);
  assert.equal(parseBytes("m", "1GiB"), 2 ** 30);
  assert.equal(parseBytes("m", "512"), 512);
  assert.throws(() => parseBytes("limit-memory", "lots"), /--limit-memory/);
  assert.equal(parseCpus("c", "0.25"), 250_000_000);
  assert.throws(() => parseCpus("c", "-1"), UsageError);
});

test("hosts: unix paths and tcp addresses; anything else is a usage error", () => {
  assert.deepEqual(parseHost("unix:///run/fleet.sock"), { socketPath: "/run/fleet.sock" });
  assert.deepEqual(parseHost("/tmp/x.sock"), { socketPath: "/tmp/x.sock" });
  assert.deepEqual(parseHost("tcp://10.0.0.1:2377"), { host: "10.0.0.1", port: 2377 });
  assert.deepEqual(parseHost("[::1]:80"), { host: "::1", port: 80 });
  assert.throws(() => parseHost("tcp://host"), /not a manager address/);
  assert.throws(() => parseHost("tcp://host:99999"), /not a manager address/);
});

test("service update: -add/-rm flags edit the current spec, other fields stay", () => {
  const base = makeServiceSpec("web");
  base.taskTemplate.containerSpec.env = ["A=1", "B=2"];
  base.taskTemplate.placement.constraints = ["node.role==worker"];
  base.labels = { team: "iot", tier: "edge" };
  base.endpointSpec.ports = [
    { protocol: "tcp", targetPort: 80, publishedPort: 8080, publishMode: "host" },
    { protocol: "udp", targetPort: 53, publishedPort: 53, publishMode: "host" },
  ];
  const argv = [
    "--env-add",
    "B=3",
    "--env-rm",
    "A",
    "--constraint-rm",
    "node.role==worker",
    "--constraint-add",
    "hw.storage==ssd",
    "--label-rm",
    "tier",
    "--label-add",
    "x=y",
    "--publish-rm",
    "53/udp",
    "--publish-add",
    "published=9090,target=90",
    "--mount-add",
    "type=tmpfs,target=/tmp",
    "--replicas",
    "4",
    "--update-order",
    "start-first",
    "--limit-cpu",
    "1.5",
    "--image",
    "nginx:1",
    "web",
  ];
  const next = updateSpec(base, parseArgs(argv, updateSpecFlags));
  const c = next.taskTemplate.containerSpec;
  assert.deepEqual(c.env, ["B=3"]);
  assert.equal(c.image, "nginx:1");
  assert.deepEqual(c.mounts, [{ type: "tmpfs", target: "/tmp" }]);
  assert.deepEqual(next.taskTemplate.placement.constraints, ["hw.storage==ssd"]);
  assert.deepEqual(next.labels, { team: "iot", x: "y" });
  assert.deepEqual(
    next.endpointSpec.ports.map((p) => `${p.publishedPort}:${p.targetPort}/${p.protocol}`),
    ["8080:80/tcp", "9090:90/tcp"],
  );
  assert.deepEqual(next.mode, { replicated: { replicas: 4 } });
  assert.equal(next.updateConfig.order, "start-first");
  assert.equal(next.taskTemplate.resources.limits?.nanoCPUs, 1.5e9);
  assert.equal(base.taskTemplate.containerSpec.image, "busybox", "the current spec is not changed");
  const global = { ...base, mode: { global: {} } };
  assert.throws(
    () => updateSpec(global, parseArgs(["--replicas", "2"], updateSpecFlags)),
    /--replicas applies to replicated services and jobs only/,
  );
  assert.throws(
    () => updateSpec(base, parseArgs(["--health-retries", "3"], updateSpecFlags)),
    /need --health-cmd/,
  );
});
