// Small durable files (identity, caches): written to a temporary name, fsync'd, renamed over the
// old one, and the directory fsync'd, so a power cut leaves either the old or the new content.

import { open, readFile, rename } from "node:fs/promises";
import { dirname } from "node:path";
import { FleetError } from "../core/errors.ts";
import { fsyncDir, mkdirDurable } from "./raft/fsync-dir.ts";

export async function writeFileAtomic(
  path: string,
  data: string | Uint8Array,
  mode = 0o600,
): Promise<void> {
  await mkdirDurable(dirname(path));
  const tmp = `${path}.tmp-${process.pid}`;
  const fh = await open(tmp, "w", mode);
  try {
    await fh.writeFile(data);
    await fh.sync();
  } finally {
    await fh.close();
  }
  await rename(tmp, path);
  await fsyncDir(dirname(path));
}

/** Reads a JSON file; undefined when it does not exist; a typed error when it is not JSON. */
export async function readJson(path: string): Promise<unknown> {
  let text: string;
  try {
    text = await readFile(path, "utf8");
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === "ENOENT") return undefined;
    throw err;
  }
  try {
    return JSON.parse(text);
  } catch (err) {
    throw new FleetError(
      "files",
      "corrupt",
      `${path} is not valid JSON: ${(err as Error).message}`,
    );
  }
}
