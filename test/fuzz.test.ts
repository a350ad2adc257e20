// Seeded random malformed traffic through the compiled filter (SPEC §12): random bytes,
// truncated/deep/invalid-UTF-8 JSON, gzip-ish bytes, odd and huge headers, broken JWT and
// Basic tokens, weird URLs. For every request: no trap, the client gets the upstream's
// status; every batch is valid JSON whose events have the required fields; and every
// request yields exactly one event (matched by transaction id), none lost, none doubled.

import { before, test } from "node:test";
import assert from "node:assert/strict";
import * as zlib from "node:zlib";
import type { ProxyRequest, UpstreamResponse } from "../emulator/index.ts";
import { FLUSH_MS, dec, enc, filterModule, header, startFilter } from "./helpers/filter.ts";
import { mulberry32 } from "../scripts/prng.ts";

// zlib returns Buffers; the emulator's types want plain Uint8Arrays.
const gz = (b: Uint8Array): Uint8Array => new Uint8Array(zlib.gzipSync(b));
const zlibDeflate = (b: Uint8Array): Uint8Array => new Uint8Array(zlib.deflateSync(b));
const rawDeflate = (b: Uint8Array): Uint8Array => new Uint8Array(zlib.deflateRawSync(b));

const SEED = Number(process.env.FUZZ_SEED ?? 20260101);
const REQUESTS = Number(process.env.FUZZ_REQUESTS ?? 10_000);
const ROUND = 500;


class Gen {
  /** Random bytes and text made once; big values are slices of them (generation stays cheap). */
  private readonly bytePool: Uint8Array;
  private readonly textPool: string;

  constructor(private r: () => number) {
    this.bytePool = new Uint8Array(160_000);
    for (let i = 0; i < this.bytePool.length; i += 4) {
      const x = Math.floor(r() * 4294967296);
      this.bytePool[i] = x;
      this.bytePool[i + 1] = x >>> 8;
      this.bytePool[i + 2] = x >>> 16;
      this.bytePool[i + 3] = x >>> 24;
    }
    this.textPool = this.freshText(160_000);
  }
  int(lo: number, hi: number): number {
    return lo + Math.floor(this.r() * (hi - lo + 1));
  }
  chance(p: number): boolean {
    return this.r() < p;
  }
  pick<T>(xs: readonly T[]): T {
    return xs[Math.floor(this.r() * xs.length)];
  }
  bytes(n: number): Uint8Array {
    const at = this.int(0, this.bytePool.length - n);
    return this.bytePool.slice(at, at + n);
  }
  /** A size skewed small, with a rare huge one. */
  size(): number {
    if (this.chance(0.01)) return this.int(20_000, 150_000);
    if (this.chance(0.1)) return this.int(1000, 12_000);
    return this.int(0, 300);
  }
  /** Text with control characters, non-ASCII, lone surrogates and JSON/URL specials. */
  text(n: number): string {
    if (n <= 64) return this.freshText(n);
    const at = this.int(0, this.textPool.length - n);
    return this.textPool.slice(at, at + n);
  }
  private freshText(n: number): string {
    const pool = ["a", "Z", "0", " ", "\t", "\u0000", "\u0001", "\u001f", "\u007f", '"', "\\", "/", "%", "&", "=", "?", "#", ";", ",", ":", "\u00e9", "\u2028", "\ud83d\ude00", "\ud800", "\udfff", "\r\n", "{", "[", "\u0080", "\uffff"];
    let s = "";
    for (let i = 0; i < n; i++) s += this.chance(0.5) ? String.fromCharCode(this.int(0x20, 0x7e)) : this.pick(pool);
    return s;
  }
  b64url(s: string | Uint8Array): string {
    return Buffer.from(s).toString("base64url");
  }
  json(depth = 0): unknown {
    const k = this.int(0, depth > 4 ? 3 : 6);
    switch (k) {
      case 0:
        return this.pick([0, -1, 1.5e300, 12345678901234567890, -0.0001, 1e-7]);
      case 1:
        return this.text(this.int(0, 20));
      case 2:
        return this.pick([true, false, null]);
      case 3:
        return this.pick(["", "password", "sub", "x"]);
      case 4:
        return Array.from({ length: this.int(0, 5) }, () => this.json(depth + 1));
      default: {
        const o: Record<string, unknown> = {};
        for (let i = this.int(0, 5); i > 0; i--) o[this.pick(["password", "sub", "org", "a", "", this.text(4)])] = this.json(depth + 1);
        return o;
      }
    }
  }
  jsonText(): string {
    if (this.chance(0.1)) return this.pick(["[]", "{}", '{"n":1e999}', '{"big":123456789012345678901234567890}', '"\\ud800"', "  {\"a\" : [ 1 , 2 ] }  ", "{\"a\":\"\\/\"}"]);
    // Random indentation puts whitespace around the members that masks remove.
    return JSON.stringify(this.json(), null, this.pick([0, 0, 1, "\t", " \r\n "]));
  }
}

