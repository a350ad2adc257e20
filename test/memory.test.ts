// Garbage collection. The filter uses AssemblyScript's minimal runtime (no shadow stack) and
// collects garbage itself: at the end of on_tick and on_configure, after a config or rules
// document, and every 256 requests in on_delete (assembly/filter/gc.ts). Without those
// collections linear memory grows with every request (by 8 MB over this test); a collection made while
// something live was held only by a Wasm local would corrupt it. So: over 6,000 requests
// memory stays bounded, and what lives across collections (configuration strings, cached
// route metadata, pooled exchanges, queued events, the transaction-id pool) comes out intact.

import { test } from "node:test";
import assert from "node:assert/strict";
import { DEFAULT_CONFIG, FLUSH_MS, req, resp, startFilter } from "./helpers/filter.ts";

const REQUESTS = 6000;

const b64url = (s: string): string => Buffer.from(s).toString("base64url");
const jwt = (sub: string, org: string): string =>
  `${b64url('{"alg":"none"}')}.${b64url(JSON.stringify({ sub, org }))}.sig`;

test("garbage is collected: memory stays bounded and every event is intact over 6,000 requests", async () => {
  const h = await startFilter(
    {
      ...DEFAULT_CONFIG,
      api_version: "v-long-lived-config-string",
      request_header_masks: ["x-secret"],
      request_body_masks: ["password"],
      authorization_company_id_field: "org",
    },
    { properties: { "kong.route_id": "route-1", "kong.service_name": "orders-api" } },
  );
  try {
    const start = h.host.memoryBytes(0);
    for (let i = 0; i < REQUESTS; i++) {
      const body = JSON.stringify({ order: i, password: "hunter2", note: "x".repeat(i % 700) });
      const r = await h.host.request(
        req("POST", `/orders/${i}?page=${i % 7}`, [
          ["Authorization", `Bearer ${jwt(`user-${i}`, `org-${i % 13}`)}`],
          ["Content-Type", "application/json"],
          ["X-Secret", "s"],
        ], body),
        () => resp(201, [["Content-Type", "application/json"]], JSON.stringify({ id: i, items: [1, 2, 3] })),
      );
      assert.equal(r.status, 201);
      if (i % 100 === 99) await h.host.advance(100);
    }
    await h.host.advance(FLUSH_MS);
    const grown = h.host.memoryBytes(0) - start;
    // Without collection it grows by about 8 MB here.
    assert.ok(grown <= 4 << 20, `linear memory grew by ${grown} bytes over ${REQUESTS} requests`);

    assert.deepEqual(h.problems(), []);
    assert.equal(h.events.length, REQUESTS);
    const ids = new Set<string>();
    h.events.forEach(({ json }) => {
      const i = JSON.parse(JSON.stringify(json.request.body)).order as number;
      assert.equal(json.request.uri, `http://api.example.com/orders/${i}?page=${i % 7}`);
      assert.equal(json.request.api_version, "v-long-lived-config-string");
      assert.equal(json.request.headers["x-secret"], undefined);
      assert.equal(json.request.body.password, undefined);
      assert.equal(json.response.body.id, i);
      assert.equal(json.user_id, `user-${i}`);
      assert.equal(json.company_id, `org-${i % 13}`);
      assert.equal(json.metadata.kong.route_id, "route-1");
      assert.equal(json.metadata.kong.service_name, "orders-api");
      ids.add(json.transaction_id);
    });
    assert.equal(ids.size, REQUESTS, "transaction ids are unique");
  } finally {
    await h.host.stop();
  }
});
