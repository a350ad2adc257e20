// Shared KV (cas, delete, namespaces, crc32 aliasing, size limit, eviction) and queues.

import { before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { SharedKV, crc32 } from "../../emulator/index.js";
import { host, msgs, hostLines, ok, scripted, probeModule, dec } from "./helpers.js";

before(async () => {
  await probeModule();
});

const kvLines = (m: string[]) => m.filter((l) => l.startsWith("kv"));

describe("shared KV through the probe", () => {
  it("get/set with the engine's cas rules", async () => {
    const h = await host(
      "configure: kvget a; kvset a one 0; kvget a; kvset a two 0; kvset a two 1; kvget a; kvset a ~null 0; kvset a ~null 2; kvget a; kvset a ~null 0; kvset e ~empty 0; kvget e",
    );
    assert.deepEqual(kvLines(msgs(h)), [
      "kvget a rc=1 v= cas=-",
      "kvset a rc=0",
      "kvget a rc=0 v=one cas=1",
      "kvset a rc=8",
      "kvset a rc=0",
      "kvget a rc=0 v=two cas=2",
      "kvset a rc=8",
      "kvset a rc=0",
      "kvget a rc=1 v= cas=-",
      "kvset a rc=8",
      "kvset e rc=0",
      "kvget e rc=0 v= cas=1",
    ]);
    await h.stop();
  });

  it("one store for all workers", async () => {
    const h = await host("", { workers: 2 });
    await h.request(scripted("request_headers: kvset shared v 0"), ok(), 0);
    await h.request(scripted("request_headers: kvget shared"), ok(), 1);
    assert.ok(msgs(h, { worker: 1 }).includes("kvget shared rc=0 v=v cas=1"));
    assert.equal(dec(h.kv.get("shared")!.value), "v");
    await h.stop();
  });

  it("keys are compared by crc32 only (aliasing)", async () => {
    assert.equal(crc32("kl98cu"), crc32("kpvdba"));
    const h = await host("configure: kvset kl98cu alpha 0; kvget kpvdba; kvset kpvdba beta 0; kvset kpvdba beta 1; kvget kl98cu");
    assert.deepEqual(kvLines(msgs(h)), [
      "kvset kl98cu rc=0",
      "kvget kpvdba rc=0 v=alpha cas=1",
      "kvset kpvdba rc=8",
      "kvset kpvdba rc=0",
      "kvget kl98cu rc=0 v=beta cas=2",
    ]);
    await h.stop();
  });

  it("namespaces: ns/key goes to zone ns when defined, else to * with the full key", async () => {
    const h = await host("configure: kvset tiny/a 1 0; kvset nozone/a 2 0", {
      kv: { size: 65536, zones: { tiny: { size: 16384 } } },
    });
    assert.deepEqual(h.kv.entries("tiny").map((e) => e.key), ["tiny/a"]);
    assert.deepEqual(h.kv.entries("*").map((e) => e.key), ["nozone/a"]);
    await h.stop();
  });

  it("no shm_kv zone: KV calls trap (500)", async () => {
    const h = await host("", { kv: null });
    const r = await h.request(scripted("request_headers: kvget a"), ok());
    assert.equal(r.status, 500);
    assert.ok(hostLines(h).some((l) => l.includes("failed getting value from shm (could not resolve namespace)")));
    await h.stop();
  });

  it("eviction=none: a full zone traps with a crit line; stored keys survive", async () => {
    const h = await host("", { kv: { size: 12288, eviction: "none" } });
    for (const k of ["f1", "f2"]) await h.request(scripted(`request_headers: kvset ${k} ~big1000 0`), ok());
    const r = await h.request(scripted("request_headers: kvset f3 ~big1000 0"), ok());
    assert.equal(r.status, 500);
    assert.ok(h.logs.some((l) => l.level === "critical" && l.message.includes("no memory; cannot allocate pair with key size 2 and value size 1000")));
    assert.deepEqual(h.kv.entries().map((e) => e.key), ["f1", "f2"]);
    await h.stop();
  });

  for (const eviction of ["slru", "lru"] as const) {
    it(`eviction=${eviction}: a full zone evicts the least recently used silently`, async () => {
      const h = await host(
        `configure: ${Array.from({ length: 30 }, (_, i) => `kvset f${i} ~big1000 0`).join("; ")}`,
        { kv: { size: 16384, eviction } },
      );
      assert.ok(kvLines(msgs(h)).every((l) => l.endsWith("rc=0")));
      assert.deepEqual(h.kv.entries().map((e) => e.key), ["f26", "f27", "f28", "f29"]);
      await h.stop();
    });
  }
});

describe("SharedKV API", () => {
  it("validates zone sizes like nginx and exposes get/set/entries/bytesUsed", () => {
    assert.throws(() => new SharedKV({ size: 8192 }), /minimum required is 12288/);
    assert.throws(() => new SharedKV({ size: 15360 }), /not page-aligned/);
    const kv = new SharedKV({ size: 65536 });
    kv.set("k", "v");
    kv.set("k", "w");
    assert.equal(kv.get("k")!.cas, 2);
    assert.equal(kv.bytesUsed(), 128);
    assert.equal(kv.entries().length, 1);
  });

  it("values handed out are copies: reused storage does not change them", () => {
    // Stored values live in recycled size-class blocks; what get/entries return must not
    // follow a later write, delete or reuse of that block.
    const kv = new SharedKV({ size: 65536 });
    kv.set("a", "first");
    const got = kv.get("a")!.value;
    const listed = kv.entries()[0].value;
    kv.set("a", "again");
    kv.delete("a");
    kv.set("b", "other");
    kv.set("b", new Uint8Array([1, 2, 3, 4, 5]));
    assert.equal(dec(got), "first");
    assert.equal(dec(listed), "first");
    assert.deepEqual([...kv.get("b")!.value], [1, 2, 3, 4, 5]);
    assert.equal(kv.get("a"), null);
  });
});

describe("shared queues", () => {
  it("register, enqueue, dequeue (Empty = 7); unknown names and full queues trap", async () => {
    const h = await host("configure: qreg events; qenq 0 a; qenq 0 b; qdeq 0; qdeq 0; qdeq 0", {
      queues: { events: 12288 },
      kv: null,
    });
    assert.deepEqual(
      msgs(h).filter((m) => m.startsWith("q")),
      ["qreg rc=0 token=0", "qenq rc=0", "qenq rc=0", "qdeq rc=0 v=a", "qdeq rc=0 v=b", "qdeq rc=7 v="],
    );
    const r1 = await h.request(scripted("request_headers: qreg nope"), ok());
    assert.equal(r1.status, 500);
    const r2 = await h.request(scripted("request_headers: qenq 0 ~big5000"), ok());
    assert.equal(r2.status, 500);
    assert.ok(hostLines(h).some((l) => l.includes("could not enqueue (queue is full)")));
    await h.stop();
  });
});
