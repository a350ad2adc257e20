// shm_kv and shm_queue zones shared by all workers, with ngx_wasm_module's semantics:
// keys identified by crc32 only, cas counters, namespaced zones, slab-like size accounting.

import { crc32 } from "./crc32.js";
import type { Eviction, KvOptions, KvZoneOptions } from "./types.js";

const PAGE = 4096;
/** Per-entry bookkeeping (rbtree node + queue links + key/value headers) in the model. */
export const KV_ENTRY_OVERHEAD = 64;
/** Pages the slab pool keeps for itself (pool header and page descriptors) in the model. */
export const KV_RESERVED_PAGES = 2;

interface Entry {
  key: string;
  /** UTF-8 length of `key`. */
  keyBytes: number;
  /** The stored bytes: a view of `block`. */
  value: Uint8Array;
  /** Storage of the size class `cost`, recycled when the entry goes (like slab chunks). */
  block: Uint8Array;
  cas: number;
  cost: number;
}

/** Blocks are carved from slabs of this size (one typed array each), like nginx's slab pages. */
const SLAB_BYTES = 1 << 20;

export type KvSetResult = "ok" | "cas_mismatch" | "no_memory";

/** Slab cost of one entry: the power-of-two size class, or whole pages above half a page. */
export function entryCost(keyLen: number, valueLen: number): number {
  const need = keyLen + valueLen + KV_ENTRY_OVERHEAD;
  if (need > PAGE / 2) return Math.ceil(need / PAGE) * PAGE;
  let c = 8;
  while (c < need) c <<= 1;
  return c;
}

export class KvZone {
  /** crc32(key) → entry; Map order is recency (least recently used first). */
  private readonly map = new Map<number, Entry>();
  private used = 0;
  readonly capacity: number;
  /**
   * Storage by size class: freed blocks, and the slab new blocks are cut from. Allocating a
   * typed array per write costs microseconds in Node, far more than the engine's slab
   * allocator; carving and recycling keeps the emulator's share of a write close to a copy.
   * As in nginx, a class keeps its memory once used (at most its peak).
   */
  private readonly free = new Map<number, Uint8Array[]>();
  private readonly slabs = new Map<number, { buf: Uint8Array; next: number }>();

  constructor(
    readonly name: string,
    readonly size: number,
    readonly eviction: Eviction,
  ) {
    if (size < 3 * PAGE) {
      throw new Error(`shm size of ${size} bytes is too small, minimum required is ${3 * PAGE} bytes`);
    }
    if (size % PAGE !== 0) {
      throw new Error(`shm size of ${size} bytes is not page-aligned, must be a multiple of ${PAGE}`);
    }
    this.capacity = size - KV_RESERVED_PAGES * PAGE;
  }

  /**
   * The stored bytes are a view, valid until the entry is next written or removed. `key` as
   * text or as its UTF-8 bytes (the host passes the filter's bytes: no string per call).
   */
  get(key: string | Uint8Array, touch = true): { value: Uint8Array; cas: number } | null {
    const id = crc32(key);
    const e = this.map.get(id);
    if (!e) return null;
    if (touch) {
      this.map.delete(id);
      this.map.set(id, e);
    }
    return e;
  }

  /** value null = delete. `cas` undefined = unconditional (for tests/seeding). `key` as in get. */
  set(key: string | Uint8Array, value: Uint8Array | null, cas: number | undefined): KvSetResult {
    const id = crc32(key);
    const cur = this.map.get(id);
    if (cas !== undefined && cas !== (cur ? cur.cas : 0)) return "cas_mismatch";
    if (value === null) {
      if (!cur) return "cas_mismatch";
      this.map.delete(id);
      this.used -= cur.cost;
      this.recycle(cur);
      return "ok";
    }
    const keyBytes = cur ? cur.keyBytes : typeof key === "string" ? Buffer.byteLength(key) : key.length;
    const cost = entryCost(keyBytes, value.length);
    if (cur && cur.cost === cost) {
      // Same size class: rewritten in its own chunk (no memory change), moved to the recent end.
      cur.block.set(value);
      if (cur.value.length !== value.length) cur.value = cur.block.subarray(0, value.length);
      cur.cas++;
      this.map.delete(id);
      this.map.set(id, cur);
      return "ok";
    }
    const storedKey = cur ? cur.key : typeof key === "string" ? key : dec.decode(key);
    const freed = cur ? cur.cost : 0;
    if (this.used - freed + cost > this.capacity) {
      if (this.eviction === "none" || !this.evict(cost, freed, id)) return "no_memory";
    }
    if (cur) {
      this.map.delete(id);
      this.used -= cur.cost;
      this.recycle(cur);
    }
    const block = this.block(cost);
    block.set(value);
    this.map.set(id, { key: storedKey, keyBytes, value: block.subarray(0, value.length), block, cas: cur ? cur.cas + 1 : 1, cost });
    this.used += cost;
    return "ok";
  }

  private block(cost: number): Uint8Array {
    const free = this.free.get(cost);
    if (free !== undefined && free.length > 0) return free.pop()!;
    if (cost > SLAB_BYTES / 4) return new Uint8Array(cost);
    let slab = this.slabs.get(cost);
    if (slab === undefined || slab.next + cost > slab.buf.length) {
      slab = { buf: new Uint8Array(SLAB_BYTES), next: 0 };
      this.slabs.set(cost, slab);
    }
    slab.next += cost;
    return slab.buf.subarray(slab.next - cost, slab.next);
  }

