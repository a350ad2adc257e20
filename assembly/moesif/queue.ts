// The event queue in proxy-wasm shared data (design: docs/queue.md).
//
// Every worker appends events to one ring of slot keys; any worker's tick claims a range
// of slots under a lease kept in one META key, sends it, then deletes the slots. The
// design follows ngx_wasm_module's real KV rules: cas 0 creates only, writes and deletes
// need the current cas, keys are told apart by crc32 alone (so all our keys have the same
// length and differ only inside one 4-byte window, which CRC-32 always distinguishes),
// full zones may evict silently (lost slots are detected and counted).
import { ByteBuf } from "../lib/bytes";
import { crc32 } from "../lib/checksum";
import { utf8, utf8Bytes } from "../lib/utf8";

export const enum KvResult {
  Ok = 0,
  NotFound = 1,
  CasMismatch = 8,
}

/** The shared-data operations the queue needs (the host in production, a fake in tests). */
export abstract class Kv {
  /** Appends the value to `out`; on Ok, `lastCas()` is the key's cas. */
  abstract get(key: ArrayBuffer, out: ByteBuf): i32;
  abstract lastCas(): u32;
  abstract set(key: ArrayBuffer, value: usize, len: i32, cas: u32): i32;
  abstract del(key: ArrayBuffer, cas: u32): i32;
}

/** Bytes in front of every event in a slot value: magic, flags, sequence number. */
export const SLOT_HEADER: i32 = 16;
const MAGIC: u32 = 0x53454f4d; // "MOES"
const LEASE_SIZE: i32 = 56;
const META_HEADER: i32 = 24;
/** At most this many batches are in flight (or waiting to be retried) at once, all workers together. */
export const MAX_LEASES: i32 = 32;
const CAS_TRIES: i32 = 16;

const ALPHABET = utf8Bytes(utf8("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"));

export const enum Drop {
  QueueFull = 0,
  BytesFull = 1,
  TooLarge = 2,
  Contention = 3,
  Evicted = 4,
  Orphaned = 5,
  Rejected = 6,
  RetryExhausted = 7,
  Sampled = 8,
  NoZone = 9,
  COUNT = 10,
}

export const DROP_NAMES: Array<string> = [
  "queue_full", "bytes_full", "too_large", "contention", "evicted", "orphaned", "rejected",
  "retry_exhausted", "sampled", "no_zone",
];

export class Lease {
  start: u64 = 0;
  end: u64 = 0;
  /** Bytes of the slots (as stored) once read; 0 until then. */
  bytes: u64 = 0;
  /** Earliest time a retry may be sent. */
  notBefore: i64 = 0;
  /** Until when the owner holds the lease; after that any worker may take it over. */
  deadline: i64 = 0;
  firstAttempt: i64 = 0;
  owner: u32 = 0;
  attempts: u32 = 0;
}

class Meta {
  head: u64 = 0;
  lastClaim: i64 = 0;
  leases: Array<Lease> = [];
  cas: u32 = 0;
  exists: bool = false;
}

/**
 * Bytes before a batch's JSON in `Batch.body`: each slot is read straight into the body with
 * its SLOT_HEADER over the body's last bytes (saved and put back), so the first event needs
 * that much room before it. The JSON's `[` is the room's last byte.
 */
const BODY_ROOM: i32 = SLOT_HEADER - 1;

/** A claimed range read back from the slots, ready to send. */
export class Batch {
  start: u64 = 0;
  end: u64 = 0;
  /** BODY_ROOM bytes, then `[` event `,` event ... `]`: see `ptr` and `size`. */
  body: ByteBuf = new ByteBuf(1024);
  events: i32 = 0;
  /** Stored bytes of the slots read (for the byte accounting). */
  bytes: u64 = 0;
  /** The cas of each slot read, indexed from `start` (0 = missing). */
  slotCas: Array<u32> = [];
  attempts: u32 = 0;
  firstAttempt: i64 = 0;
  /** The next sequence number to read: a batch may be read over several ticks. */
  next: u64 = 0;
  /** Over the byte cap because the lease could not be split (all MAX_LEASES taken). */
  uncapped: bool = false;

