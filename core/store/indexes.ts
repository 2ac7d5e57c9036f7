// Secondary indexes. Each index maps an object to zero or more string keys; lookups return the
// ids of objects with that key. Keys are plain strings so an index is a Map<key, Set<id>>.

import type { ObjectOf, TableName } from "../model/types.ts";

type KeyFn<T> = (obj: T) => string[];

const one = (v: string | number | undefined) => (v === undefined || v === "" ? [] : [String(v)]);

export const indexDefs: { [K in TableName]: Record<string, KeyFn<ObjectOf[K]>> } = {
  nodes: {
    role: (n) => one(n.spec.role),
    availability: (n) => one(n.spec.availability),
    state: (n) => one(n.status.state),
    label: (n) => Object.entries(n.spec.labels).map(([k, v]) => `${k}=${v}`),
    hostname: (n) => one(n.description.hostname.toLowerCase()),
  },
  services: {
    name: (s) => one(s.spec.name.toLowerCase()),
  },
  tasks: {
    serviceId: (t) => one(t.serviceId),
    nodeId: (t) => one(t.nodeId),
    slot: (t) => (t.slot > 0 ? [`${t.serviceId}/${t.slot}`] : [`${t.serviceId}/@${t.nodeId}`]),
    desiredState: (t) => one(t.desiredState),
    state: (t) => one(t.status.state),
  },
  clusters: {
    name: (c) => one(c.spec.name),
  },
};

export type IndexName<K extends TableName> = keyof (typeof indexDefs)[K] & string;

/** Query helpers, so callers never spell index keys by hand. */
export const by = {
  serviceId: (id: string) => ({ index: "serviceId", key: id }) as const,
  nodeId: (id: string) => ({ index: "nodeId", key: id }) as const,
  slot: (serviceId: string, slot: number) =>
    ({ index: "slot", key: `${serviceId}/${slot}` }) as const,
  globalSlot: (serviceId: string, nodeId: string) =>
    ({ index: "slot", key: `${serviceId}/@${nodeId}` }) as const,
  desiredState: (s: number) => ({ index: "desiredState", key: String(s) }) as const,
  state: (s: number | string) => ({ index: "state", key: String(s) }) as const,
  role: (r: string) => ({ index: "role", key: r }) as const,
  availability: (a: string) => ({ index: "availability", key: a }) as const,
  label: (k: string, v: string) => ({ index: "label", key: `${k}=${v}` }) as const,
  name: (name: string) => ({ index: "name", key: name.toLowerCase() }) as const,
  hostname: (h: string) => ({ index: "hostname", key: h.toLowerCase() }) as const,
};

export interface Query {
  index: string;
  key: string;
}

export class TableIndexes<T extends { id: string }> {
  private readonly maps = new Map<string, Map<string, Set<string>>>();

  constructor(private readonly defs: Record<string, KeyFn<T>>) {
    for (const name of Object.keys(defs)) this.maps.set(name, new Map());
  }

  keysOf(name: string, obj: T): string[] {
    const def = this.defs[name];
    if (!def) throw new Error(`store: unknown index ${name}`);
    return def(obj);
  }

  add(obj: T): void {
    for (const [name, map] of this.maps) {
      for (const key of this.defs[name]!(obj)) {
        const ids = map.get(key);
        if (ids) ids.add(obj.id);
        else map.set(key, new Set([obj.id]));
      }
    }
  }

  remove(obj: T): void {
    for (const [name, map] of this.maps) {
      for (const key of this.defs[name]!(obj)) {
        const ids = map.get(key);
        if (!ids) continue;
        ids.delete(obj.id);
        if (ids.size === 0) map.delete(key);
      }
    }
  }

  /** Moves an object between keys, touching only the indexes whose keys changed. */
  replace(old: T, next: T): void {
    for (const [name, map] of this.maps) {
      const def = this.defs[name]!;
      const before = def(old);
      const after = def(next);
      if (before.length === after.length && before.every((k, i) => k === after[i])) continue;
      for (const key of before) {
        const ids = map.get(key);
        ids?.delete(old.id);
        if (ids?.size === 0) map.delete(key);
      }
      for (const key of after) {
        const ids = map.get(key);
        if (ids) ids.add(next.id);
        else map.set(key, new Set([next.id]));
      }
    }
  }

  lookup(q: Query): ReadonlySet<string> {
    const map = this.maps.get(q.index);
    if (!map) throw new Error(`store: unknown index ${q.index}`);
    return map.get(q.key) ?? EMPTY;
  }

  clear(): void {
    for (const map of this.maps.values()) map.clear();
  }
}

const EMPTY: ReadonlySet<string> = new Set();