const bomb = gz(new Uint8Array(3_000_000));

function body(g: Gen): { bytes?: Uint8Array; type?: string; encoding?: string } {
  const type = g.pick([undefined, "application/json", "application/problem+json; charset=utf-8", "JSON", "text/plain", "application/octet-stream", "text/xml", g.text(12)]);
  const k = g.int(0, 11);
  switch (k) {
    case 0:
      return { type };
    case 1:
      return { bytes: g.bytes(g.size()), type };
    case 2: {
      const t = new TextEncoder().encode(g.jsonText());
      return { bytes: t.subarray(0, g.int(0, t.length)), type: "application/json" };
    }
    case 3:
      return { bytes: new TextEncoder().encode(g.jsonText()), type: g.pick(["application/json", "application/vnd.api+json", type ?? "application/json"]) };
    case 4: {
      const n = g.pick([10, 1000, 50_000, 90_000]);
      return { bytes: new TextEncoder().encode("[".repeat(n) + (g.chance(0.5) ? "]".repeat(n) : "")), type: "application/json" };
    }
    case 5: {
      // Invalid UTF-8 inside a JSON string.
      const bad = g.bytes(g.int(1, 20)).map((b) => b | 0x80);
      return { bytes: new Uint8Array([0x7b, 0x22, 0x61, 0x22, 0x3a, 0x22, ...bad, 0x22, 0x7d]), type: "application/json" };
    }
    case 6:
      return { bytes: gz(new TextEncoder().encode(g.jsonText())), type: "application/json", encoding: g.pick(["gzip", "GZIP", "x-gzip", "gzip, identity"]) };
    case 7: {
      // gzip-ish: a gzip header followed by random bytes, or a real stream with damage.
      const real = gz(g.bytes(g.int(0, 500)));
      if (g.chance(0.5)) return { bytes: new Uint8Array([0x1f, 0x8b, 0x08, ...g.bytes(g.int(0, 200))]), type, encoding: "gzip" };
      const copy = real.slice(0, g.int(0, real.length));
      if (copy.length) copy[g.int(0, copy.length - 1)] ^= 1 << g.int(0, 7);
      return { bytes: copy, type, encoding: "gzip" };
    }
    case 8: {
      const src = g.chance(0.5) ? new TextEncoder().encode(g.jsonText()) : g.bytes(g.int(0, 400));
      return { bytes: g.chance(0.5) ? zlibDeflate(src) : rawDeflate(src), type, encoding: "deflate" };
    }
    case 9:
      return { bytes: g.bytes(g.int(0, 300)), type, encoding: g.pick(["deflate", "gzip", "br", "compress", g.text(5)]) };
    case 10:
      return g.chance(0.2) ? { bytes: bomb, type: "application/json", encoding: "gzip" } : { bytes: new TextEncoder().encode(g.text(g.size())), type };
    default:
      return { bytes: new TextEncoder().encode(g.jsonText()), type: "application/json" };
  }
}

