// No shm_kv zone for the queue's keys, in Kong's engine. Every shared-data call then traps
// ("could not resolve namespace"), and no host call tells it without trapping. The filter keeps
// the harm bounded (assembly/filter/zone.ts): requests are always served, an instance that saw
// on_vm_start traps once, re-created instances only probe from the tick with a backoff counted
// in tick chains and stop after MAX_CHAINS, so the trap count per worker is bounded whatever
// the traffic; an error line names the Kong setting that adds the zone.
import { test } from "node:test";
import assert from "node:assert/strict";
import { EngineGateway } from "../../engine/gateway.ts";
import type { ZoneSpec } from "../../engine/conf.ts";
import { sleep, until } from "../../engine/nginx.ts";
import { engineOnly } from "../helpers/gateway.ts";
import { dec, enc, header } from "../helpers/filter.ts";

const WORKERS = 2;
/** Traps one worker can have for a missing zone: the first queue access, then one per probe (MAX_CHAINS − 2). */
const TRAPS_PER_WORKER = 9;
const REQUESTS = 300;

async function missingZone(zones: ZoneSpec[] | null): Promise<void> {
  const gw = new EngineGateway({
    config: JSON.stringify({ application_id: "nozone", flush_interval_ms: 100 }),
    workers: WORKERS,
    kv: zones === null ? null : undefined,
    conf: zones === null ? undefined : { zones },
  });
  let batches = 0;
  gw.dispatchHandler = async (req) => {
    if (req.path.includes("/events/batch")) batches++;
    return { status: 202, headers: [], body: new Uint8Array() };
  };
  try {
    await gw.start();
    // A request in flight when the instance traps is served, but the filter's later steps
    // (the response header) are skipped for it: at most one request per trap here.
    let withoutFilter = 0;
    for (let i = 0; i < REQUESTS; i++) {
      const body = `{"n":${i},"pad":"${"x".repeat(i % 50)}"}`;
      const r = await gw.request(
        { method: i % 3 === 0 ? "GET" : "POST", path: `/items/${i}`, headers: [["Host", "api.example"], ["Content-Type", "application/json"]], body: i % 3 === 0 ? undefined : enc(body) },
        (up) => ({ status: 200, headers: [["Content-Type", "application/json"], ["X-Seen", String(up.body?.length ?? 0)]], body: up.body ?? enc("{}") }),
      );
      assert.equal(r.status, 200, `request ${i} served`);
      assert.equal(dec(r.body), i % 3 === 0 ? "{}" : body, `request ${i}: body intact`);
      if (!header(r.headers, "x-moesif-transaction-id")) withoutFilter++;
    }
    const named = (m: string) => /nginx_wasm_shm_kv_moesif/.test(m) && /nginx_wasm_shm_moesif/.test(m) && /nginx_wasm_shm_kv \(the '\*' zone/.test(m);
    await until("the error line naming the setting", () => gw.logs.some((l) => l.level === "error" && named(l.message)), 30_000);
    await sleep(1000);
    const traps = gw.traps.length;
    assert.ok(traps >= 1, "the missing zone was detected by a trap");
    assert.ok(traps <= WORKERS * TRAPS_PER_WORKER, `${traps} traps for ${REQUESTS} requests: bounded per worker, not per request`);
    assert.deepEqual(gw.traps.filter((t) => !/could not resolve namespace/.test(t)), [], "only the zone probes trap");
    assert.ok(withoutFilter <= traps, `${withoutFilter} responses without the filter's header, ${traps} traps`);
    assert.deepEqual(gw.crashes, []);
    assert.equal(batches, 0, "nothing is sent without a queue");
  } finally {
    await gw.stop();
  }
}

test("no shm_kv zone at all: requests served intact, traps bounded, an error names the setting", { skip: engineOnly() }, async () => {
  await missingZone(null);
});

test("only a zone of another name and no '*' zone: the same", { skip: engineOnly() }, async () => {
  await missingZone([{ name: "other", size: 1 << 20 }]);
});

test("the zone the error line asks for (named after kv_namespace, no '*' zone) queues and delivers", { skip: engineOnly() }, async () => {
  const gw = new EngineGateway({
    config: JSON.stringify({ application_id: "zone-named", flush_interval_ms: 100 }),
    workers: WORKERS,
    conf: { zones: [{ name: "moesif", size: 4 << 20 }] },
  });
  let events = 0;
  gw.dispatchHandler = async (req) => {
    if (req.path.includes("/events/batch")) events += (JSON.parse(dec(req.body)) as unknown[]).length;
    return { status: 202, headers: [], body: new Uint8Array() };
  };
  try {
    await gw.start();
    for (let i = 0; i < 40; i++) {
      const r = await gw.request({ method: "GET", path: `/n/${i}`, headers: [["Host", "api.example"]] }, () => ({ status: 200, headers: [], body: enc("ok") }));
      assert.equal(r.status, 200);
    }
    await until("the events", () => events >= 40, 20_000);
    assert.deepEqual(gw.traps, []);
  } finally {
    await gw.stop();
  }
});
