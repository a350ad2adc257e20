import { ByteBuf } from "../lib/bytes";
import { crc32 } from "../lib/checksum";
import { Batch, Drop, Fill, MAX_LEASES, SharedQueue, SLOT_HEADER, TickBudget } from "../moesif/queue";
import { FakeKv } from "./helpers/fake_kv";

const PREFIX = "moesif/0badf00d/";

function ev(text: string): ByteBuf {
  const b = new ByteBuf(64);
  b.length = SLOT_HEADER;
  b.str(text);
  return b;
}

function q(kv: FakeKv, owner: u32, capacity: u32 = 1000, maxBytes: u64 = 1 << 20): SharedQueue {
  return new SharedQueue(kv, PREFIX, capacity, maxBytes, owner);
}

/** Claims a batch and reads it whole (no tick budget), as one tick with room for it would. */
function take(queue: SharedQueue, now: i64, batchSize: i32, out: Batch, maxBytes: i32 = 1 << 20): bool {
  if (!queue.claim(now, batchSize, maxBytes, 1000, 5000, out)) return false;
  const budget = new TickBudget();
  budget.reset(i64.MAX_VALUE, i32.MAX_VALUE);
  expect(queue.fill(out, maxBytes, budget)).toBe(Fill.Ready);
  return true;
}

