// Hardware facts for placement: hw.arch, hw.cpus, hw.memory, hw.storage, hw.board, read from
// /proc, /sys and the device tree under a given filesystem root (tests pass fixture trees).
// A fact that cannot be read is left out, never guessed; this module never throws on a
// missing or odd file.

import { existsSync, readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import type { WireNodeDescription } from "../../core/codec/index.ts";

export type StorageKind = "ssd" | "hdd" | "sd" | "emmc" | "nvme";

export interface DetectOptions {
  /** Filesystem root; "/" on a board. */
  root?: string;
  /** Node's process.arch; injectable for tests. */
  nodeArch?: string;
  /** Labels from the agent's config; they win over detected ones. */
  configured?: Record<string, string>;
}

function read(root: string, path: string): string | undefined {
  try {
    return readFileSync(join(root, path), "utf8");
  } catch {
    return undefined;
  }
}

function list(root: string, path: string): string[] {
  try {
    return readdirSync(join(root, path)).sort();
  } catch {
    return [];
  }
}

/** Docker/Go architecture names (arm64, amd64, arm) and the ARM variant (v6, v7) if any. */
export function detectArch(root: string, nodeArch: string): { arch: string; variant?: string } {
  const names: Record<string, string> = { x64: "amd64", ia32: "386", arm64: "arm64", arm: "arm" };
  const arch = names[nodeArch] ?? nodeArch;
  if (arch !== "arm") return { arch };
  const m = /^CPU architecture\s*:\s*(\d+)/m.exec(read(root, "proc/cpuinfo") ?? "");
  return m ? { arch, variant: `v${m[1]}` } : { arch };
}

/** Online CPUs from /sys ("0-3,5"), else processor lines in /proc/cpuinfo. */
export function detectCpus(root: string): number | undefined {
  const online = read(root, "sys/devices/system/cpu/online")?.trim();
  if (online) {
    let n = 0;
    for (const part of online.split(",")) {
      const [a, b] = part.split("-").map(Number);
      if (a === undefined || !Number.isInteger(a)) return undefined;
      n += b === undefined ? 1 : b - a + 1;
    }
    if (n > 0) return n;
  }
  const count = (read(root, "proc/cpuinfo") ?? "").match(/^processor\s*:/gm)?.length ?? 0;
  return count > 0 ? count : undefined;
}

export function detectMemoryBytes(root: string): number | undefined {
  const m = /^MemTotal:\s*(\d+)\s*kB/m.exec(read(root, "proc/meminfo") ?? "");
  return m ? Number(m[1]) * 1024 : undefined;
}

const VIRTUAL = /^(loop|ram|zram|dm-|sr|md|nbd|fd)/;

/** The disk holding `/` (from /proc/mounts), else the first real disk. */
export function rootDisk(root: string): string | undefined {
  const disks = list(root, "sys/block").filter((d) => !VIRTUAL.test(d));
  const mounts = read(root, "proc/mounts") ?? "";
  const source = /^(\S+)\s+\/\s/m.exec(mounts)?.[1] ?? "";
  const part = source.startsWith("/dev/") ? source.slice(5) : "";
  if (part) {
    const owner = disks.find((d) => d === part || existsSync(join(root, "sys/block", d, part)));
    if (owner) return owner;
  }
  return disks[0];
}

export function storageKind(root: string, disk: string): StorageKind | undefined {
  if (disk.startsWith("nvme")) return "nvme";
  if (disk.startsWith("mmcblk")) {
    const type = read(root, `sys/block/${disk}/device/type`)?.trim().toUpperCase();
    if (type === "SD") return "sd";
    if (type === "MMC") return "emmc";
    return undefined;
  }
  const rot = read(root, `sys/block/${disk}/queue/rotational`)?.trim();
  if (rot === "1") return "hdd";
  if (rot === "0") return "ssd";
  return undefined;
}

/** The device tree's model (boards), else DMI vendor + product (PCs). */
export function detectBoard(root: string): string | undefined {
  const dt =
    read(root, "proc/device-tree/model") ?? read(root, "sys/firmware/devicetree/base/model");
  const clean = (s: string | undefined) =>
    s?.replace(/\0/g, "").replace(/\s+/g, " ").trim().slice(0, 128) || undefined;
  if (dt !== undefined) return clean(dt);
  const vendor = clean(read(root, "sys/class/dmi/id/sys_vendor"));
  const product = clean(read(root, "sys/class/dmi/id/product_name"));
  if (!product) return undefined;
  return vendor && !product.startsWith(vendor) ? `${vendor} ${product}` : product;
}

export interface Hardware {
  labels: Record<string, string>;
  arch: string;
  variant?: string;
  cpus?: number;
  memoryBytes?: number;
}

export function detectHardware(o: DetectOptions = {}): Hardware {
  const root = o.root ?? "/";
  const { arch, variant } = detectArch(root, o.nodeArch ?? process.arch);
  const cpus = detectCpus(root);
  const memoryBytes = detectMemoryBytes(root);
  const disk = rootDisk(root);
  const storage = disk ? storageKind(root, disk) : undefined;
  const board = detectBoard(root);
  const labels: Record<string, string> = { "hw.arch": arch };
  if (cpus) labels["hw.cpus"] = String(cpus);
  if (memoryBytes) labels["hw.memory"] = String(memoryBytes);
  if (storage) labels["hw.storage"] = storage;
  if (board) labels["hw.board"] = board;
  Object.assign(labels, o.configured ?? {});
  const hw: Hardware = { labels, arch };
  if (variant) hw.variant = variant;
  if (cpus) hw.cpus = cpus;
  if (memoryBytes) hw.memoryBytes = memoryBytes;
  return hw;
}

/** The node description a hello carries. */
export function describeNode(hostname: string, hw: Hardware): WireNodeDescription {
  const platform: WireNodeDescription["platform"] = { os: "linux", arch: hw.arch };
  if (hw.variant) platform.variant = hw.variant;
  return {
    hostname,
    platform,
    resources: { nanoCPUs: (hw.cpus ?? 0) * 1e9, memoryBytes: hw.memoryBytes ?? 0 },
    engineLabels: hw.labels,
  };
}
