// A minimal image for tests and the demo, built locally with `docker import` from the host's
// busybox-static (no image registry is reachable): /bin/busybox and its common applets.
import { spawnSync } from "node:child_process";
import { copyFileSync, mkdirSync, mkdtempSync, rmSync, symlinkSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

const APPLETS = [
  "sh",
  "ls",
  "echo",
  "sleep",
  "cat",
  "true",
  "false",
  "wget",
  "nc",
  "httpd",
  "test",
];

/** Builds `tag` unless the engine already has it; returns the tag. Throws when the import fails. */
export function ensureBusyboxImage(tag) {
  if (spawnSync("docker", ["image", "inspect", tag], { stdio: "ignore" }).status === 0) return tag;
  const root = mkdtempSync(join(tmpdir(), "fleet-rootfs-"));
  try {
    mkdirSync(join(root, "bin"));
    mkdirSync(join(root, "tmp"));
    copyFileSync("/bin/busybox", join(root, "bin/busybox"));
    for (const applet of APPLETS) symlinkSync("busybox", join(root, "bin", applet));
    const r = spawnSync(
      "sh",
      ["-c", `tar -C "${root}" -c . | docker import -c 'CMD ["/bin/sh"]' - ${tag}`],
      { encoding: "utf8", timeout: 60_000 },
    );
    if (r.status !== 0) throw new Error(`docker import failed: ${r.stderr}`);
    return tag;
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
}
