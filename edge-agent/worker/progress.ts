// Words the worker puts in task status messages for an image pull in progress.

import type { PullProgress } from "../executor/executor.ts";

export function progressMessage(image: string, p: PullProgress): string {
  if (p.totalBytes && p.currentBytes !== undefined) {
    const mb = (n: number) => (n / 1e6).toFixed(1);
    const pct = Math.floor((100 * p.currentBytes) / p.totalBytes);
    return `pulling image ${image}: ${pct}% (${mb(p.currentBytes)}/${mb(p.totalBytes)} MB)`;
  }
  return `pulling image ${image}: ${p.status}`;
}