describe("SharedQueue", () => {
  it("sends queued events as one JSON array and deletes them after success", () => {
    const kv = new FakeKv();
    const a = q(kv, 1);
    expect(a.enqueue(ev('{"n":1}'))).toBe(true);
    expect(a.enqueue(ev('{"n":2}'))).toBe(true);
    const b = new Batch();
    expect(take(a, 10000, 10, b)).toBe(true);
    expect(b.toString()).toBe('[{"n":1},{"n":2}]');
    expect(b.events).toBe(2);
    expect(a.finish(b)).toBe(true);
    // only the control keys are left (meta, tail, freed)
    expect(kv.count()).toBe(3);
    expect(a.bytesQueued()).toBe(0);
    expect(take(a, 20000, 10, b)).toBe(false);
  });

  it("reads slots of every size into the batch byte-exact, growing its buffer as needed", () => {
    // Each slot lands in the batch body over its last bytes, which are put back: events
    // shorter and longer than the slot header, and ones that make the body grow, must all
    // come out exactly, the separators and the array's bracket included.
    const kv = new FakeKv();
    const a = q(kv, 1);
    const texts: Array<string> = ['"a"', "1", '{"k":"' + "x".repeat(5000) + '"}', "[]", '"' + "y".repeat(17) + '"', '{"big":"' + "z".repeat(70000) + '"}', "2"];
    for (let i = 0; i < texts.length; i++) expect(a.enqueue(ev(texts[i]))).toBe(true);
    const b = new Batch();
    expect(take(a, 10000, 100, b)).toBe(true);
    expect(b.events).toBe(texts.length);
    expect(b.toString()).toBe("[" + texts.join(",") + "]");
    expect(b.size).toBe(b.toString().length);
  });

  it("waits for a full batch or the flush interval", () => {
    const kv = new FakeKv();
    const a = q(kv, 1);
    const b = new Batch();
    a.enqueue(ev("1"));
    expect(take(a, 10000, 3, b)).toBe(true); // first claim: interval since 0 passed
    a.finish(b);
    a.enqueue(ev("2"));
    expect(take(a, 10500, 3, b)).toBe(false); // partial, interval not over
    a.enqueue(ev("3"));
    a.enqueue(ev("4"));
    expect(take(a, 10600, 3, b)).toBe(true); // full batch goes at once
    expect(b.toString()).toBe("[2,3,4]");
  });

  it("gives each event to exactly one of several workers", () => {
    const kv = new FakeKv();
    const workers = [q(kv, 1), q(kv, 2), q(kv, 3), q(kv, 4)];
    let sent = new Array<string>();
    let now: i64 = 10000;
    for (let round = 0; round < 50; round++) {
      for (let w = 0; w < 4; w++) workers[w].enqueue(ev((round * 4 + w).toString()));
      now += 300;
      const batches = new Array<Batch>();
      for (let w = 0; w < 4; w++) {
        const b = new Batch();
        if (take(workers[w], now, 7, b)) batches.push(b);
        else batches.push(new Batch());
      }
      for (let w = 0; w < 4; w++) {
        const b = batches[w];
        if (b.events == 0) continue;
        const text = b.toString();
        const items = text.substring(1, text.length - 1).split(",");
        for (let i = 0; i < items.length; i++) sent.push(items[i]);
        expect(workers[w].finish(b)).toBe(true);
      }
    }
    // drain
    for (let i = 0; i < 100; i++) {
      now += 2000;
      const b = new Batch();
      if (!take(workers[i & 3], now, 7, b)) continue;
      const text = b.toString();
      const items = text.substring(1, text.length - 1).split(",");
      for (let k = 0; k < items.length; k++) sent.push(items[k]);
      workers[i & 3].finish(b);
    }
    expect(sent.length).toBe(200);
    const seen = new Set<string>();
    for (let i = 0; i < sent.length; i++) seen.add(sent[i]);
    expect(seen.size).toBe(200);
  });

  it("drops and counts when the ring is full, and accepts again after a send", () => {
    const kv = new FakeKv();
    const a = q(kv, 1, 4);
    for (let i = 0; i < 4; i++) expect(a.enqueue(ev(i.toString()))).toBe(true);
    expect(a.enqueue(ev("x"))).toBe(false);
    expect(a.counters.dropped[Drop.QueueFull]).toBe(1);
    const b = new Batch();
    expect(take(a, 10000, 10, b)).toBe(true);
    // claimed but unacknowledged slots still hold their place
    expect(a.enqueue(ev("y"))).toBe(false);
    a.finish(b);
    expect(a.enqueue(ev("z"))).toBe(true);
    expect(take(a, 20000, 10, b)).toBe(true);
    expect(b.toString()).toBe("[z]");
  });

  it("enforces the byte cap", () => {
    const kv = new FakeKv();
    const a = q(kv, 1, 1000, 400);
    let accepted = 0;
    for (let i = 0; i < 20; i++) if (a.enqueue(ev('"0123456789012345678901234567890123456789"'))) accepted++;
    expect(accepted).toBeLessThan(20);
    expect(accepted).toBeGreaterThan(0);
    expect(a.counters.dropped[Drop.BytesFull]).toBe(20 - accepted);
    expect(<i32>a.bytesQueued()).toBeLessThanOrEqual(400);
  });

  it("rejects a single event larger than a quarter of the byte cap", () => {
    const a = q(new FakeKv(), 1, 1000, 100);
    expect(a.enqueue(ev('"0123456789012345678901234567890123456789"'))).toBe(false);
    expect(a.counters.dropped[Drop.TooLarge]).toBe(1);
  });

  it("retries a released batch only after its backoff, with the attempt counted", () => {
    const kv = new FakeKv();
    const a = q(kv, 1);
    a.enqueue(ev("1"));
    const b = new Batch();
    expect(take(a, 10000, 10, b)).toBe(true);
    expect(a.release(b, 11000)).toBe(true);
    const c = new Batch();
    expect(take(a, 10500, 10, c)).toBe(false);
    expect(take(a, 11000, 10, c)).toBe(true);
    expect(c.toString()).toBe("[1]");
    expect(c.attempts).toBe(1);
    expect(c.firstAttempt).toBe(10000);
  });

  it("lets another worker take over a lease whose owner went silent, and ignores the late owner", () => {
    const kv = new FakeKv();
    const a = q(kv, 1);
    const other = q(kv, 2);
    a.enqueue(ev("1"));
    const b = new Batch();
    expect(take(a, 10000, 10, b)).toBe(true);
    const c = new Batch();
    expect(take(other, 14000, 10, c)).toBe(false); // still held
    expect(take(other, 15001, 10, c)).toBe(true);
    expect(c.toString()).toBe("[1]");
    expect(a.finish(b)).toBe(false); // the old owner's late answer changes nothing
    expect(other.finish(c)).toBe(true);
    expect(kv.count()).toBe(3);
  });

  it("counts evicted slots and still sends the rest", () => {
    const kv = new FakeKv();
    const a = q(kv, 1);
    a.enqueue(ev("1"));
    a.enqueue(ev("2"));
    a.enqueue(ev("3"));
    // evict slot 1 (the second event) by its key
    const key = String.UTF8.encode(PREFIX + "AAAB");
    kv.evictKey(key);
    const b = new Batch();
    expect(take(a, 10000, 10, b)).toBe(true);
    expect(b.toString()).toBe("[1,3]");
    a.finish(b);
    expect(a.counters.dropped[Drop.Evicted]).toBe(1);
  });

  it("survives zone eviction of old slots without trapping or duplicating", () => {
    const kv = new FakeKv(3000);
    const a = q(kv, 1, 10000, 1 << 20);
    for (let i = 0; i < 200; i++) a.enqueue(ev('{"i":' + i.toString() + ',"pad":"............................"}'));
    let delivered = 0;
    let now: i64 = 10000;
    for (let i = 0; i < 100; i++) {
      now += 2000;
      const b = new Batch();
      if (!take(a, now, 50, b)) continue;
      delivered += b.events;
      a.finish(b);
    }
    expect(delivered).toBeGreaterThan(0);
    expect(<i32>a.counters.dropped[Drop.Evicted] + delivered).toBeLessThanOrEqual(200);
  });

  it("keeps at most MAX_LEASES batches out at once", () => {
    const kv = new FakeKv();
    const a = q(kv, 1, 10000, 1 << 24);
    for (let i = 0; i < MAX_LEASES + 5; i++) a.enqueue(ev(i.toString()));
    let claimed = 0;
    for (let i = 0; i < MAX_LEASES + 5; i++) {
      const b = new Batch();
      if (take(a, 10000, 1, b)) claimed++;
    }
    expect(claimed).toBe(MAX_LEASES - 1); // the last lease is kept for splitting a batch at its byte cap
  });

  it("re-aligns the byte accounting when the queue drains", () => {
    const kv = new FakeKv();
    const a = q(kv, 1);
    a.enqueue(ev("1"));
    a.enqueue(ev("2"));
    kv.evictKey(String.UTF8.encode(PREFIX + "AAAA"));
    kv.evictKey(String.UTF8.encode(PREFIX + "AAAB"));
    const b = new Batch();
    take(a, 10000, 10, b);
    a.finish(b);
    expect(a.bytesQueued()).toBeGreaterThan(0); // the evicted bytes were never freed
    expect(take(a, 20000, 10, b)).toBe(false); // idle claim re-aligns
    expect(a.bytesQueued()).toBe(0);
  });

  it("uses keys that never alias under crc32", () => {
    // Slot keys of one queue differ only inside one 4-byte window: CRC-32 tells them apart.
    const a = q(new FakeKv(), 1, 100000);
    const seen = new Set<u32>();
    const base = String.UTF8.encode(PREFIX + "AAAA");
    const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    for (let code: u32 = 0; code < 100004; code++) {
      const p = changetype<usize>(base) + <usize>(base.byteLength - 4);
      store<u8>(p, <u8>alphabet.charCodeAt((code >> 18) & 63));
      store<u8>(p + 1, <u8>alphabet.charCodeAt((code >> 12) & 63));
      store<u8>(p + 2, <u8>alphabet.charCodeAt((code >> 6) & 63));
      store<u8>(p + 3, <u8>alphabet.charCodeAt(code & 63));
      seen.add(crc32(changetype<usize>(base), base.byteLength, 0));
    }
    expect(seen.size).toBe(100004);
    expect(a.capacity).toBe(100000);
  });

  it("reclaims a slot orphaned by a writer that lost its range", () => {
    const kv = new FakeKv();
    const a = q(kv, 1, 2);
    a.enqueue(ev("1"));
    const b = new Batch();
    take(a, 10000, 10, b);
    a.finish(b);
    // A stale writer puts seq 0 back after its range was sent: nobody will ever send it.
    const stale = ev("stale");
    store<u32>(stale.ptr, 0x53454f4d);
    store<u32>(stale.ptr, 0, 4);
    store<u64>(stale.ptr, 0, 8);
    kv.set(String.UTF8.encode(PREFIX + "AAAA"), stale.ptr, stale.length, 0);
    expect(a.enqueue(ev("2"))).toBe(true); // seq 1
    expect(a.enqueue(ev("3"))).toBe(true); // seq 2 lands on slot 0: orphan reclaimed
    expect(a.counters.dropped[Drop.Orphaned]).toBe(1);
    take(a, 20000, 10, b);
    expect(b.toString()).toBe("[2,3]");
  });

  it("keeps batches within the byte cap, one event at least, each event exactly once", () => {
    const kv = new FakeKv();
    const a = q(kv, 1, 1000, 1 << 20);
    const big = '"' + "y".repeat(398) + '"'; // 400 bytes: alone over the cap
    for (let i = 0; i < 7; i++) a.enqueue(ev(i == 3 ? big : '"' + i.toString() + "x".repeat(97) + '"'));
    const sizes = new Array<i32>();
    const seen = new Array<string>();
    let now: i64 = 10000;
    for (let round = 0; round < 10; round++) {
      const b = new Batch();
      if (!take(a, now, 50, b, 250)) break;
      sizes.push(b.events);
      if (b.events > 1) expect(b.size).toBeLessThanOrEqual(250);
      const text = b.toString();
      const items = text.substring(1, text.length - 1).split(",");
      for (let k = 0; k < items.length; k++) seen.push(items[k].substring(1, 2));
      expect(a.finish(b)).toBe(true);
      now += 1000; // the last, partial batch waits for the flush interval
    }
    // 100-byte events: two fit in 250 bytes ("[" + 100 + "," + 100 + "]"), the 400-byte one goes alone.
    expect(sizes.join(",")).toBe("2,1,1,2,1");
    expect(seen.join("")).toBe("012y456");
    expect(a.backlog()).toBe(0);
  });

  it("gives the rest of a split batch to any worker when others claimed meanwhile", () => {
    const kv = new FakeKv();
    const a = q(kv, 1);
    const other = q(kv, 2);
    for (let i = 0; i < 6; i++) a.enqueue(ev('"' + i.toString() + "x".repeat(97) + '"'));
    const b = new Batch();
    expect(a.claim(10000, 3, 250, 1000, 5000, b)).toBe(true); // [0, 3)
    const c = new Batch();
    expect(take(other, 10000, 3, c, 250)).toBe(true); // [3, 6): split at 5, the rest [5, 6) released
    const budget = new TickBudget();
    budget.reset(i64.MAX_VALUE, i32.MAX_VALUE);
    expect(a.fill(b, 250, budget)).toBe(Fill.Ready); // split at 2: [2, 3) released
    expect(b.events).toBe(2);
    expect(c.events).toBe(2);
    const d = new Batch();
    expect(take(other, 10001, 3, d, 250)).toBe(true); // the released rest [2, 3), due at once
    const e = new Batch();
    expect(take(a, 11001, 3, e, 250)).toBe(true); // [5, 6), back in the queue, after the flush interval
    expect(d.events + e.events).toBe(2);
    const all = b.toString() + c.toString() + d.toString() + e.toString();
    for (let i = 0; i < 6; i++) expect(all.split('"' + i.toString() + "x").length).toBe(2); // once each
    expect(a.finish(b) && other.finish(c) && other.finish(d) && a.finish(e)).toBe(true);
    expect(take(a, 20000, 3, new Batch())).toBe(false);
  });

  it("reads a batch over several ticks within the tick budget", () => {
    const kv = new FakeKv();
    const a = q(kv, 1);
    for (let i = 0; i < 5; i++) a.enqueue(ev(i.toString()));
    const b = new Batch();
    expect(a.claim(10000, 10, 1 << 20, 1000, 5000, b)).toBe(true);
    const budget = new TickBudget();
    budget.reset(1 << 20, 2);
    expect(a.fill(b, 1 << 20, budget)).toBe(Fill.More);
    expect(b.events).toBe(2);
    budget.reset(1 << 20, 2);
    expect(a.fill(b, 1 << 20, budget)).toBe(Fill.More);
    budget.reset(1 << 20, 2);
    expect(a.fill(b, 1 << 20, budget)).toBe(Fill.Ready);
    expect(b.toString()).toBe("[0,1,2,3,4]");
    // A budget in bytes: one slot of 17 bytes (header and event) spends 16.
    const c = new Batch();
    a.enqueue(ev("5"));
    a.enqueue(ev("6"));
    expect(a.claim(10000, 10, 1 << 20, 1000, 5000, c)).toBe(false); // partial, interval not over
    expect(a.claim(11000, 10, 1 << 20, 1000, 5000, c)).toBe(true);
    budget.reset(16, 100);
    expect(a.fill(c, 1 << 20, budget)).toBe(Fill.More);
    expect(c.events).toBe(1);
    expect(a.finish(b)).toBe(true);
  });

  it("abandons a batch whose lease another worker took over while it was read", () => {
    const kv = new FakeKv();
    const a = q(kv, 1);
    const other = q(kv, 2);
    for (let i = 0; i < 3; i++) a.enqueue(ev('"' + i.toString() + "x".repeat(97) + '"'));
    const b = new Batch();
    expect(a.claim(10000, 10, 250, 1000, 5000, b)).toBe(true);
    const c = new Batch();
    expect(take(other, 15001, 10, c, 250)).toBe(true); // owner silent past its deadline
    const budget = new TickBudget();
    budget.reset(i64.MAX_VALUE, i32.MAX_VALUE);
    expect(a.fill(b, 250, budget)).toBe(Fill.Lost);
  });
});
