// The shared storage suite against DiskStorage on real files, plus what only a disk has:
// durability across reopen, segment release, and recovery from damage.
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { storageSuite } from "../../test/raft/storage-suite.ts";
import { DiskStorage } from "./disk-storage.ts";

const quiet = () => {};
const open = new Map<string, DiskStorage>();

storageSuite<DiskStorage>("DiskStorage", {
  async make() {
    const dataDir = mkdtempSync(join(tmpdir(), "fleet-disk-"));
    const s = await DiskStorage.open(dataDir, { log: quiet });
    open.set(s.dir, s);
    return s;
  },
  async reopen(s) {
    await open.get(s.dir)!.close();
    const again = await DiskStorage.open(join(s.dir, ".."), { log: quiet });
    open.set(s.dir, again);
    return again;
  },
  async cleanup(s) {
    await open.get(s.dir)?.close();
    open.delete(s.dir);
    rmSync(join(s.dir, ".."), { recursive: true, force: true });
  },
});
