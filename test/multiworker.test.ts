// Several workers under concurrent load, on the test gateway (the emulator, or Kong's engine
// with TEST_GATEWAY=engine): every request is served, nothing traps, and every event reaches
// the collector exactly once. Events are matched to requests by the transaction id each
// response carries (workers post their batches in any order).
import { test, type TestContext } from "node:test";
import assert from "node:assert/strict";
import type { ProxyResult } from "../emulator/index.ts";
import { dec, header, req, resp, startOnGateway } from "./helpers/filter.ts";
import { flush } from "./helpers/gateway.ts";

/** Runs `n` jobs with at most `width` in flight. */
async function pool<T>(n: number, width: number, job: (i: number) => Promise<T>): Promise<T[]> {
  const out: T[] = new Array(n);
  let next = 0;
  const lane = async (): Promise<void> => {
    while (next < n) {
      const i = next++;
      out[i] = await job(i);
    }
  };
  await Promise.all(Array.from({ length: width }, lane));
  return out;
}

test("4 workers, 2,000 requests with 8 in flight: every event delivered exactly once, no trap, no failed request", async (t: TestContext) => {
  const N = 2000;
  const h = await startOnGateway({ application_id: "multi-worker", batch_size: 100, log_summary_interval_ms: 500 }, { workers: 4 });
  try {
    const results: ProxyResult[] = await pool(N, 8, (i) =>
      h.host.request(req("POST", `/orders/${i}`, [["Content-Type", "application/json"]], `{"i":${i}}`), (up) =>
        resp(201, [["Content-Type", "application/json"]], `{"echo":${dec(up.body ?? new Uint8Array())}}`),
      ),
    );
    results.forEach((r, i) => {
      assert.equal(r.trapped, false, `request ${i} trapped`);
      assert.equal(r.status, 201, `request ${i}`);
      assert.equal(dec(r.body), `{"echo":{"i":${i}}}`, `request ${i} body`);
    });
    const ids = results.map((r) => header(r.headers, "x-moesif-transaction-id") ?? "");
    assert.equal(new Set(ids).size, N, "one distinct transaction id per request");

    await flush(h.host, () => h.events.length >= N, 5000, 60_000, 1000);
    const byId = new Map<string, number>();
    for (const e of h.events) byId.set(e.json.transaction_id, (byId.get(e.json.transaction_id) ?? 0) + 1);
    const dupes = [...byId].filter(([, k]) => k > 1);
    assert.deepEqual(dupes, [], "no event delivered twice");
    const missing = ids.filter((id) => !byId.has(id));
    assert.deepEqual(missing.slice(0, 5), [], `${missing.length} events missing`);
    assert.equal(h.events.length, N);
    // The event of each request is that request's (matched by id, whatever worker sent it).
    const byTx = new Map(h.events.map((e) => [e.json.transaction_id as string, e.json]));
    ids.forEach((id, i) => assert.deepEqual(byTx.get(id).request.body, { i }, `event of request ${i}`));
    assert.deepEqual(h.invalidBatches, []);
    assert.deepEqual(h.host.crashes, []);
    if ("traps" in h.host) assert.deepEqual(h.host.traps, []);
    assert.deepEqual(h.problems(), []);
    // How the load spread (the engine's kernel picks the worker of each connection).
    const queued = new Map<number, string>();
    for (const l of h.host.logs) {
      const m = /^moesif: summary: queued (\d+)/.exec(l.message);
      if (m) queued.set(l.worker, m[1]);
    }
    t.diagnostic(`events queued per worker: ${[...queued].map(([w, n]) => `${w}: ${n}`).join(", ")}`);
  } finally {
    await h.host.stop();
  }
});