function authorization(g: Gen): string {
  const seg = (): string => {
    switch (g.int(0, 5)) {
      case 0:
        return g.b64url(JSON.stringify(g.json()));
      case 1:
        return g.b64url(JSON.stringify({ sub: g.json(3), org: g.json(3), app_metadata: { org: g.json(3) } }));
      case 2:
        return Buffer.from(JSON.stringify({ sub: g.text(8) })).toString("base64"); // padded, standard alphabet
      case 3:
        return g.b64url(g.bytes(g.int(0, 60)));
      case 4:
        return g.text(g.int(0, 30));
      default:
        return "=".repeat(g.int(0, 5)) + g.b64url("{\"sub\":");
    }
  };
  switch (g.int(0, 7)) {
    case 0:
      return `Bearer ${seg()}.${seg()}.${seg()}`;
    case 1:
      return `${g.pick(["bearer", "BEARER", "Bearer", "Bearer\t", "Bearer  "])} ${Array.from({ length: g.int(0, 5) }, seg).join(".")}`;
    case 2:
      return `Basic ${Buffer.from(g.chance(0.5) ? `${g.text(6)}:${g.text(6)}` : g.bytes(g.int(0, 30))).toString("base64")}`;
    case 3:
      return g.pick(["Basic", "Bearer", "Basic ", "Bearer ", "Basic ===", "Basic :", `Basic ${Buffer.from(":pw").toString("base64")}`, ".", "..", "a.b.c.d"]);
    case 4:
      return `${g.text(5)} ${seg()}`;
    case 5:
      return `Bearer ${seg()}.${"A".repeat(g.int(1000, 20_000))}.x`;
    default:
      return seg();
  }
}

function headerName(g: Gen): string {
  if (g.chance(0.6)) {
    return g.pick(["X-Forwarded-For", "Forwarded", "X-Real-IP", "X-Client-IP", "Authorization", "X-Consumer-Custom-Id", "X-Consumer-Username", "X-Consumer-Id", "X-User", "X-Company", "X-Credential-Identifier", "Content-Type", "Content-Encoding", "Cookie", "Set-Cookie", "X-Api-Token", "x-moesif-transaction-id"]);
  }
  return g.chance(0.7) ? `X-${g.text(g.int(0, 12)).replace(/[^\x21-\x7e]/g, "")}F` : g.text(g.int(1, 20));
}

function headerValue(g: Gen, name: string): string {
  const n = name.toLowerCase();
  if (n === "authorization" || n === "x-api-token") return authorization(g);
  if (n === "x-forwarded-for" || n === "forwarded" || n === "x-real-ip" || n === "x-client-ip") {
    const ip = (): string =>
      g.pick(["1.2.3.4", "1.2.3.4:80", "[::1]:8080", "2001:db8::1", "::", "::ffff:1.2.3.4", "999.1.1.1", "unknown", 'for="[2001:db8::9]";proto=http', "for=_hidden", "1:2:3:4:5:6:7:8:9", g.text(8), "", "\"", "[", "[::1", "01.2.3.4"]);
    return Array.from({ length: g.int(1, 4) }, ip).join(g.pick([",", ", ", " ,", ";"]));
  }
  if (n === "x-moesif-transaction-id") return g.chance(0.5) ? " ".repeat(g.int(0, 3)) : g.text(g.int(0, 40));
  if (g.chance(0.01)) return g.text(g.int(10_000, 40_000));
  return g.text(g.int(0, 60));
}

function headers(g: Gen, extra: Array<[string, string]>): Array<[string, string]> {
  const out: Array<[string, string]> = [...extra];
  for (let i = g.int(0, 25); i > 0; i--) {
    const name = headerName(g);
    out.push([name, headerValue(g, name)]);
  }
  return out;
}

