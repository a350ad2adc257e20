// Local collector and demo API, over real HTTP on 127.0.0.1.
import assert from "node:assert/strict";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import http from "node:http";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, afterEach, before, beforeEach, describe, it } from "node:test";
import zlib from "node:zlib";
import { Collector, DEFAULT_CONFIG_FILE } from "../../local/collector.ts";
import { startDemoApi, type DemoApi } from "../../local/demo-api.ts";

interface Reply {
  status: number;
  headers: http.IncomingHttpHeaders;
  body: Buffer;
}

function request(
  url: string,
  opts: { method?: string; headers?: Record<string, string>; body?: string | Buffer; timeoutMs?: number } = {},
): Promise<Reply> {
  return new Promise((resolve, reject) => {
    const req = http.request(url, { method: opts.method ?? "GET", headers: opts.headers, agent: false }, (res) => {
      const chunks: Buffer[] = [];
      res.on("data", (c: Buffer) => chunks.push(c));
      res.on("end", () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks) }));
      res.on("error", reject);
    });
    if (opts.timeoutMs) req.setTimeout(opts.timeoutMs, () => req.destroy(new Error("client timeout")));
    req.on("error", reject);
    req.end(opts.body);
  });
}

function event(n: number, extra: Record<string, unknown> = {}) {
  return {
    request: { time: "2025-05-06T14:03:27.375Z", uri: `http://api.example.com/v1/orders/${n}`, verb: "GET", headers: {} },
    response: { time: "2025-05-06T14:03:27.463Z", status: 200, headers: {} },
    user_id: `user_${n}`,
    direction: "Incoming",
    ...extra,
  };
}

const json = { "content-type": "application/json" };

function postBatch(c: Collector, events: unknown[], headers: Record<string, string> = {}) {
  return request(`${c.url}/v1/events/batch`, { method: "POST", headers: { ...json, ...headers }, body: JSON.stringify(events) });
}