  /** The batch's JSON array (what is sent): `size` bytes from `ptr`. */
  @inline get ptr(): usize {
    return this.body.ptr + <usize>BODY_ROOM;
  }

  @inline get size(): i32 {
    return this.body.length - BODY_ROOM;
  }

  toString(): string {
    return String.UTF8.decodeUnsafe(this.ptr, <usize>this.size);
  }
}

/** What one tick may still read: the per-tick slice of the delivery work. */
export class TickBudget {
  bytes: i64 = 0;
  slots: i32 = 0;

  reset(bytes: i64, slots: i32): void {
    this.bytes = bytes;
    this.slots = slots;
  }

  @inline spent(): bool {
    return this.bytes <= 0 || this.slots <= 0;
  }
}

export const enum Fill {
  /** The tick's budget ran out: continue on the next tick. */
  More = 0,
  /** The batch is complete (all its slots read, or its byte cap reached). */
  Ready = 1,
  /** The lease is no longer ours (another worker took it over): drop the batch untouched. */
  Lost = 2,
}

export class QueueCounters {
  enqueued: u64 = 0;
  dropped: StaticArray<u64> = new StaticArray<u64>(Drop.COUNT);

  /** Events lost for any reason (sampled-out events are not losses). */
  lost(): u64 {
    let n: u64 = 0;
    for (let i = 0; i < Drop.COUNT; i++) if (i != Drop.Sampled) n += this.dropped[i];
    return n;
  }

  /** "reason n, reason n" for the non-zero counts (for log lines, not the hot path). */
  describe(withSampled: bool): string {
    let out = "";
    for (let i = 0; i < Drop.COUNT; i++) {
      if (this.dropped[i] == 0 || (!withSampled && i == Drop.Sampled)) continue;
      out += (out.length > 0 ? ", " : "") + DROP_NAMES[i] + " " + this.dropped[i].toString();
    }
    return out;
  }
}

export class SharedQueue {
  readonly capacity: u32;
  private slotKey: ArrayBuffer;
  private metaKey: ArrayBuffer;
  private tailKey: ArrayBuffer;
  private freedKey: ArrayBuffer;
  private prefixLen: i32;
  private scratch: ByteBuf = new ByteBuf(256);
  private slotScratch: ByteBuf = new ByteBuf(256);
  private meta: Meta = new Meta();
  /** The last FREED value read (it only grows, except when the drained queue re-aligns it). */
  private freedSeen: u64 = 0;
  /** Bytes added, as of the last tail() read. */
  private addedSeen: u64 = 0;
  counters: QueueCounters = new QueueCounters();

  /**
   * `prefix` names the queue ("<namespace>/<id>/"); `capacity` is the ring size
   * (event_queue_size), `maxBytes` the byte cap over all queued slots.
   */
  constructor(private kv: Kv, prefix: string, capacity: u32, public maxBytes: u64, public owner: u32) {
    this.capacity = capacity;
    const p = String.UTF8.encode(prefix);
    this.prefixLen = p.byteLength;
    this.slotKey = makeKey(p, 0);
    this.metaKey = makeKey(p, capacity);
    this.tailKey = makeKey(p, capacity + 1);
    this.freedKey = makeKey(p, capacity + 2);
  }

  /** Derives a queue prefix: a namespace plus a hash of what must not be mixed in one queue. */
  static prefixFor(namespace: string, identity: string): string {
    const b = String.UTF8.encode(identity);
    let h = crc32(changetype<usize>(b), b.byteLength, 0);
    let hex = "";
    for (let i = 0; i < 8; i++) {
      hex += "0123456789abcdef".charAt(<i32>((h >>> 28) & 15));
      h <<= 4;
    }
    return namespace + "/" + hex + "/";
  }

  private keyFor(seq: u64): ArrayBuffer {
    writeCode(changetype<usize>(this.slotKey) + <usize>this.prefixLen, <u32>(seq % <u64>this.capacity));
    return this.slotKey;
  }

  // ---- producers (on_log)

