import assert from "node:assert/strict";
import { test } from "node:test";
import { ensureTestImage, need, removeTestContainers } from "../../test/support/real.ts";
import { DockerExecutor, demuxLogs } from "./docker.ts";
import { parseDevice, toCreateOptions } from "./docker-spec.ts";
import { executorSuite } from "./suite.ts";

const VALUE = `suite-docker-${process.pid}`;

executorSuite("docker", {
  async before(t) {
    if (!need(t, "docker", "busybox")) return undefined;
    const image = ensureTestImage();
    removeTestContainers(VALUE);
    return { executor: new DockerExecutor(), image, label: ["fleet.test", VALUE], pollMs: 100 };
  },
  async after() {
    removeTestContainers(VALUE);
  },
});

test("create options: no Docker restart policy, limits, mounts, devices, healthcheck", () => {
  const o = toCreateOptions({
    name: "n",
    image: "i:1",
    command: ["/bin/sh"],
    args: ["-c", "true"],
    env: ["A=1"],
    labels: { "fleet.task.id": "t1" },
    mounts: [{ type: "bind", source: "/data", target: "/d", readOnly: true }],
    healthcheck: { test: ["wget", "-q", "localhost"], intervalMs: 1500, retries: 2 },
    user: "1000:1000",
    devices: ["/dev/ttyUSB0", "/dev/i2c-1:/dev/i2c:r"],
    privileged: true,
    nanoCPUs: 500_000_000,
    memoryBytes: 64 * 1024 * 1024,
  });
  assert.deepEqual(o.HostConfig?.RestartPolicy, { Name: "no" });
  assert.equal(o.HostConfig?.NanoCpus, 500_000_000);
  assert.equal(o.HostConfig?.Memory, 64 * 1024 * 1024);
  assert.equal(o.HostConfig?.Privileged, true);
  assert.deepEqual(o.HostConfig?.Mounts, [
    { Type: "bind", Source: "/data", Target: "/d", ReadOnly: true },
  ]);
  assert.deepEqual(o.Entrypoint, ["/bin/sh"]);
  assert.deepEqual(o.Cmd, ["-c", "true"]);
  assert.equal(o.User, "1000:1000");
  assert.deepEqual(o.Healthcheck, {
    Test: ["CMD", "wget", "-q", "localhost"],
    Interval: 1_500_000_000,
    Retries: 2,
  });
  assert.deepEqual(o.HostConfig?.Devices?.[1], {
    PathOnHost: "/dev/i2c-1",
    PathInContainer: "/dev/i2c",
    CgroupPermissions: "r",
  });
});

test("device strings as docker run --device reads them", () => {
  assert.deepEqual(parseDevice("/dev/video0"), {
    PathOnHost: "/dev/video0",
    PathInContainer: "/dev/video0",
    CgroupPermissions: "rwm",
  });
});

test("log frames are demultiplexed; a raw (tty) stream passes through", () => {
  const frame = (n: number, s: string) => {
    const h = Buffer.alloc(8);
    h[0] = n;
    h.writeUInt32BE(Buffer.byteLength(s), 4);
    return Buffer.concat([h, Buffer.from(s)]);
  };
  assert.equal(demuxLogs(Buffer.concat([frame(1, "out\n"), frame(2, "err\n")])), "out\nerr\n");
  assert.equal(demuxLogs(Buffer.from("plain\n")), "plain\n");
});

test("resource limits reach the engine", async (t) => {
  if (!need(t, "docker", "busybox")) return;
  const image = ensureTestImage();
  const ex = new DockerExecutor();
  const id = await ex.create({
    name: `fleet-limits-${process.pid}`,
    image,
    args: ["sleep", "1"],
    labels: { "fleet.test": VALUE },
    nanoCPUs: 250_000_000,
    memoryBytes: 32 * 1024 * 1024,
  });
  try {
    const raw = await ex.docker.getContainer(id).inspect();
    assert.equal(raw.HostConfig.NanoCpus, 250_000_000);
    assert.equal(raw.HostConfig.Memory, 32 * 1024 * 1024);
    assert.equal(raw.HostConfig.RestartPolicy?.Name, "no");
  } finally {
    await ex.remove(id);
  }
});
