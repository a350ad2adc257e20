// An in-memory shared-data store with ngx_wasm_module's rules (engine-verified §3): keys
// told apart by crc32 alone, cas 0 creates only, writes and deletes need the current cas,
// deleting a missing key is a CasMismatch, and a byte budget with LRU eviction.
import { ByteBuf } from "../../lib/bytes";
import { crc32 } from "../../lib/checksum";
import { Kv } from "../../moesif/queue";

class Entry {
  value: ArrayBuffer = new ArrayBuffer(0);
  cas: u32 = 0;
  used: i64 = 0;
}

export class FakeKv extends Kv {
  private entries: Map<u32, Entry> = new Map();
  private cas: u32 = 0;
  private clock: i64 = 0;
  bytes: i32 = 0;
  gets: i32 = 0;
  sets: i32 = 0;
  /** 0 = unlimited; else least recently used entries are evicted to make room. */
  constructor(public capacity: i32 = 0) {
    super();
  }

  private hash(key: ArrayBuffer): u32 {
    return crc32(changetype<usize>(key), key.byteLength, 0);
  }

  get(key: ArrayBuffer, out: ByteBuf): i32 {
    this.gets++;
    const h = this.hash(key);
    if (!this.entries.has(h)) return 1;
    const e = this.entries.get(h);
    e.used = ++this.clock;
    out.buffer(e.value);
    this.cas = e.cas;
    return 0;
  }

  lastCas(): u32 {
    return this.cas;
  }

  set(key: ArrayBuffer, value: usize, len: i32, cas: u32): i32 {
    this.sets++;
    const h = this.hash(key);
    const exists = this.entries.has(h);
    const current: u32 = exists ? this.entries.get(h).cas : 0;
    if (cas != current) return 8;
    const e = exists ? this.entries.get(h) : new Entry();
    if (exists) this.bytes -= e.value.byteLength;
    const v = new ArrayBuffer(len);
    memory.copy(changetype<usize>(v), value, <usize>len);
    e.value = v;
    e.cas = current + 1;
    e.used = ++this.clock;
    this.entries.set(h, e);
    this.bytes += len;
    this.evict(h);
    return 0;
  }

  del(key: ArrayBuffer, cas: u32): i32 {
    const h = this.hash(key);
    if (!this.entries.has(h)) return 8;
    const e = this.entries.get(h);
    if (e.cas != cas) return 8;
    this.bytes -= e.value.byteLength;
    this.entries.delete(h);
    return 0;
  }

  count(): i32 {
    return this.entries.size;
  }

  /** Drops the least recently used entries (never `keep`) until under capacity. */
  private evict(keep: u32): void {
    if (this.capacity <= 0) return;
    while (this.bytes > this.capacity) {
      const keys = this.entries.keys();
      let victim: u32 = 0;
      let oldest = i64.MAX_VALUE;
      for (let i = 0; i < keys.length; i++) {
        const e = this.entries.get(keys[i]);
        if (keys[i] != keep && e.used < oldest) {
          oldest = e.used;
          victim = keys[i];
        }
      }
      if (oldest == i64.MAX_VALUE) return;
      this.bytes -= this.entries.get(victim).value.byteLength;
      this.entries.delete(victim);
    }
  }

  /** Removes one key by hash as an eviction would. */
  evictKey(key: ArrayBuffer): void {
    const h = this.hash(key);
    if (this.entries.has(h)) {
      this.bytes -= this.entries.get(h).value.byteLength;
      this.entries.delete(h);
    }
  }
}
