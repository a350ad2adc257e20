// Ticks (period, per worker, cancel, misuse) and traps (500, lazy recycle, duplicate ticks).

import { before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { KongWasmHost } from "../../emulator/index.js";
import { host, msgs, cbs, hostLines, ok, get, scripted, probeModule } from "./helpers.js";

before(async () => {
  await probeModule();
});

const ticks = (h: KongWasmHost, worker = 0): string[] =>
  h.logs.filter((l) => l.worker === worker && l.message.startsWith("CB on_tick")).map((l) => l.message);

describe("ticks", () => {
  it("first tick one period after the set, then every period, per worker", async () => {
    const h = await host("configure: tick 500|tick: now", { workers: 2 });
    const t0 = h.now();
    await h.advance(499);
    assert.equal(cbs(h).filter((l) => l.startsWith("CB on_tick")).length, 0);
    await h.advance(1001);
    for (const w of [0, 1]) {
      const nows = msgs(h, { worker: w }).filter((m) => m.startsWith("now ms="));
      assert.deepEqual(nows.map((m) => Number(m.split(/[= ]/)[2]) - t0), [500, 1000, 1500]);
      assert.ok(nows.every((m) => m.endsWith("sub=0")), "millisecond resolution");
    }
    await h.stop();
  });

  it("setting the period in a request context traps", async () => {
    const h = await host("");
    const r = await h.request(scripted("request_headers: tick 100"), ok());
    assert.equal(r.status, 500);
    assert.ok(hostLines(h).some((l) => l.includes("can only set tick_period in root context")));
    await h.stop();
  });

  it("a second non-zero period during configure fails start (fatal worker exit)", async () => {
    const h = new KongWasmHost({ module: await probeModule(), config: "configure: tick 100; tick 200", filterName: "probe" });
    assert.throws(() => h.start(), /fatal code 2/);
    assert.ok(hostLines(h).some((l) => l.includes("tick_period already set")));
  });

  it("period 0 inside on_tick stops ticking (3.8+); in configure one armed tick still fires", async () => {
    const a = await host("configure: tick 100|tick@2: tick 0");
    await a.advance(1000);
    assert.equal(ticks(a).length, 2);
    await a.stop();
    const b = await host("configure: tick 100; tick 0");
    await b.advance(1000);
    assert.equal(ticks(b).length, 1);
    await b.stop();
  });

  it("before 3.8 any second set traps, even 0", async () => {
    const h = await host("configure: tick 100|tick@1: tick 0", { kongVersion: "3.7" });
    await h.advance(250);
    assert.ok(hostLines(h).some((l) => l.includes("tick_period already set")));
    await h.stop();
  });
});

describe("traps and recycling", () => {
  it("trap in on_request_headers: 500, no further callbacks, lazy recycle without vm_start", async () => {
    const h = await host("request_headers: incr");
    await h.request(get(), ok());
    h.kv.set("persist", "yes");
    const r = await h.request(scripted("request_headers: trap"), ok());
    assert.equal(r.status, 500);
    assert.equal(r.trapped, true);
    assert.equal(r.upstreamCalled, false);
    assert.deepEqual(cbs(h, { context: 2 }), [`CB on_context_create 2 ${h.rootId}`, "CB on_request_headers 2 2 0"]);
    assert.ok(hostLines(h).some((l) => l.includes("Uncaught RuntimeError: unreachable")));
    const before = cbs(h).length;
    const r3 = await h.request(get(), ok());
    assert.equal(r3.status, 200);
    assert.equal(r3.contextId, 3, "context ids are not reset by a recycle");
    const after = cbs(h).slice(before);
    assert.deepEqual(after.slice(0, 2), [`CB on_context_create ${h.rootId} 0`, `CB on_configure ${h.rootId} ${"request_headers: incr".length}`]);
    assert.ok(!after.some((l) => l.startsWith("CB on_vm_start")));
    assert.ok(msgs(h).filter((m) => m.startsWith("counter=")).pop() === "counter=1", "instance memory was reset");
    assert.equal(h.kv.get("persist")?.cas, 1, "KV survives");
    await h.stop();
  });

  it("trap in on_log suppresses on_delete; the client was served", async () => {
    const h = await host("log: trap");
    const r = await h.request(get(), ok("fine"));
    assert.equal(r.status, 200);
    assert.ok(!cbs(h, { context: 1 }).includes("CB on_delete 1"));
    await h.stop();
  });

  it("unaligned and out-of-bounds out-params trap", async () => {
    const h = await host("");
    assert.equal((await h.request(scripted("request_headers: badptr"), ok())).status, 500);
    assert.equal((await h.request(scripted("request_headers: oobptr"), ok())).status, 500);
    assert.equal(hostLines(h).filter((l) => l.includes("invalid data pointer passed to host function")).length, 2);
    await h.stop();
  });

  it("trap in on_tick with the period set in configure: recycle, immediate tick, then 2 ticks per period", async () => {
    const h = await host("configure: tick 700|tick: now; traponce t");
    const t0 = h.now();
    await h.advance(700 * 4);
    const nows = msgs(h).filter((m) => m.startsWith("now ms=")).map((m) => Number(m.split(/[= ]/)[2]) - t0);
    // tick 1 traps at 700; at 1400 the old chain recycles (configure arms a new chain) and
    // ticks at once; from 2100 both chains fire.
    assert.deepEqual(nows, [700, 1400, 2100, 2100, 2800, 2800]);
    assert.ok(!cbs(h).slice(2).some((l) => l.startsWith("CB on_vm_start")));
    await h.stop();
  });

  it("a root re-created by a request after a trap cannot dispatch on its next tick; the tick's own recycle can (engine: test/engine/behaviours.test.ts)", async () => {
    const h = await host("configure: tick 300|tick: dispatch collector GET /x ~ 1000");
    let hits = 0;
    h.dispatchHandler = () => {
      hits++;
      return { status: 200, headers: [] };
    };
    await h.advance(300);
    assert.equal(hits, 1);
    assert.equal((await h.request(scripted("log: trap"), ok())).status, 200);
    assert.equal((await h.request(get(), ok())).status, 200, "this request re-creates the root");
    await h.advance(300);
    assert.equal(hostLines(h).filter((l) => l.includes("can only send HTTP dispatch")).length, 1, "the first tick's dispatch trapped");
    const before = hits;
    await h.advance(600);
    assert.ok(hits > before, "the root the tick re-created dispatches again");
    await h.stop();
  });

  it("period set in on_vm_start: one tick right after the recycle, then none", async () => {
    const h = await host("vm_start: tick 500|tick: now; traponce t");
    const t0 = h.now();
    await h.advance(5000);
    const nows = msgs(h).filter((m) => m.startsWith("now ms=")).map((m) => Number(m.split(/[= ]/)[2]) - t0);
    assert.deepEqual(nows, [500, 1000]);
    await h.stop();
  });

  it("recycle(worker) forces a new instance", async () => {
    const h = await host("request_headers: incr");
    await h.request(get(), ok());
    await h.request(get(), ok());
    h.recycle(0);
    await h.request(get(), ok());
    assert.deepEqual(msgs(h).filter((m) => m.startsWith("counter=")), ["counter=1", "counter=2", "counter=1"]);
    assert.ok(h.memoryBytes(0) > 0);
    await h.stop();
  });
});
