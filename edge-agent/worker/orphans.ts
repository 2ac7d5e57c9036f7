// Containers whose task left the assignment: stopped with the departed task's grace period
// (remembered when it left; the orphan default when unknown, e.g. after a lost state file),
// then removed. A failure is logged and retried by the next pass.

import type { AssignedTask } from "../../core/codec/index.ts";
import { limits } from "../../core/limits.ts";
import { type ContainerInfo, type Executor, LABEL_TASK_ID } from "../executor/executor.ts";

export class Orphans {
  /** Grace periods of tasks that left the assignment, by task id. */
  readonly #grace = new Map<string, number>();
  readonly #executor: Executor;
  readonly #log: (line: string) => void;

  constructor(executor: Executor, log: (line: string) => void) {
    this.#executor = executor;
    this.#log = log;
  }

  /** Remembers the grace period of every task of `before` missing from `ids`. */
  left(before: readonly AssignedTask[], ids: ReadonlySet<string>): void {
    for (const t of before) {
      if (ids.has(t.id)) continue;
      const grace = (t.spec as { containerSpec?: { stopGracePeriodMs?: unknown } })?.containerSpec
        ?.stopGracePeriodMs;
      if (typeof grace === "number" && grace >= 0) this.#grace.set(t.id, grace);
    }
  }

  async remove(c: ContainerInfo): Promise<void> {
    try {
      const taskId = c.labels[LABEL_TASK_ID] ?? "";
      const grace = this.#grace.get(taskId) ?? limits.agentOrphanGraceMs;
      if (c.state === "running" || c.state === "paused") await this.#executor.stop(c.id, grace);
      await this.#executor.remove(c.id);
      this.#grace.delete(taskId);
      this.#log(`worker: removed container ${c.name} (its task left the assignment)`);
    } catch (err) {
      this.#log(`worker: cannot remove ${c.name} (next pass retries): ${String(err)}`);
    }
  }
}
