// Makes a directory's entries durable: after creating, renaming or deleting a file, the new
// name survives a power cut only once the directory itself is fsync'd. Linux-only semantics;
// it never touches file contents.

import { open } from "node:fs/promises";

export async function fsyncDir(dir: string): Promise<void> {
  const fh = await open(dir, "r");
  try {
    await fh.sync();
  } finally {
    await fh.close();
  }
}
