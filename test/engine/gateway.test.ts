// The engine gateway itself (engine/): requests reach the test's upstream with the filter's
// changes, events reach the loopback collector, traps and worker exits are read from the log.
// Skipped with one line when KONG_WASM_ENGINE is not set.
import { test } from "node:test";
import assert from "node:assert/strict";
import { renderNginxConf, nginxQuote } from "../../engine/conf.ts";
import { parseErrorLog } from "../../engine/errorlog.ts";
import { pointAtCollector } from "../../engine/gateway.ts";
import { until } from "../../engine/nginx.ts";
import { engineOnly, openGateway } from "../helpers/gateway.ts";
import { enc, dec, header, startOnGateway } from "../helpers/filter.ts";
import type { Gateway } from "../helpers/gateway.ts";


test("nginxQuote keeps JSON escapes intact through nginx's unescaping", () => {
  assert.equal(nginxQuote(`{"a":"x\\ny'z"}`), `'{"a":"x\\\\ny\\'z"}'`);
});

test("the conf declares the zones, the chain in order and the upstream", () => {
  const conf = renderNginxConf({
    workers: 2,
    modules: [{ name: "moesif", path: "/abs/m.wasm" }],
    zones: [{ name: "*", size: 16384, eviction: "none" }, { name: "moesif", size: 12288 }],
    listenPort: 1,
    chain: [{ name: "moesif", config: "{}" }, { name: "moesif", config: '{"b":1}' }],
    upstreamPort: 2,
    clientHeader: "x-c",
  });
  assert.match(conf, /shm_kv \* 16384 eviction=none;\n\s+shm_kv moesif 12288;/);
  assert.match(conf, /proxy_wasm moesif '\{\}';\n\s+proxy_wasm moesif '\{"b":1\}';/);
  assert.match(conf, /server 127\.0\.0\.1:2;/);
  assert.match(conf, /worker_processes 2;/);
});

test("error log: filter lines, traps with their backtrace, worker exits", () => {
  const log = [
    "2026/12/02 11:26:28 [notice] 10#0: start worker process 11",
    "2026/12/02 11:26:28 [notice] 10#0: start worker process 12",
    '2026/12/02 11:26:29 [warn] 12#0: *3 [proxy-wasm]["moesif" #1] moesif: hello, client: 127.0.0.1, server: kong, request: "GET / HTTP/1.1", host: "a"',
    "2026/12/02 11:26:29 [error] 11#0: *4 [wasm] error while executing at wasm backtrace:",
    "    0:    0x12b - <unknown>!boom",
    "2026/12/02 11:26:30 [alert] 10#0: worker process 11 exited on signal 9",
  ].join("\n");
  const p = parseErrorLog(log);
  assert.deepEqual(p.workerPids, [11, 12]);
  const f = p.lines.find((l) => l.source === "filter");
  assert.deepEqual(f, { level: "warn", worker: 1, context: 1, message: "moesif: hello", source: "filter" });
  assert.equal(p.traps.length, 1);
  assert.match(p.traps[0], /boom/);
  assert.deepEqual(p.exits, [{ pid: 11, how: "signal 9", fatal: false }]);
});

test("pointAtCollector rewrites loopback and missing endpoints only", () => {
  assert.equal(JSON.parse(pointAtCollector('{"a":1}', "http://127.0.0.1:5")).api_endpoint, "http://127.0.0.1:5");
  assert.equal(JSON.parse(pointAtCollector('{"api_endpoint":"http://127.0.0.1:9/p"}', "http://127.0.0.1:5")).api_endpoint, "http://127.0.0.1:5/p");
  assert.equal(pointAtCollector('{"api_endpoint":"https://api.moesif.net"}', "x"), '{"api_endpoint":"https://api.moesif.net"}');
});

test("a request goes through the engine's filter to the upstream, and its event to the collector", { skip: engineOnly() }, async () => {
  const h = await startOnGateway({ application_id: "engine-smoke", flush_interval_ms: 100 }, { workers: 2, on: "engine" });
  try {
    const r = await h.host.request(
      { method: "POST", path: "/orders?x=1", headers: [["Host", "api.example.com"], ["Content-Type", "application/json"]], body: enc('{"n":1}') },
      (up) => ({ status: 201, headers: [["Content-Type", "application/json"], ["X-Up", dec(up.body ?? new Uint8Array())]], body: enc('{"ok":[]}') }),
    );
    assert.equal(r.status, 201);
    assert.equal(header(r.headers, "x-up"), '{"n":1}');
    assert.ok(r.upstreamCalled);
    const tid = header(r.upstreamRequest!.headers, "x-moesif-transaction-id");
    assert.ok(tid, "the filter added a transaction id upstream");
    await until("the event", () => h.events.length >= 1, 20_000);
    const e = h.events[0].json;
    assert.equal(e.transaction_id, tid);
    assert.equal(e.request.uri, "http://api.example.com/orders?x=1");
    assert.deepEqual(e.request.body, { n: 1 });
    assert.deepEqual(e.response.body, { ok: [] });
    assert.equal(e.response.status, 201);
    assert.equal(h.batches[0].headers.find(([k]) => k.toLowerCase() === "x-moesif-application-id")?.[1], "engine-smoke");
  } finally {
    await h.host.stop();
  }
});

test("without an shm_kv zone the request is still served", { skip: engineOnly() }, async () => {
  let gw: Gateway | null = null;
  try {
    gw = await openGateway(JSON.stringify({ application_id: "nozone" }), { kv: null, on: "engine" });
    const r = await gw.request({ method: "GET", path: "/", headers: [["Host", "a"]] }, () => ({ status: 200, headers: [], body: enc("ok") }));
    assert.equal(r.status, 200);
    assert.equal(dec(r.body), "ok");
  } finally {
    await gw?.stop();
  }
});