describe("collector", () => {
  let c: Collector;
  beforeEach(async () => {
    c = new Collector({ quiet: true });
    await c.start();
  });
  afterEach(() => c.stop());

  it("listens on 127.0.0.1 and reports its url", () => {
    assert.match(c.url, /^http:\/\/127\.0\.0\.1:\d+$/);
    assert.notEqual(c.url, "http://127.0.0.1:0");
  });

  it("accepts a plain JSON batch with 201 and the config/rules tags", async () => {
    const r = await postBatch(c, [event(1), event(2)], { "x-moesif-application-id": "app-1", "user-agent": "kong-wasm-moesif/0.1.0" });
    assert.equal(r.status, 201);
    assert.match(String(r.headers["x-moesif-config-etag"]), /^[0-9a-f]{40}$/);
    assert.match(String(r.headers["x-moesif-rules-tag"]), /^[0-9a-f]{40}$/);
    assert.deepEqual(c.events, [event(1), event(2)]);
    assert.equal(c.batches.length, 1);
    const b = c.batches[0];
    assert.equal(b.encoding, null);
    assert.equal(b.rawBytes, Buffer.byteLength(JSON.stringify([event(1), event(2)])));
    assert.equal(b.headers["user-agent"], "kong-wasm-moesif/0.1.0");
    assert.equal(b.headers["x-moesif-application-id"], "app-1");
    assert.equal(typeof b.at, "number");
  });

  it("inflates zlib deflate, raw deflate and gzip bodies", async () => {
    const body = JSON.stringify([event(1)]);
    const variants: [string, Buffer][] = [
      ["deflate", zlib.deflateSync(body)],
      ["deflate", zlib.deflateRawSync(body)],
      ["gzip", zlib.gzipSync(body)],
    ];
    for (const [enc, raw] of variants) {
      const r = await request(`${c.url}/v1/events/batch`, { method: "POST", headers: { ...json, "content-encoding": enc }, body: raw });
      assert.equal(r.status, 201, enc);
      assert.equal(c.batches.at(-1)?.encoding, enc);
      assert.equal(c.batches.at(-1)?.rawBytes, raw.length);
    }
    assert.deepEqual(c.events, [event(1), event(1), event(1)]);
  });

  it("rejects malformed batches without recording them", async () => {
    const cases: [Record<string, string>, string | Buffer, number][] = [
      [json, "[{\"request\":", 400],
      [json, JSON.stringify(event(1)), 400], // an object where the batch needs an array
      [json, "[1, 2]", 400],
      [{ ...json, "content-encoding": "gzip" }, "not gzip", 400],
      [{ ...json, "content-encoding": "br" }, "[]", 415],
    ];
    for (const [headers, body, status] of cases) {
      const r = await request(`${c.url}/v1/events/batch`, { method: "POST", headers, body });
      assert.equal(r.status, status, String(body));
      assert.ok(JSON.parse(r.body.toString()).error);
    }
    assert.equal(c.events.length, 0);
    assert.equal(c.batches.length, 0);
  });

  it("records an empty batch as a batch with no events", async () => {
    assert.equal((await postBatch(c, [])).status, 201);
    assert.equal(c.batches.length, 1);
    assert.equal(c.events.length, 0);
  });

  it("accepts a single event on POST /v1/events", async () => {
    const r = await request(`${c.url}/v1/events`, { method: "POST", headers: json, body: JSON.stringify(event(7)) });
    assert.equal(r.status, 201);
    assert.deepEqual(c.events, [event(7)]);
    const bad = await request(`${c.url}/v1/events`, { method: "POST", headers: json, body: "[]" });
    assert.equal(bad.status, 400);
  });

  it("serves /v1/config and /v1/rules from the default files with matching tags", async () => {
    const cfg = await request(`${c.url}/v1/config`);
    assert.equal(cfg.status, 200);
    assert.deepEqual(JSON.parse(cfg.body.toString()), JSON.parse(readFileSync(DEFAULT_CONFIG_FILE, "utf8")));
    assert.equal(JSON.parse(cfg.body.toString()).sample_rate, 100);
    const rules = await request(`${c.url}/v1/rules`);
    assert.equal(rules.status, 200);
    assert.deepEqual(JSON.parse(rules.body.toString()), []);
    assert.equal(cfg.headers["x-moesif-rules-tag"], rules.headers["x-moesif-rules-tag"]);
    const batch = await postBatch(c, [event(1)]);
    assert.equal(batch.headers["x-moesif-config-etag"], cfg.headers["x-moesif-config-etag"]);
    assert.equal(batch.headers["x-moesif-rules-tag"], rules.headers["x-moesif-rules-tag"]);
  });

  it("changes the etag/tag when setConfig/setRules change the content", async () => {
    const before = await postBatch(c, []);
    c.setConfig({ sample_rate: 50 });
    const mid = await postBatch(c, []);
    assert.notEqual(mid.headers["x-moesif-config-etag"], before.headers["x-moesif-config-etag"]);
    assert.equal(mid.headers["x-moesif-rules-tag"], before.headers["x-moesif-rules-tag"]);
    const cfg = await request(`${c.url}/v1/config`);
    assert.deepEqual(JSON.parse(cfg.body.toString()), { sample_rate: 50 });
    assert.equal(cfg.headers["x-moesif-config-etag"], mid.headers["x-moesif-config-etag"]);

    const rule = { _id: "r1", type: "regex", block: true, regex_config: [] };
    c.setRules([rule]);
    const last = await postBatch(c, []);
    assert.notEqual(last.headers["x-moesif-rules-tag"], mid.headers["x-moesif-rules-tag"]);
    assert.equal(last.headers["x-moesif-config-etag"], mid.headers["x-moesif-config-etag"]);
    const rules = await request(`${c.url}/v1/rules`);
    assert.deepEqual(JSON.parse(rules.body.toString()), [rule]);
    assert.equal(rules.headers["x-moesif-rules-tag"], last.headers["x-moesif-rules-tag"]);

    c.setConfig({ sample_rate: 50 }); // same content, same tag
    assert.equal((await postBatch(c, [])).headers["x-moesif-config-etag"], mid.headers["x-moesif-config-etag"]);
  });

  it("fails the next N event POSTs with an injected status, then recovers", async () => {
    c.failNext(2, { status: 500 });
    assert.equal((await postBatch(c, [event(1)])).status, 500);
    const custom = await request(`${c.url}/v1/events`, { method: "POST", headers: json, body: JSON.stringify(event(2)) });
    assert.equal(custom.status, 500);
    c.failNext(1, { status: 429, body: "slow down" });
    const r = await postBatch(c, [event(3)]);
    assert.equal(r.status, 429);
    assert.equal(r.body.toString(), "slow down");
    assert.equal(c.events.length, 0);
    assert.equal((await postBatch(c, [event(4)])).status, 201);
    assert.deepEqual(c.events, [event(4)]);
  });

  it("delays a response; a client that gives up during the delay is not recorded", async () => {
    // Wide margins: the client gives up well before the delay ends, and the wait outlasts it.
    c.failNext(1, { delayMs: 1500 });
    await assert.rejects(postBatchWithTimeout(c, [event(1)], 300), /client timeout/);
    await assert.rejects(c.waitForEvents(1, 2500), /timed out/);
    c.failNext(1, { delayMs: 20 });
    assert.equal((await postBatch(c, [event(2)])).status, 201);
    assert.deepEqual(c.events, [event(2)]);
    c.failNext(1, { delayMs: 20, status: 503 });
    assert.equal((await postBatch(c, [event(3)])).status, 503);
    assert.equal(c.events.length, 1);
  });

  it("resets the connection", async () => {
    c.failNext(1, { reset: true });
    await assert.rejects(postBatch(c, [event(1)]), (err: NodeJS.ErrnoException) => err.code === "ECONNRESET");
    assert.equal(c.events.length, 0);
    assert.equal((await postBatch(c, [event(2)])).status, 201);
  });

  it("rejects bad failNext counts", () => {
    assert.throws(() => c.failNext(-1, { status: 500 }), RangeError);
    assert.throws(() => c.failNext(1.5, { status: 500 }), RangeError);
  });

  it("waitForEvents resolves once enough events arrived and rejects on timeout", async () => {
    await assert.rejects(c.waitForEvents(1, 50), /timed out after 50 ms waiting for 1 events \(got 0\)/);
    const waiting = c.waitForEvents(3, 10_000);
    await postBatch(c, [event(1), event(2)]);
    await postBatch(c, [event(3)]);
    assert.deepEqual(await waiting, [event(1), event(2), event(3)]);
    assert.equal((await c.waitForEvents(2, 0)).length, 3);
  });

  it("clear() forgets received events and batches", async () => {
    await postBatch(c, [event(1)]);
    c.clear();
    assert.equal(c.events.length, 0);
    assert.equal(c.batches.length, 0);
    await postBatch(c, [event(2)]);
    assert.deepEqual(c.events, [event(2)]);
  });

  it("serves the viewer page, the event list and an SSE stream", async () => {
    const page = await request(`${c.url}/`);
    assert.equal(page.status, 200);
    assert.match(String(page.headers["content-type"]), /^text\/html/);
    assert.match(page.body.toString(), /EventSource\("\/api\/stream"\)/);

    await postBatch(c, [event(1)]);
    const list = await request(`${c.url}/api/events`);
    assert.deepEqual(JSON.parse(list.body.toString()), [event(1)]);

    const messages = await readStream(c, 2, async () => {
      await postBatch(c, [event(2)]);
    });
    // The stream replays what was received before it opened, then pushes new events.
    assert.deepEqual(messages, [
      { id: "0", data: event(1) },
      { id: "1", data: event(2) },
    ]);
    assert.equal((await request(`${c.url}/nope`)).status, 404);
    assert.equal((await request(`${c.url}/v1/events/batch`)).status, 405);
  });

  it("replays only the events after Last-Event-ID", async () => {
    await postBatch(c, [event(1), event(2), event(3)]);
    const messages = await readStream(c, 1, async () => {}, { "last-event-id": "1" });
    assert.deepEqual(messages, [{ id: "2", data: event(3) }]);
  });
});