function path(g: Gen): string {
  switch (g.int(0, 6)) {
    case 0:
      return "/";
    case 1:
      return `/${g.text(g.int(0, 40))}`;
    case 2:
      return `/p?${Array.from({ length: g.int(0, 8) }, () => g.pick(["key", "my_key", "api-key", "", "a", g.text(4)]) + g.pick(["=", "", "==", "=&"]) + g.text(g.int(0, 10))).join(g.pick(["&", "&&", ";"]))}`;
    case 3:
      return `/q?key=${g.text(g.int(0, 20))}#${g.text(5)}`;
    case 4:
      return g.pick(["*", "", "?", "?key=1", "http://abs.example/x?key=1", "//double//slash", "/%", "/%zz?%=%"]);
    case 5:
      return `/long/${"x".repeat(g.int(1000, 30_000))}?key=${"y".repeat(g.int(0, 5000))}`;
    default:
      return `/api/v1/items/${g.int(0, 1e6)}?page=${g.int(0, 9)}`;
  }
}

function makeRequest(g: Gen): ProxyRequest {
  const b = body(g);
  const extra: Array<[string, string]> = [];
  if (g.chance(0.9)) extra.push(["Host", g.chance(0.8) ? "api.example.com" : g.text(g.int(0, 30))]);
  if (b.type !== undefined) extra.push(["Content-Type", b.type]);
  if (b.encoding !== undefined) extra.push(["Content-Encoding", b.encoding]);
  const method = g.chance(0.9) ? g.pick(["GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS"]) : g.text(g.int(1, 10));
  return { method, path: path(g), headers: headers(g, extra), body: b.bytes, remoteAddr: g.pick(["127.0.0.1", "10.1.2.3", "::1", "2001:db8::5"]) };
}

function makeResponse(g: Gen): UpstreamResponse {
  const status = g.pick([200, 200, 201, 204, 301, 304, 400, 401, 404, 429, 500, 502, 503]);
  const b = body(g);
  // Framing headers come from the body generator; an upstream's own transaction id header
  // would hide which id the filter chose.
  const hs = headers(g, []).filter(([k]) => !/^(content-type|content-encoding|content-length|transfer-encoding|x-moesif-transaction-id)$/i.test(k));
  if (b.type !== undefined) hs.push(["Content-Type", b.type]);
  if (b.encoding !== undefined) hs.push(["Content-Encoding", b.encoding]);
  if (!b.bytes || !g.chance(0.4)) return { status, headers: hs, body: b.bytes };
  // Split into random chunks (a chunked upstream response).
  const chunks: Uint8Array[] = [];
  for (let p = 0; p < b.bytes.length; ) {
    const n = g.int(1, Math.max(1, Math.ceil(b.bytes.length / 3)));
    chunks.push(b.bytes.subarray(p, p + n));
    p += n;
  }
  return { status, headers: hs, chunks };
}

const ISO = /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/;
const BASE64 = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/;

function hasKey(v: unknown, key: string): boolean {
  if (Array.isArray(v)) return v.some((x) => hasKey(x, key));
  if (v === null || typeof v !== "object") return false;
  return Object.entries(v).some(([k, x]) => k === key || hasKey(x, key));
}

// eslint-disable-next-line @typescript-eslint/no-explicit-any
function checkEvent(e: any): void {
  const where = (): string => `event ${String(e?.transaction_id)}`;
  assert.equal(typeof e.request, "object", where());
  assert.equal(typeof e.response, "object", where());
  assert.match(e.request.time, ISO);
  assert.match(e.response.time, ISO);
  assert.equal(typeof e.request.uri, "string");
  assert.ok(e.request.uri.startsWith("http://"), where());
  assert.equal(typeof e.request.verb, "string");
  assert.ok(Number.isInteger(e.response.status), where());
  for (const side of [e.request, e.response]) {
    assert.ok(side.headers && typeof side.headers === "object" && !Array.isArray(side.headers), where());
    for (const [k, v] of Object.entries(side.headers)) {
      assert.equal(typeof v, "string");
      assert.equal(k, k.replace(/[A-Z]/g, (c) => c.toLowerCase()), `header name ${JSON.stringify(k)} lowercased`);
    }
    if ("body" in side) {
      assert.ok(side.transfer_encoding === "json" || side.transfer_encoding === "base64", where());
      if (side.transfer_encoding === "base64") assert.match(side.body, BASE64);
    } else {
      assert.ok(!("transfer_encoding" in side), where());
    }
  }
  assert.ok(!("cookie" in e.request.headers), `${where()}: masked header`);
  for (const side of [e.request, e.response]) {
    if (side.transfer_encoding === "json") assert.ok(!hasKey(side.body, "password"), `${where()}: masked body key`);
  }
  assert.equal(e.direction, "Incoming");
  assert.ok(Number.isInteger(e.weight) && e.weight >= 1);
  assert.equal(typeof e.transaction_id, "string");
  assert.equal(typeof e.metadata?.kong, "object");
  for (const k of ["user_id", "company_id", "session_token"]) if (k in e) assert.equal(typeof e[k], "string", k);
}