  /**
   * Appends one event. `event` holds SLOT_HEADER free bytes followed by the event JSON;
   * the header is filled in here so the slot value is written without another copy.
   * Returns false (and counts the reason) when the event was dropped.
   */
  enqueue(event: ByteBuf): bool {
    const size = <u64>event.length;
    if (size > this.maxBytes / 4) return this.dropped(Drop.TooLarge);
    const kv = this.kv;
    const s = this.scratch;

    // Byte cap: bytes added (TAIL) minus bytes freed (FREED) by finished batches. FREED only
    // grows, so a cached value can only make the queue look fuller: it is re-read when the
    // cap seems reached, which saves a host call per event.
    s.clear();
    let tail: u64 = 0;
    let added: u64 = 0;
    let tailCas: u32 = 0;
    if (kv.get(this.tailKey, s) == KvResult.Ok) {
      tailCas = kv.lastCas();
      if (s.length >= 24 && load<u32>(s.ptr) == MAGIC) {
        tail = load<u64>(s.ptr, 8);
        added = load<u64>(s.ptr, 16);
      }
    }
    if (added > this.freedSeen && added - this.freedSeen + size > this.maxBytes) {
      this.readFreed();
      if (added > this.freedSeen && added - this.freedSeen + size > this.maxBytes) return this.dropped(Drop.BytesFull);
    }

    const seq = this.writeSlot(event, tail);
    if (seq == u64.MAX_VALUE) return false; // counted in writeSlot
    // The slot is written and will be sent even if publishing the tail loses every race;
    // only the byte accounting would then miss this event (re-aligned when the queue drains).
    this.publishTail(seq, size, tail, added, tailCas);
    this.counters.enqueued++;
    return true;
  }

  /** Writes the slot at the first free sequence number from `from`; returns it, or MAX on drop. */
  private writeSlot(event: ByteBuf, from: u64): u64 {
    const kv = this.kv;
    let seq = from;
    for (let probe = 0; probe < CAS_TRIES; probe++) {
      store<u32>(event.ptr, MAGIC);
      store<u32>(event.ptr, 0, 4);
      store<u64>(event.ptr, seq, 8);
      const key = this.keyFor(seq);
      const r = kv.set(key, event.ptr, event.length, 0);
      if (r == KvResult.Ok) return seq;
      // Occupied: by a newer writer (move on), or by an older lap's event (full or orphaned).
      const t = this.slotScratch;
      t.clear();
      if (kv.get(key, t) != KvResult.Ok) continue; // freed meanwhile: try again
      const cas = kv.lastCas();
      const other = t.length >= SLOT_HEADER && load<u32>(t.ptr) == MAGIC ? load<u64>(t.ptr, 8) : u64.MAX_VALUE;
      if (other != u64.MAX_VALUE && other >= seq) {
        seq = other + 1;
        continue;
      }
      if (!this.isOrphan(other)) {
        this.dropped(Drop.QueueFull);
        return u64.MAX_VALUE;
      }
      // Written after its range was claimed (or foreign data): nobody will send it.
      if (kv.del(key, cas) == KvResult.Ok && other != u64.MAX_VALUE) this.dropped(Drop.Orphaned);
    }
    this.dropped(Drop.Contention);
    return u64.MAX_VALUE;
  }

  private readFreed(): void {
    const s = this.scratch;
    s.clear();
    if (this.kv.get(this.freedKey, s) == KvResult.Ok && s.length >= 24 && load<u32>(s.ptr) == MAGIC) {
      this.freedSeen = load<u64>(s.ptr, 8);
    }
  }

  private isOrphan(seq: u64): bool {
    if (seq == u64.MAX_VALUE) return true;
    const m = this.loadMeta();
    if (seq >= m.head) return false;
    for (let i = 0; i < m.leases.length; i++) {
      if (seq >= m.leases[i].start && seq < m.leases[i].end) return false;
    }
    return true;
  }