function postBatchWithTimeout(c: Collector, events: unknown[], timeoutMs: number) {
  return request(`${c.url}/v1/events/batch`, { method: "POST", headers: json, body: JSON.stringify(events), timeoutMs });
}

// Opens /api/stream, runs `act` once the stream is open, and collects `count` messages.
function readStream(
  c: Collector,
  count: number,
  act: () => Promise<void>,
  headers: Record<string, string> = {},
): Promise<{ id: string; data: unknown }[]> {
  return new Promise((resolve, reject) => {
    const req = http.get(`${c.url}/api/stream`, { headers, agent: false }, (res) => {
      assert.equal(res.headers["content-type"], "text/event-stream");
      const out: { id: string; data: unknown }[] = [];
      let buf = "";
      res.setEncoding("utf8");
      res.on("data", (chunk: string) => {
        buf += chunk;
        let end: number;
        while ((end = buf.indexOf("\n\n")) >= 0) {
          const block = buf.slice(0, end);
          buf = buf.slice(end + 2);
          const id = /^id: (.*)$/m.exec(block);
          const data = /^data: (.*)$/m.exec(block);
          if (id && data) out.push({ id: id[1], data: JSON.parse(data[1]) });
        }
        if (out.length >= count) {
          req.destroy();
          resolve(out);
        }
      });
      act().catch(reject);
    });
    req.setTimeout(10_000, () => req.destroy(new Error("stream timeout")));
    req.on("error", reject);
  });
}