before(async () => {
  await filterModule();
});

test(`fuzz: ${REQUESTS} malformed requests (seed ${SEED}) pass, none trap, every one logged exactly once`, async () => {
  const g = new Gen(mulberry32(SEED));
  const h = await startFilter(
    {
      application_id: "fuzz-app",
      api_endpoint: "http://127.0.0.1:9",
      request_body_masks: ["password"],
      response_body_masks: ["password"],
      request_header_masks: ["cookie"],
      request_query_masks: ["key", "api-key"],
      user_id_header: "x-user",
      company_id_header: "x-company",
      authorization_header_name: "X-Api-Token, Authorization",
      authorization_company_id_field: "app_metadata.org",
      queue_max_bytes: 256 * 1024 * 1024,
    },
    { workers: 2, kv: { size: 512 * 1024 * 1024 } },
  );
  try {
    /** transaction id → what the client saw, one entry per request. */
    const expected = new Map<string, Array<{ method: string; status: number }>>();
    let sent = 0;
    let consumed = 0;
    while (sent < REQUESTS) {
      const n = Math.min(ROUND, REQUESTS - sent);
      for (let i = 0; i < n; i++) {
        const request = makeRequest(g);
        const response = makeResponse(g);
        const result = await h.host.request(request, () => response);
        const what = `request #${sent}: ${JSON.stringify({ method: request.method, path: request.path.slice(0, 100) })}`;
        assert.equal(result.trapped, false, what);
        assert.ok(!result.crashed, what);
        assert.equal(result.upstreamCalled, true, what);
        assert.equal(result.status, response.status, what);
        const tx = header(result.headers, "x-moesif-transaction-id");
        assert.ok(tx !== undefined, `${what}: no transaction id on the response`);
        const list = expected.get(tx) ?? [];
        // The host passes the method as UTF-8: lone surrogates arrive as U+FFFD.
        list.push({ method: dec(enc(request.method)), status: response.status });
        expected.set(tx, list);
        sent++;
      }
      await h.host.advance(FLUSH_MS);
      assert.deepEqual(h.invalidBatches.map((b) => b.error), [], "every batch is a JSON array of objects");
      for (; consumed < h.events.length; consumed++) {
        const e = h.events[consumed].json;
        checkEvent(e);
        const list = expected.get(e.transaction_id);
        assert.ok(list && list.length > 0, `event for an unknown or already logged request: ${e.transaction_id}`);
        const i = list.findIndex((x) => x.method === e.request.verb && x.status === e.response.status);
        assert.ok(i >= 0, `event ${e.transaction_id} does not match its request: ${JSON.stringify(list)} vs ${JSON.stringify([e.request.verb, e.response.status])}`);
        list.splice(i, 1);
      }
      assert.equal(h.events.length, sent, `events received after ${sent} requests`);
    }
    assert.ok([...expected.values()].every((l) => l.length === 0), "every request was logged");
    const errors = h.problems().filter((l) => !l.startsWith("[warn]"));
    assert.deepEqual(errors, []);
    assert.deepEqual(h.problems(), [], "no warnings either (no drops, no queue trouble)");
  } finally {
    await h.host.stop();
  }
});
