import assert from "node:assert/strict";
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { after, test } from "node:test";
import { describeNode, detectHardware } from "./labels.ts";

// Fixture trees are written by the test (not checked in): each is a map path -> content.
const roots: string[] = [];
after(() => {
  for (const r of roots) rmSync(r, { recursive: true, force: true });
});
function tree(files: Record<string, string>): string {
  const root = mkdtempSync(join(tmpdir(), "fleet-hw-"));
  roots.push(root);
  for (const [path, content] of Object.entries(files)) {
    mkdirSync(dirname(join(root, path)), { recursive: true });
    if (path.endsWith("/")) mkdirSync(join(root, path), { recursive: true });
    else writeFileSync(join(root, path), content);
  }
  return root;
}

const pi4 = {
  "proc/cpuinfo": "processor\t: 0\nCPU architecture: 8\nprocessor\t: 1\nprocessor\t: 2\n",
  "sys/devices/system/cpu/online": "0-3\n",
  "proc/meminfo": "MemTotal:        3930124 kB\nMemFree: 1 kB\n",
  "proc/mounts": "/dev/mmcblk0p2 / ext4 rw,noatime 0 0\n/dev/mmcblk0p1 /boot vfat rw 0 0\n",
  "sys/block/mmcblk0/device/type": "SD\n",
  "sys/block/mmcblk0/mmcblk0p2/": "",
  "sys/block/loop0/queue/rotational": "0\n",
  "proc/device-tree/model": "Raspberry Pi 4 Model B Rev 1.4\0",
};

test("Raspberry Pi 4 booting from an SD card", () => {
  const hw = detectHardware({ root: tree(pi4), nodeArch: "arm64", configured: { site: "a" } });
  assert.deepEqual(hw.labels, {
    "hw.arch": "arm64",
    "hw.cpus": "4",
    "hw.memory": String(3930124 * 1024),
    "hw.storage": "sd",
    "hw.board": "Raspberry Pi 4 Model B Rev 1.4",
    site: "a",
  });
});

test("x86 box with an NVMe disk (DMI names the board)", () => {
  const root = tree({
    "proc/cpuinfo": "processor\t: 0\nprocessor\t: 1\n",
    "proc/meminfo": "MemTotal:        16303252 kB\n",
    "proc/mounts": "/dev/nvme0n1p2 / ext4 rw 0 0\n",
    "sys/block/nvme0n1/queue/rotational": "0\n",
    "sys/block/nvme0n1/nvme0n1p2/": "",
    "sys/block/sda/queue/rotational": "1\n",
    "sys/class/dmi/id/sys_vendor": "Intel Corporation\n",
    "sys/class/dmi/id/product_name": "NUC8i5BEH\n",
  });
  const hw = detectHardware({ root, nodeArch: "x64" });
  assert.equal(hw.labels["hw.arch"], "amd64");
  assert.equal(hw.labels["hw.cpus"], "2");
  assert.equal(hw.labels["hw.storage"], "nvme");
  assert.equal(hw.labels["hw.board"], "Intel Corporation NUC8i5BEH");
});

test("armv7 gateway on eMMC (device tree under /sys/firmware)", () => {
  const root = tree({
    "proc/cpuinfo": "processor\t: 0\nCPU architecture: 7\n",
    "proc/meminfo": "MemTotal:         505000 kB\n",
    "proc/mounts": "/dev/mmcblk1p1 / ext4 rw 0 0\n",
    "sys/block/mmcblk1/device/type": "MMC\n",
    "sys/block/mmcblk1/mmcblk1p1/": "",
    "sys/block/mmcblk1boot0/device/type": "MMC\n",
    "sys/firmware/devicetree/base/model": "Seeed reTerminal gateway\0",
  });
  const hw = detectHardware({ root, nodeArch: "arm" });
  assert.equal(hw.labels["hw.arch"], "arm");
  assert.equal(hw.variant, "v7");
  assert.equal(hw.labels["hw.cpus"], "1");
  assert.equal(hw.labels["hw.storage"], "emmc");
  assert.equal(hw.labels["hw.board"], "Seeed reTerminal gateway");
  const d = describeNode("gw1", hw);
  assert.deepEqual(d.platform, { os: "linux", arch: "arm", variant: "v7" });
  assert.equal(d.resources.memoryBytes, 505000 * 1024);
  assert.equal(d.resources.nanoCPUs, 1e9);
});

test("server on a rotational disk; root on overlay falls back to the first disk", () => {
  const root = tree({
    "proc/mounts": "overlay / overlay rw 0 0\n",
    "sys/block/sda/queue/rotational": "1\n",
    "sys/block/sdb/queue/rotational": "0\n",
  });
  const hw = detectHardware({ root, nodeArch: "x64" });
  assert.equal(hw.labels["hw.storage"], "hdd");
  assert.equal(hw.labels["hw.board"], undefined);
  assert.equal(hw.labels["hw.cpus"], undefined);
});

test("configured labels win; an empty tree yields only the arch", () => {
  const hw = detectHardware({
    root: tree({}),
    nodeArch: "arm64",
    configured: { "hw.storage": "ssd" },
  });
  assert.deepEqual(hw.labels, { "hw.arch": "arm64", "hw.storage": "ssd" });
});

test("this machine: reads without throwing and reports arch and cpus", () => {
  const hw = detectHardware();
  assert.ok(hw.labels["hw.arch"]);
  assert.ok(Number(hw.labels["hw.cpus"]) >= 1);
});