  private publishTail(seq: u64, size: u64, tail: u64, added: u64, cas: u32): void {
    const kv = this.kv;
    const s = this.scratch;
    for (let attempt = 0; attempt < CAS_TRIES; attempt++) {
      const next = seq + 1 > tail ? seq + 1 : tail;
      s.clear();
      s.ensure(24);
      store<u32>(s.ptr, MAGIC);
      store<u32>(s.ptr, 0, 4);
      store<u64>(s.ptr, next, 8);
      store<u64>(s.ptr, added + size, 16);
      s.length = 24;
      if (kv.set(this.tailKey, s.ptr, 24, cas) == KvResult.Ok) return;
      s.clear();
      if (kv.get(this.tailKey, s) == KvResult.Ok && s.length >= 24 && load<u32>(s.ptr) == MAGIC) {
        tail = load<u64>(s.ptr, 8);
        added = load<u64>(s.ptr, 16);
        cas = kv.lastCas();
      } else {
        tail = 0;
        added = 0;
        cas = s.length > 0 ? kv.lastCas() : 0;
      }
    }
  }

  // ---- consumers (on_tick)

  /** Sequence number one past the last written event (0 when the queue never held any). */
  tail(): u64 {
    const s = this.scratch;
    s.clear();
    this.addedSeen = 0;
    if (this.kv.get(this.tailKey, s) == KvResult.Ok && s.length >= 24 && load<u32>(s.ptr) == MAGIC) {
      this.addedSeen = load<u64>(s.ptr, 16);
      return load<u64>(s.ptr, 8);
    }
    return 0;
  }

  /** Events waiting to be claimed (not counting batches in flight). */
  backlog(): u64 {
    const m = this.loadMeta();
    const t = this.tail();
    return t > m.head ? t - m.head : 0;
  }

  private loadMeta(): Meta {
    const m = this.meta;
    const s = this.scratch;
    s.clear();
    m.leases.length = 0;
    m.head = 0;
    m.lastClaim = 0;
    m.cas = 0;
    m.exists = false;
    if (this.kv.get(this.metaKey, s) != KvResult.Ok) return m;
    m.cas = this.kv.lastCas();
    m.exists = true;
    if (s.length < META_HEADER || load<u32>(s.ptr) != MAGIC) return m;
    const n = <i32>load<u32>(s.ptr, 4);
    if (s.length < META_HEADER + n * LEASE_SIZE || n > MAX_LEASES) return m;
    m.head = load<u64>(s.ptr, 8);
    m.lastClaim = load<i64>(s.ptr, 16);
    for (let i = 0; i < n; i++) {
      const p = s.ptr + <usize>(META_HEADER + i * LEASE_SIZE);
      const l = new Lease();
      l.start = load<u64>(p);
      l.end = load<u64>(p, 8);
      l.bytes = load<u64>(p, 16);
      l.notBefore = load<i64>(p, 24);
      l.deadline = load<i64>(p, 32);
      l.firstAttempt = load<i64>(p, 40);
      l.owner = load<u32>(p, 48);
      l.attempts = load<u32>(p, 52);
      m.leases.push(l);
    }
    return m;
  }

  private storeMeta(m: Meta): bool {
    const s = this.scratch;
    s.clear();
    const n = m.leases.length;
    const size = META_HEADER + n * LEASE_SIZE;
    s.ensure(size);
    store<u32>(s.ptr, MAGIC);
    store<u32>(s.ptr, <u32>n, 4);
    store<u64>(s.ptr, m.head, 8);
    store<i64>(s.ptr, m.lastClaim, 16);
    for (let i = 0; i < n; i++) {
      const p = s.ptr + <usize>(META_HEADER + i * LEASE_SIZE);
      const l = m.leases[i];
      store<u64>(p, l.start);
      store<u64>(p, l.end, 8);
      store<u64>(p, l.bytes, 16);
      store<i64>(p, l.notBefore, 24);
      store<i64>(p, l.deadline, 32);
      store<i64>(p, l.firstAttempt, 40);
      store<u32>(p, l.owner, 48);
      store<u32>(p, l.attempts, 52);
    }
    s.length = size;
    return this.kv.set(this.metaKey, s.ptr, size, m.exists ? m.cas : 0) == KvResult.Ok;
  }

