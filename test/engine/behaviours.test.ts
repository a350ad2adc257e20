// Engine behaviours the emulator models, established on Kong's engine itself (SPEC §8, §12,
// §13): traps in a request and in a tick (probe filter), two filter entries, a worker killed
// with events queued, a full zone with eviction=none and lru. Each test says what the engine
// did; emulator/README.md records the same facts. Skipped without KONG_WASM_ENGINE.
import { before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { DispatchError } from "../../emulator/errors.ts";
import type { DispatchRequest, DispatchResponse, ProxyRequest, UpstreamResponse } from "../../emulator/gateway.ts";
import { EngineGateway } from "../../engine/gateway.ts";
import { sleep, until } from "../../engine/nginx.ts";
import { buildProbes } from "../fixtures/build-probes.ts";
import { engineOnly } from "../helpers/gateway.ts";
import { enc } from "../helpers/filter.ts";

const skip = engineOnly();
let probePath = "";

before(async () => {
  if (!skip) probePath = (await buildProbes()).script;
});

const ok = (): UpstreamResponse => ({ status: 200, headers: [["Content-Type", "text/plain"]], body: enc("ok") });
const get = (path = "/", headers: Array<[string, string]> = []): ProxyRequest => ({ method: "GET", path, headers: [["Host", "api.test"], ...headers] });
const filterLines = (g: EngineGateway, prefix: string) => g.logs.filter((l) => l.source === "filter" && l.message.startsWith(prefix));

async function withGateway(g: EngineGateway, body: (g: EngineGateway) => Promise<void>): Promise<void> {
  try {
    await g.start();
    await body(g);
  } finally {
    await g.stop();
  }
}

/** A collector for moesif: config and rules empty, batches kept by transaction id (or failed by `fail`). */
function moesifCollector(g: EngineGateway, fail: () => DispatchError | null = () => null) {
  const seen = new Map<string, number>();
  g.dispatchHandler = (req: DispatchRequest): DispatchResponse => {
    if (!req.path.endsWith("/v1/events/batch")) {
      return { status: 200, headers: [["Content-Type", "application/json"]], body: enc(req.path.includes("rules") ? "[]" : "{}") };
    }
    const err = fail();
    if (err) throw err;
    for (const e of JSON.parse(new TextDecoder().decode(req.body)) as Array<{ transaction_id: string }>) {
      seen.set(e.transaction_id, (seen.get(e.transaction_id) ?? 0) + 1);
    }
    return { status: 201, headers: [] };
  };
  return seen;
}

describe("traps (probe filter)", { skip }, () => {
  it("a trap in on_request_headers: that request gets 500, the next one is served by a recycled instance (configure again, no vm_start)", async () => {
    await withGateway(new EngineGateway({ config: "", modulePath: probePath, filterName: "probe" }), async (g) => {
      assert.equal((await g.request(get(), ok)).status, 200);
      const r = await g.request(get("/", [["x-script", "request_headers: trap"]]), ok);
      assert.equal(r.status, 500);
      assert.equal(r.trapped, true);
      assert.equal(r.upstreamCalled, false);
      const r2 = await g.request(get(), ok);
      assert.equal(r2.status, 200);
      await until("log lines", () => filterLines(g, "CB on_configure").length >= 2);
      assert.equal(filterLines(g, "CB on_configure").length, 2, "configure ran again for the new instance");
      assert.equal(filterLines(g, "CB on_vm_start").length, 1, "vm_start is not re-run");
      assert.equal(g.crashes.length, 0);
    });
  });

  it("a trap in on_tick: the instance is recycled at the next period and from then on two tick chains run (duplicate ticks)", async () => {
    await withGateway(new EngineGateway({ config: "configure: tick 300|tick: now|tick@2: traponce tick-trap", modulePath: probePath, filterName: "probe" }), async (g) => {
      await until("ticks after the trap", () => filterLines(g, "now ms=").length >= 10, 30_000);
      assert.equal(g.traps.length, 1, "one trap (traponce)");
      assert.equal(filterLines(g, "CB on_configure").length, 2, "configure re-ran once");
      // Timers never fire early: with one chain, ticks are ≥ 300 ms apart; a gap under 100 ms is a second chain.
      const ms = filterLines(g, "now ms=").map((l) => Number(/ms=(\d+)/.exec(l.message)![1]));
      const close = ms.slice(1).filter((t, i) => t - ms[i] < 100).length;
      assert.ok(close >= 2, `expected duplicate ticks after the recycle, tick times: ${ms.join(",")}`);
    });
  });
  it("a root context re-created by a request (after a trap) cannot dispatch on its next tick: that tick traps, the tick's own recycle then dispatches again", async () => {
    const g = new EngineGateway({
      config: (url) => `configure: tick 300|tick: dispatch ${url.slice("http://".length)} GET /x ~ 1000`,
      modulePath: probePath,
      filterName: "probe",
    });
    let hits = 0;
    g.dispatchHandler = () => {
      hits++;
      return { status: 200, headers: [], body: enc("ok") };
    };
    await withGateway(g, async () => {
      await until("a dispatch", () => hits > 0);
      assert.equal((await g.request(get("/", [["x-script", "log: trap"]]), ok)).status, 200, "a trap in on_log comes after the response");
      assert.equal((await g.request(get(), ok)).status, 200, "this request re-creates the root context");
      await until("the tick's dispatch trap", () => g.traps.some((t) => t.includes("can only send HTTP dispatch")), 10_000);
      const after = hits;
      await until("dispatches again", () => hits > after + 2, 10_000);
    });
  });
});

describe("dispatches (probe filter)", { skip }, () => {
  // ngx_wasm_module finalizes the fake request behind a tick dispatch only when no other
  // dispatch of the root is pending: every call that finishes while another is in flight keeps
  // its fake connection (and pool, and body copy) for the worker's life. With 48 connections a
  // worker runs out after a few dozen overlapping pairs; one call at a time frees every one.
  const exhausted = (g: EngineGateway) => /worker_connections are not enough|failed creating fake connection/.test(g.nginx.errorLog());
  for (const [perTick, leaks] of [[2, true], [1, false]] as const) {
    it(`${perTick} dispatch${perTick > 1 ? "es" : ""} per tick with worker_connections 48: ${leaks ? "the worker runs out of connections (one call of each overlapping pair is never freed)" : "150 calls, every connection freed"}`, async () => {
      const call = (url: string, path: string) => `dispatch ${url.slice("http://".length)} POST ${path} ~ 1000 ${"b".repeat(64)}`;
      const g = new EngineGateway({
        config: (url) => `configure: tick 10|tick: ${[call(url, "/a"), call(url, "/b")].slice(0, perTick).join("; ")}`,
        modulePath: probePath,
        filterName: "probe",
        conf: { workerConnections: 48 },
      });
      g.dispatchHandler = () => ({ status: 200, headers: [], body: enc("ok") });
      await withGateway(g, async () => {
        const callbacks = () => filterLines(g, "CB on_http_call_response").length;
        if (leaks) {
          await until("the worker to run out of connections", () => exhausted(g), 30_000);
        } else {
          await until("150 callbacks", () => callbacks() >= 150, 30_000);
          assert.equal(exhausted(g), false, "no connection left behind");
          assert.equal((await g.request(get(), ok)).status, 200);
        }
        assert.equal(g.traps.length, 0);
      });
    });
  }
});

describe("moesif in the engine", { skip }, () => {
  it("two filter entries in one chain: two root contexts, each sends its own event for every request", async () => {
    const g = new EngineGateway({
      config: "{}",
      chain: (url) => [
        { name: "moesif", config: JSON.stringify({ application_id: "first", api_endpoint: url, flush_interval_ms: 100 }) },
        { name: "moesif", config: JSON.stringify({ application_id: "second", api_endpoint: url, flush_interval_ms: 100, disable_transaction_id: true }) },
      ],
    });
    const apps: string[] = [];
    g.dispatchHandler = (req) => {
      if (req.path.endsWith("/v1/events/batch")) {
        const app = req.headers.find(([k]) => k.toLowerCase() === "x-moesif-application-id")?.[1] ?? "?";
        for (const _ of JSON.parse(new TextDecoder().decode(req.body)) as unknown[]) apps.push(app);
        return { status: 201, headers: [] };
      }
      return { status: 200, headers: [], body: enc(req.path.includes("rules") ? "[]" : "{}") };
    };
    await withGateway(g, async () => {
      for (let i = 0; i < 5; i++) assert.equal((await g.request(get(`/r${i}`), ok)).status, 200);
      await until("10 events", () => apps.length >= 10, 20_000);
      await sleep(300);
      assert.equal(apps.filter((a) => a === "first").length, 5);
      assert.equal(apps.filter((a) => a === "second").length, 5);
      assert.equal(g.traps.length, 0);
    });
  });

  it("a worker killed with SIGKILL while events are queued and the collector is down: every event is delivered once when it comes back", async () => {
    let down = true;
    const g = new EngineGateway({ config: JSON.stringify({ application_id: "kill", flush_interval_ms: 100 }), workers: 2 });
    const seen = moesifCollector(g, () => (down ? new DispatchError("broken connection") : null));
    await withGateway(g, async () => {
      for (let i = 0; i < 100; i++) {
        const r = await g.request(get(`/k${i}`, [["X-Moesif-Transaction-Id", `kill-${i}`]]), ok);
        assert.equal(r.status, 200);
      }
      await sleep(500); // a few failed sends, so batches are claimed and in retry
      const before = g.workerPids();
      for (const pid of before) process.kill(pid, "SIGKILL");
      await until("respawned workers", () => g.workerPids().filter((p) => !before.includes(p)).length >= 2, 20_000);
      down = false;
      await until("100 events", () => seen.size >= 100, 60_000);
      await sleep(500);
      assert.equal(seen.size, 100);
      assert.ok([...seen.values()].every((n) => n === 1), "each delivered once");
      assert.ok(g.crashes.filter((c) => c.reason === "signal 9").length >= 2);
    });
  });

  it("one dispatch in flight per worker: 100 batches to a slow collector with worker_connections 64, all delivered once, no connection left behind", async () => {
    // Parallel batches (the filter sent up to 16 at once before) leave one fake connection per
    // overlapped call in the engine (the probe test above): 64 connections ran out after ~60 batches.
    const g = new EngineGateway({
      config: JSON.stringify({ application_id: "one", flush_interval_ms: 100, batch_size: 4 }),
      conf: { workerConnections: 64 },
    });
    let open = 0;
    let most = 0;
    let batches = 0;
    const seen = new Map<string, number>();
    g.dispatchHandler = async (req) => {
      if (!req.path.endsWith("/v1/events/batch")) return { status: 200, headers: [], body: enc(req.path.includes("rules") ? "[]" : "{}") };
      open++;
      most = Math.max(most, open);
      await sleep(30); // slow enough that parallel batches would overlap
      open--;
      batches++;
      for (const e of JSON.parse(new TextDecoder().decode(req.body)) as Array<{ transaction_id: string }>) seen.set(e.transaction_id, (seen.get(e.transaction_id) ?? 0) + 1);
      return { status: 201, headers: [] };
    };
    await withGateway(g, async () => {
      for (let i = 0; i < 400; i++) assert.equal((await g.request(get(`/o${i}`, [["X-Moesif-Transaction-Id", `one-${i}`]]), ok)).status, 200);
      await until("400 events", () => seen.size >= 400, 60_000);
      assert.ok(batches >= 100, `batches of at most 4 (${batches})`);
      assert.equal(most, 1, "one batch in flight at a time");
      assert.ok([...seen.values()].every((n) => n === 1), "each delivered once");
      assert.equal(/worker_connections are not enough|failed creating fake connection/.test(g.nginx.errorLog()), false);
      assert.equal((await g.request(get("/after"), ok)).status, 200);
    });
  });

  it("while the collector fails, one batch at a time is in flight; all are delivered once it answers", async () => {
    const g = new EngineGateway({ config: JSON.stringify({ application_id: "failing", flush_interval_ms: 100, batch_size: 10 }) });
    let down = true;
    let open = 0;
    let most = 0;
    const seen = new Set<string>();
    g.dispatchHandler = async (req) => {
      if (!req.path.endsWith("/v1/events/batch")) return { status: 200, headers: [], body: enc(req.path.includes("rules") ? "[]" : "{}") };
      open++;
      most = Math.max(most, open);
      await sleep(300);
      open--;
      if (down) return { status: 503, headers: [] };
      for (const e of JSON.parse(new TextDecoder().decode(req.body)) as Array<{ transaction_id: string }>) seen.add(e.transaction_id);
      return { status: 201, headers: [] };
    };
    await withGateway(g, async () => {
      for (let i = 0; i < 60; i++) assert.equal((await g.request(get(`/f${i}`, [["X-Moesif-Transaction-Id", `fail-${i}`]]), ok)).status, 200);
      await until("a failed batch", () => most > 0, 20_000);
      await sleep(5000); // retries with backoff from 1 s
      down = false;
      await until("60 events", () => seen.size >= 60, 60_000);
      assert.equal(most, 1, "one batch in flight at a time");
    });
  });

  /** Sends 30 events of ~3.7 KB into a 64k zone while the collector is down, then brings it up. */
  async function fillZone(eviction: "none" | "lru") {
    const g = new EngineGateway({
      config: JSON.stringify({ application_id: "full", flush_interval_ms: 100, log_summary_interval_ms: 500 }),
      kv: { size: 65536, eviction },
    });
    let down = true;
    const seen = moesifCollector(g, () => (down ? new DispatchError("broken connection") : null));
    const statuses: number[] = [];
    await withGateway(g, async () => {
      const big = enc(JSON.stringify({ pad: "x".repeat(3000) }));
      for (let i = 0; i < 30; i++) {
        const r = await g.request(
          { method: "POST", path: `/f${i}`, headers: [["Host", "api.test"], ["Content-Type", "application/json"], ["X-Moesif-Transaction-Id", `full-${i}`]], body: big },
          ok,
        );
        statuses.push(r.status);
      }
      down = false;
      await until("some events", () => seen.size > 0, 20_000);
      await sleep(1500);
    });
    return { g, seen, statuses };
  }

  it("a full zone with eviction=lru: requests served, no trap, every event delivered once or counted as evicted", async () => {
    const { g, seen, statuses } = await fillZone("lru");
    assert.ok(statuses.every((s) => s === 200));
    assert.deepEqual(g.traps, []);
    assert.ok([...seen.values()].every((n) => n === 1), "no duplicates");
    const summary = filterLines(g, "moesif: summary:").at(-1)?.message ?? "";
    const evicted = Number(/evicted (\d+)/.exec(summary)?.[1] ?? 0);
    assert.ok(seen.size < 30, "a 64k zone cannot hold 30 events of 3.7 KB");
    assert.equal(seen.size + evicted, 30, `delivered ${seen.size} + evicted ${evicted} = 30 (${summary})`);
  });

  // Requests hand their events to the root's tick (assembly/filter/zone.ts). When the set
  // trapped in on_log instead, repeated request traps crashed the worker (SIGSEGV) in about
  // half the runs: clients got connection resets.
  it("a full zone with eviction=none: the set traps in the root's tick, never in a request: every client served, no worker crash, what fits is delivered once", async () => {
    const { g, seen, statuses } = await fillZone("none");
    assert.ok(statuses.every((s) => s === 200), "every request served");
    assert.ok(g.traps.some((t) => /failed setting value to shm/.test(t)), "a set on a full zone traps");
    assert.ok(seen.size > 0 && seen.size < 30);
    assert.ok([...seen.values()].every((n) => n === 1), "no duplicates");
    assert.equal(g.crashes.length, 0);
  });
});
