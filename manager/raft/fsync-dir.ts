// Makes directory entries durable: after creating, renaming or deleting a file (or directory),
// the new name survives a power cut only once its parent directory is fsync'd. Linux
// semantics; never touches file contents.

import { mkdir, open } from "node:fs/promises";
import { dirname, resolve } from "node:path";

export async function fsyncDir(dir: string): Promise<void> {
  const fh = await open(dir, "r");
  try {
    await fh.sync();
  } finally {
    await fh.close();
  }
}

/**
 * `mkdir -p` whose result survives a power cut: every directory it created is recorded by an
 * fsync of its parent, so a log acknowledged inside it cannot vanish with its folder.
 */
export async function mkdirDurable(dir: string): Promise<void> {
  const first = await mkdir(dir, { recursive: true });
  if (first === undefined) return; // it all existed already
  const created: string[] = [];
  // From the deepest up to the first one mkdir made; a path has finitely many parents.
  for (let d = resolve(dir); ; d = dirname(d)) {
    created.push(d);
    if (d === resolve(first) || d === dirname(d)) break;
  }
  for (const d of created.reverse()) await fsyncDir(dirname(d));
}