  private recycle(e: Entry): void {
    let free = this.free.get(e.cost);
    if (free === undefined) this.free.set(e.cost, (free = []));
    free.push(e.block);
  }

  /** Evict least-recently-used entries (SLRU: same size class, then larger, then smaller). */
  private evict(cost: number, freed: number, keep: number): boolean {
    const order: Array<(e: Entry) => boolean> =
      this.eviction === "slru"
        ? [(e) => e.cost === cost, (e) => e.cost > cost, (e) => e.cost < cost]
        : [() => true];
    for (const pick of order) {
      for (const [id, e] of this.map) {
        if (this.used - freed + cost <= this.capacity) return true;
        if (id === keep || !pick(e)) continue;
        this.map.delete(id);
        this.used -= e.cost;
        this.recycle(e);
      }
    }
    return this.used - freed + cost <= this.capacity;
  }

  /** Copies: stored blocks are reused once their entry goes. */
  entries(): Array<{ key: string; value: Uint8Array; cas: number }> {
    return [...this.map.values()].map((e) => ({ key: e.key, value: e.value.slice(), cas: e.cas }));
  }

  bytesUsed(): number {
    return this.used;
  }

  clear(): void {
    this.map.clear();
    this.free.clear();
    this.slabs.clear();
    this.used = 0;
  }
}

export class SharedQueue {
  private readonly items: Uint8Array[] = [];
  private used = 0;
  readonly capacity: number;

  constructor(
    readonly name: string,
    readonly size: number,
  ) {
    this.capacity = size - 2 * PAGE - 4;
  }

  push(item: Uint8Array): boolean {
    if (this.used + 4 + item.length > this.capacity) return false;
    this.items.push(item.slice());
    this.used += 4 + item.length;
    return true;
  }

  pop(): Uint8Array | null {
    const it = this.items.shift();
    if (!it) return null;
    this.used -= 4 + it.length;
    return it;
  }

  get length(): number {
    return this.items.length;
  }
}

const dec = new TextDecoder();

/** Whether `key` (text or UTF-8 bytes) begins with the ASCII `prefix`. */
function startsWith(key: string | Uint8Array, prefix: string): boolean {
  if (typeof key === "string") return key.startsWith(prefix);
  if (key.length < prefix.length) return false;
  for (let i = 0; i < prefix.length; i++) if (key[i] !== prefix.charCodeAt(i)) return false;
  return true;
}

export type ShmZone = { kind: "kv"; zone: KvZone } | { kind: "queue"; queue: SharedQueue };

export class SharedKV {
  /** Every shm zone in declaration order (a queue's token is its index here). */
  readonly zones: Array<{ name: string } & ShmZone> = [];

  constructor(kv: KvOptions | null, queues: Record<string, number> = {}) {
    if (kv) {
      this.addKv("*", kv);
      for (const [name, z] of Object.entries(kv.zones ?? {})) this.addKv(name, z);
    }
    for (const [name, size] of Object.entries(queues)) {
      this.zones.push({ name, kind: "queue", queue: new SharedQueue(name, size) });
    }
  }

  private addKv(name: string, z: KvZoneOptions): void {
    this.zones.push({ name, kind: "kv", zone: new KvZone(name, z.size, z.eviction ?? "slru") });
  }

  private find(name: string): ({ name: string } & ShmZone) | undefined {
    return this.zones.find((z) => z.name === name);
  }

  /** "ns/key" → zone `ns` if defined, else `*` with the full key; "queue" if ns names a queue. */
  resolve(key: string | Uint8Array): KvZone | "queue" | null {
    const slash = typeof key === "string" ? key.indexOf("/") : key.indexOf(47);
    let star: KvZone | null = null;
    // No substring, no closure: this runs for every shared-data call.
    for (const z of this.zones) {
      if (slash > 0 && z.name.length === slash && startsWith(key, z.name)) return z.kind === "kv" ? z.zone : "queue";
      if (z.name === "*" && z.kind === "kv") star = z.zone;
    }
    return star;
  }

  private zoneFor(key: string): KvZone {
    const z = this.resolve(key);
    if (z === null || z === "queue") throw new Error(`no shm_kv zone for key "${key}"`);
    return z;
  }

  /** A copy of the value (stored blocks are reused once their entry goes). */
  get(key: string): { value: Uint8Array; cas: number } | null {
    const e = this.zoneFor(key).get(key, false);
    return e ? { value: e.value.slice(), cas: e.cas } : null;
  }

  /** Unconditional write (bumps the cas like any write). */
  set(key: string, value: Uint8Array | string): void {
    const v = typeof value === "string" ? new TextEncoder().encode(value) : value;
    if (this.zoneFor(key).set(key, v, undefined) !== "ok") throw new Error(`shm_kv full: cannot store "${key}"`);
  }

  delete(key: string): boolean {
    return this.zoneFor(key).set(key, null, undefined) === "ok";
  }

  entries(zone = "*"): Array<{ key: string; value: Uint8Array; cas: number }> {
    const z = this.find(zone);
    return z && z.kind === "kv" ? z.zone.entries() : [];
  }

  bytesUsed(zone = "*"): number {
    const z = this.find(zone);
    return z && z.kind === "kv" ? z.zone.bytesUsed() : 0;
  }

  queue(token: number): SharedQueue | "kv" | null {
    const z = this.zones[token];
    if (!z) return null;
    return z.kind === "queue" ? z.queue : "kv";
  }

  queueToken(name: string): number | "kv" | null {
    const i = this.zones.findIndex((z) => z.name === name);
    if (i < 0) return null;
    return this.zones[i].kind === "queue" ? i : "kv";
  }
}