describe("collector with files and an application id", () => {
  let dir: string;
  let c: Collector;
  before(() => {
    dir = mkdtempSync(join(tmpdir(), "collector-test-"));
  });
  after(() => rmSync(dir, { recursive: true, force: true }));
  afterEach(() => c.stop());

  it("answers 401 to a missing or wrong X-Moesif-Application-Id", async () => {
    c = new Collector({ quiet: true, applicationId: "app-secret" });
    await c.start();
    assert.equal((await postBatch(c, [event(1)])).status, 401);
    assert.equal((await postBatch(c, [event(1)], { "x-moesif-application-id": "other" })).status, 401);
    assert.equal((await request(`${c.url}/v1/config`)).status, 401);
    assert.equal((await request(`${c.url}/v1/rules`, { headers: { "x-moesif-application-id": "x" } })).status, 401);
    assert.equal(c.events.length, 0);
    assert.equal((await postBatch(c, [event(1)], { "x-moesif-application-id": "app-secret" })).status, 201);
    assert.equal((await request(`${c.url}/v1/config`, { headers: { "x-moesif-application-id": "app-secret" } })).status, 200);
  });

  it("re-reads config and rules files when they change, keeping the last good copy on bad JSON", async () => {
    const configFile = join(dir, "config.json");
    const rulesFile = join(dir, "rules.json");
    writeFileSync(configFile, JSON.stringify({ sample_rate: 100 }));
    writeFileSync(rulesFile, "[]");
    c = new Collector({ quiet: true, configFile, rulesFile });
    await c.start();
    const first = await request(`${c.url}/v1/config`);
    assert.deepEqual(JSON.parse(first.body.toString()), { sample_rate: 100 });

    writeFileSync(configFile, JSON.stringify({ sample_rate: 25, regex_config: [] }, null, 2));
    const second = await request(`${c.url}/v1/config`);
    assert.deepEqual(JSON.parse(second.body.toString()), { sample_rate: 25, regex_config: [] });
    assert.notEqual(second.headers["x-moesif-config-etag"], first.headers["x-moesif-config-etag"]);

    writeFileSync(configFile, "{ \"sample_rate\": "); // mid-edit
    const third = await request(`${c.url}/v1/config`);
    assert.equal(third.body.toString(), second.body.toString());
    assert.equal(third.headers["x-moesif-config-etag"], second.headers["x-moesif-config-etag"]);

    writeFileSync(rulesFile, JSON.stringify([{ _id: "abc", type: "user" }]));
    const rules = await request(`${c.url}/v1/rules`);
    assert.deepEqual(JSON.parse(rules.body.toString()), [{ _id: "abc", type: "user" }]);
    assert.notEqual(rules.headers["x-moesif-rules-tag"], first.headers["x-moesif-rules-tag"]);
  });

  it("serves built-in defaults when the files do not exist", async () => {
    c = new Collector({ quiet: true, configFile: join(dir, "missing.json"), rulesFile: join(dir, "missing-rules.json") });
    await c.start();
    assert.equal(JSON.parse((await request(`${c.url}/v1/config`)).body.toString()).sample_rate, 100);
    assert.deepEqual(JSON.parse((await request(`${c.url}/v1/rules`)).body.toString()), []);
  });

  it("rejects pending waiters when stopped", async () => {
    c = new Collector({ quiet: true });
    await c.start();
    const waiting = c.waitForEvents(1, 60_000);
    await c.stop();
    await assert.rejects(waiting, /collector stopped/);
  });
});