  /**
   * Claims work for this worker: first a lease that is due for retry or whose owner went
   * silent past its deadline, else a new range of up to `batchSize` events (a partial one
   * only when `flushIntervalMs` passed since the last claim, or `batchMaxBytes` wait).
   * Returns false when there is nothing to do or another worker won the race. `holdMs` is
   * how long the lease is ours. The slots are read afterwards by `fill`.
   */
  claim(now: i64, batchSize: i32, batchMaxBytes: i32, flushIntervalMs: i32, holdMs: i32, out: Batch): bool {
    const m = this.loadMeta();
    for (let i = 0; i < m.leases.length; i++) {
      const l = m.leases[i];
      const free = l.owner == 0 ? l.notBefore <= now : l.deadline < now;
      if (!free) continue;
      l.owner = this.owner;
      l.deadline = now + holdMs;
      if (!this.storeMeta(m)) return false;
      out.attempts = l.attempts;
      out.firstAttempt = l.firstAttempt;
      begin(l.start, l.end, out);
      return true;
    }
    // One lease is kept free for splitting a batch at its byte cap (see fill).
    if (m.leases.length >= MAX_LEASES - 1) return false;
    const tail = this.tail();
    if (tail <= m.head) {
      if (m.leases.length == 0) this.reconcileBytes();
      return false;
    }
    const waiting = tail - m.head;
    if (waiting < <u64>batchSize && now - m.lastClaim < <i64>flushIntervalMs && !this.fullEnough(waiting, tail, batchMaxBytes)) return false;
    let n = waiting < <u64>batchSize ? waiting : <u64>batchSize;
    // About one byte cap's worth at the average event size: fewer splits in fill, and
    // other workers can claim the rest meanwhile.
    const avg = this.addedSeen / tail;
    if (avg > 0 && <u64>batchMaxBytes / avg + 1 < n) n = <u64>batchMaxBytes / avg + 1;
    const l = new Lease();
    l.start = m.head;
    l.end = m.head + n;
    l.owner = this.owner;
    l.deadline = now + holdMs;
    l.firstAttempt = now;
    m.leases.push(l);
    m.head = l.end;
    m.lastClaim = now;
    if (!this.storeMeta(m)) return false;
    out.attempts = 0;
    out.firstAttempt = now;
    begin(l.start, l.end, out);
    return true;
  }

  /**
   * Whether a partial batch goes before the flush interval: its events fill a batch's bytes
   * (at the average event size), or the queue holds over a quarter of its byte cap (large
   * events: waiting would drop events at the cap). FREED is re-read only in that case.
   */
  private fullEnough(waiting: u64, tail: u64, batchMaxBytes: i32): bool {
    const added = this.addedSeen;
    if (waiting * (added / tail) >= <u64>batchMaxBytes) return true;
    if (added <= this.freedSeen || added - this.freedSeen <= this.maxBytes / 4) return false;
    this.readFreed();
    return added > this.freedSeen && added - this.freedSeen > this.maxBytes / 4;
  }

  /**
   * Reads the claimed batch's slots into a JSON array `[e1,e2,…]`, within the tick's
   * budget (More: call again next tick). The body stays within `maxBytes` unless that would
   * leave it empty: at the first event that does not fit, the lease is split there and the
   * rest goes back to the queue. Missing slots are counted as evicted when the batch ends.
   */
  fill(out: Batch, maxBytes: i32, budget: TickBudget): Fill {
    const body = out.body;
    while (out.next < out.end) {
      if (budget.spent()) return Fill.More;
      const seq = out.next;
      budget.slots--;
      // The slot lands right after the separator, its header over the body's last
      // SLOT_HEADER bytes (saved here, put back below): no copy of the event.
      const before = body.length;
      if (out.events > 0) body.byte(0x2c);
      const at = body.length - SLOT_HEADER;
      const saved0 = load<u64>(body.ptr + <usize>at);
      const saved1 = load<u64>(body.ptr + <usize>at, 8);
      body.length = at;
      const found = this.kv.get(this.keyFor(seq), body) == KvResult.Ok;
      const slot = body.ptr + <usize>at;
      const stored = body.length - at;
      const valid = found && stored >= SLOT_HEADER && load<u32>(slot) == MAGIC && load<u64>(slot, 8) == seq;
      store<u64>(slot, saved0);
      store<u64>(slot, saved1, 8);
      if (!valid) {
        body.length = before;
        out.slotCas.push(0);
        out.next++;
        continue;
      }
      const cas = this.kv.lastCas();
      const n = stored - SLOT_HEADER;
      budget.bytes -= <i64>stored;
      // + 2: the comma before it and the closing bracket.
      if (out.events > 0 && !out.uncapped && before - BODY_ROOM + n + 2 > maxBytes) {
        body.length = before;
        const r = this.split(out, seq);
        if (r == Fill.Lost) return r;
        if (r == Fill.Ready) break;
        out.uncapped = true; // no lease free for the rest: this batch goes out whole
        continue; // read it again, now without a cap
      }
      body.length = at + SLOT_HEADER + n;
      out.slotCas.push(cas);
      out.bytes += <u64>stored;
      out.events++;
      out.next++;
    }
    body.byte(0x5d);
    return Fill.Ready;
  }

