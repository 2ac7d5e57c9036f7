// Does a node satisfy a task template's placement (constraints and platforms)? Used by the
// global loop (which nodes get a task), the constraint enforcer (which tasks must leave) and
// the rebalancer (which nodes count). Constraints are parsed once per service spec version.
// Resources and ports are the scheduler's business, not this file's.

import { matchConstraints } from "../constraint/match.ts";
import { parseConstraints } from "../constraint/parse.ts";
import {
  type NormalPlatform,
  normalizePlatform,
  platformSatisfies,
} from "../constraint/platform.ts";
import type { Constraint } from "../constraint/types.ts";
import type { Node, TaskTemplate } from "../model/types.ts";

interface Parsed {
  constraints: readonly Constraint[];
  platforms: readonly NormalPlatform[];
}

export class Placements {
  readonly #cache = new Map<string, Parsed | null>();

  /**
   * True when the node satisfies the template's constraints and platforms; undefined when the
   * constraints do not parse (the API should have refused them; the scheduler explains them).
   * `key` names the template (service id and spec version) for the parse cache.
   */
  fits(key: string, template: TaskTemplate, node: Node): boolean | undefined {
    const p = this.#parsed(key, template);
    if (p === null) return undefined;
    if (p.platforms.length > 0) {
      const np = normalizePlatform(node.description.platform);
      if (!p.platforms.some((want) => platformSatisfies(np, want))) return false;
    }
    return matchConstraints(p.constraints, node);
  }

  clear(): void {
    this.#cache.clear();
  }

  #parsed(key: string, template: TaskTemplate): Parsed | null {
    let p = this.#cache.get(key);
    if (p !== undefined) return p;
    try {
      p = {
        constraints: parseConstraints(template.placement.constraints),
        platforms: template.placement.platforms.map(normalizePlatform),
      };
    } catch {
      p = null;
    }
    if (this.#cache.size > 4096) this.#cache.clear();
    this.#cache.set(key, p);
    return p;
  }
}

export function placementKey(serviceId: string, specVersion: number): string {
  return `${serviceId}/${specVersion}`;
}