describe("demo API", () => {
  let api: DemoApi;
  before(async () => {
    api = await startDemoApi();
  });
  after(() => new Promise<void>((resolve) => api.server.close(() => resolve())));

  it("lists, creates and fetches orders", async () => {
    assert.match(api.url, /^http:\/\/127\.0\.0\.1:\d+$/);
    const list = await request(`${api.url}/v1/orders`);
    assert.equal(list.status, 200);
    const orders = JSON.parse(list.body.toString());
    assert.ok(Array.isArray(orders) && orders.length > 0);
    const one = await request(`${api.url}/v1/orders/${orders[0].id}`);
    assert.deepEqual(JSON.parse(one.body.toString()), orders[0]);

    const created = await request(`${api.url}/v1/orders`, {
      method: "POST",
      headers: json,
      body: JSON.stringify({ item_id: "sku-123", quantity: 2 }),
    });
    assert.equal(created.status, 201);
    const order = JSON.parse(created.body.toString());
    assert.equal(order.item_id, "sku-123");
    assert.equal(order.quantity, 2);
    assert.match(order.id, /^ord_/);
    assert.equal(created.headers.location, `/v1/orders/${order.id}`);
    assert.equal((await request(`${api.url}${created.headers.location}`)).status, 200);

    assert.equal((await request(`${api.url}/v1/orders`, { method: "POST", headers: json, body: "{oops" })).status, 400);
    assert.equal((await request(`${api.url}/v1/orders/ord_missing`)).status, 404);
    assert.equal((await request(`${api.url}/v1/orders/%E0%A4%A`)).status, 404);
  });

  it("answers health, gzip, text, big and 404", async () => {
    const health = await request(`${api.url}/v1/health`);
    assert.equal(JSON.parse(health.body.toString()).status, "ok");

    const gz = await request(`${api.url}/v1/gzip`);
    assert.equal(gz.headers["content-encoding"], "gzip");
    assert.match(String(gz.headers["content-type"]), /application\/json/);
    assert.equal(JSON.parse(zlib.gunzipSync(gz.body).toString()).compressed, true);

    const text = await request(`${api.url}/v1/text`);
    assert.match(String(text.headers["content-type"]), /^text\/plain/);
    assert.match(text.body.toString(), /plain text/);

    const big = await request(`${api.url}/v1/big?kb=200`);
    assert.equal(big.status, 200);
    assert.ok(big.body.length >= 200 * 1024 && big.body.length < 201 * 1024, String(big.body.length));
    assert.equal(JSON.parse(big.body.toString()).kb, 200);
    assert.equal((await request(`${api.url}/v1/big?kb=-1`)).status, 400);

    const missing = await request(`${api.url}/v2/whatever`);
    assert.equal(missing.status, 404);
    assert.equal(JSON.parse(missing.body.toString()).error, "not_found");
    assert.equal((await request(`${api.url}/v1/health`, { method: "DELETE" })).status, 405);
  });
});