  /**
   * Ends our lease at `at` and gives [at, end) back: as unclaimed slots when nothing was
   * claimed after it, else as a released lease that is due at once (same retry history).
   * Ready when split, More when no lease is free (the caller keeps the whole range), Lost
   * when the lease is not ours.
   */
  private split(out: Batch, at: u64): Fill {
    for (let attempt = 0; attempt < CAS_TRIES; attempt++) {
      const m = this.loadMeta();
      let l: Lease | null = null;
      for (let i = 0; i < m.leases.length; i++) {
        if (m.leases[i].start == out.start) l = m.leases[i];
      }
      if (l === null || l.owner != this.owner) return Fill.Lost;
      if (m.head == l.end) {
        m.head = at;
      } else {
        if (m.leases.length >= MAX_LEASES) return Fill.More;
        const rest = new Lease();
        rest.start = at;
        rest.end = l.end;
        rest.attempts = out.attempts;
        rest.firstAttempt = out.firstAttempt;
        m.leases.push(rest);
      }
      l.end = at;
      if (this.storeMeta(m)) {
        out.end = at;
        return Fill.Ready;
      }
    }
    return Fill.More;
  }

  /**
   * Ends a batch: deletes its slots and its lease, and frees its bytes. Used after a
   * successful send and for batches dropped for good. Returns false if the lease is no
   * longer ours (another worker took it over); nothing is touched then.
   */
  finish(batch: Batch): bool {
    if (!this.removeLease(batch.start, true)) return false;
    let missing = 0;
    for (let i = 0; i < batch.slotCas.length; i++) {
      const cas = batch.slotCas[i];
      if (cas == 0) {
        missing++;
        continue;
      }
      this.kv.del(this.keyFor(batch.start + <u64>i), cas);
    }
    if (missing > 0) this.counters.dropped[Drop.Evicted] += <u64>missing;
    this.addFreed(batch.bytes, <u64>batch.events);
    return true;
  }

  /** Gives a failed batch back for a retry no earlier than `notBefore`. */
  release(batch: Batch, notBefore: i64): bool {
    for (let attempt = 0; attempt < CAS_TRIES; attempt++) {
      const m = this.loadMeta();
      let found = false;
      for (let i = 0; i < m.leases.length; i++) {
        const l = m.leases[i];
        if (l.start != batch.start) continue;
        if (l.owner != this.owner) return false;
        l.owner = 0;
        l.attempts = batch.attempts + 1;
        l.notBefore = notBefore;
        l.bytes = batch.bytes;
        found = true;
      }
      if (!found) return false;
      if (this.storeMeta(m)) return true;
    }
    return false;
  }

  private removeLease(start: u64, mustOwn: bool): bool {
    for (let attempt = 0; attempt < CAS_TRIES; attempt++) {
      const m = this.loadMeta();
      let index = -1;
      for (let i = 0; i < m.leases.length; i++) {
        if (m.leases[i].start == start) index = i;
      }
      if (index < 0) return false;
      if (mustOwn && m.leases[index].owner != this.owner) return false;
      m.leases.splice(index, 1);
      if (this.storeMeta(m)) return true;
    }
    return false;
  }

  private addFreed(bytes: u64, events: u64): void {
    const s = this.scratch;
    for (let attempt = 0; attempt < CAS_TRIES; attempt++) {
      s.clear();
      let freed: u64 = 0;
      let count: u64 = 0;
      let cas: u32 = 0;
      if (this.kv.get(this.freedKey, s) == KvResult.Ok) {
        cas = this.kv.lastCas();
        if (s.length >= 24 && load<u32>(s.ptr) == MAGIC) {
          freed = load<u64>(s.ptr, 8);
          count = load<u64>(s.ptr, 16);
        }
      }
      if (this.writeFreed(freed + bytes, count + events, cas)) {
        this.freedSeen = freed + bytes;
        return;
      }
    }
  }

  private writeFreed(freed: u64, count: u64, cas: u32): bool {
    const s = this.scratch;
    s.clear();
    s.ensure(24);
    store<u32>(s.ptr, MAGIC);
    store<u32>(s.ptr, 0, 4);
    store<u64>(s.ptr, freed, 8);
    store<u64>(s.ptr, count, 16);
    s.length = 24;
    return this.kv.set(this.freedKey, s.ptr, 24, cas) == KvResult.Ok;
  }

  /**
   * With nothing queued or in flight, bytes freed must equal bytes added; evicted slots
   * and producers that died mid-append make them drift, so re-align them here.
   */
  private reconcileBytes(): void {
    const s = this.scratch;
    s.clear();
    if (this.kv.get(this.tailKey, s) != KvResult.Ok || s.length < 24 || load<u32>(s.ptr) != MAGIC) return;
    const added = load<u64>(s.ptr, 16);
    s.clear();
    let cas: u32 = 0;
    let freed: u64 = 0;
    let count: u64 = 0;
    if (this.kv.get(this.freedKey, s) == KvResult.Ok) {
      cas = this.kv.lastCas();
      if (s.length >= 24 && load<u32>(s.ptr) == MAGIC) {
        freed = load<u64>(s.ptr, 8);
        count = load<u64>(s.ptr, 16);
      }
    }
    if (freed != added) this.writeFreed(added, count, cas);
  }

  private dropped(reason: Drop): bool {
    this.counters.dropped[reason]++;
    return false;
  }

  /** Counts events dropped outside the queue (sampling, rejected or expired batches). */
  count(reason: Drop, n: u64): void {
    this.counters.dropped[reason] += n;
  }

  /** Bytes currently held by queued and in-flight events (approximate under races). */
  bytesQueued(): u64 {
    const s = this.scratch;
    s.clear();
    let added: u64 = 0;
    if (this.kv.get(this.tailKey, s) == KvResult.Ok && s.length >= 24) added = load<u64>(s.ptr, 16);
    s.clear();
    let freed: u64 = 0;
    if (this.kv.get(this.freedKey, s) == KvResult.Ok && s.length >= 24) freed = load<u64>(s.ptr, 8);
    return added > freed ? added - freed : 0;
  }
}

/** Starts reading the lease [start, end) into `out` (see SharedQueue.fill). */
function begin(start: u64, end: u64, out: Batch): void {
  out.start = start;
  out.end = end;
  out.next = start;
  out.events = 0;
  out.bytes = 0;
  out.uncapped = false;
  out.slotCas.length = 0;
  const body = out.body;
  body.clear();
  body.ensure(SLOT_HEADER);
  body.length = SLOT_HEADER;
  store<u8>(body.ptr + <usize>BODY_ROOM, 0x5b);
}

/** A key: the prefix followed by 4 characters encoding `code` (24 bits). */
function makeKey(prefix: ArrayBuffer, code: u32): ArrayBuffer {
  const n = prefix.byteLength;
  const key = new ArrayBuffer(n + 4);
  memory.copy(changetype<usize>(key), changetype<usize>(prefix), <usize>n);
  writeCode(changetype<usize>(key) + <usize>n, code);
  return key;
}

@inline function writeCode(dst: usize, code: u32): void {
  store<u8>(dst, load<u8>(ALPHABET + (<usize>(code >> 18) & 63)));
  store<u8>(dst, load<u8>(ALPHABET + (<usize>(code >> 12) & 63)), 1);
  store<u8>(dst, load<u8>(ALPHABET + (<usize>(code >> 6) & 63)), 2);
  store<u8>(dst, load<u8>(ALPHABET + (<usize>code & 63)), 3);
}
