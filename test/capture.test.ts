// End-to-end capture (SPEC §4, §5, §10): one request through the compiled filter on the
// test gateway (the host emulator, or Kong's engine with TEST_GATEWAY=engine), then the
// emitted event checked field by field. Each case names what it shows; "lua bug:" marks a
// defect of the Lua plugin (reference/moesif.md §2, §6, §7) that the case proves we do not have.
// On the engine (real time) event times are checked for format and order instead of exact values.

import { before, test } from "node:test";
import assert from "node:assert/strict";
import * as zlib from "node:zlib";
import type { ProxyRequest, ProxyResult, UpstreamResponse } from "../emulator/index.ts";
import {
  DEFAULT_CONFIG,
  FLUSH_MS,
  enc,
  filterModule,
  header,
  req,
  resp,
  startFilter,
  startOnGateway,
} from "./helpers/filter.ts";
import { ON_ENGINE, emulatorOnly, engineCannot, flush, type GatewayOptions } from "./helpers/gateway.ts";

// zlib returns Buffers; the emulator's types want plain Uint8Arrays.
const gz = (b: Uint8Array): Uint8Array => new Uint8Array(zlib.gzipSync(b));
const zlibDeflate = (b: Uint8Array): Uint8Array => new Uint8Array(zlib.deflateSync(b));
const rawDeflate = (b: Uint8Array): Uint8Array => new Uint8Array(zlib.deflateRawSync(b));

/** Marks a field that must not be in the event. */
const ABSENT = Symbol("absent");

const START = Date.UTC(2026, 0, 2, 3, 4, 27, 45); // 2026-01-02T03:04:27.045Z
const UUID_V4 = /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;

interface Ctx {
  raw: string;
  result: ProxyResult;
}

interface Case {
  name: string;
  config?: Record<string, unknown>;
  request: ProxyRequest;
  upstream: UpstreamResponse;
  opts?: GatewayOptions;
  /** Virtual milliseconds the upstream takes. */
  delayMs?: number;
  /** Dotted paths → exact expected values (objects compared whole), or ABSENT. */
  want: Record<string, unknown>;
  check?: (event: Event, ctx: Ctx) => void;
}

// eslint-disable-next-line @typescript-eslint/no-explicit-any
type Event = any;

const b64 = (b: Uint8Array | string): string => Buffer.from(typeof b === "string" ? enc(b) : b).toString("base64");
const unb64 = (s: string): Uint8Array => new Uint8Array(Buffer.from(s, "base64"));
const b64url = (s: string): string => Buffer.from(s).toString("base64url");
const iso = (ms: number): string => new Date(ms).toISOString();
const JSON_CT: [string, string] = ["Content-Type", "application/json"];

function at(obj: Event, path: string): { found: boolean; value: unknown } {
  let cur = obj;
  for (const part of path.split(".")) {
    if (cur === null || typeof cur !== "object" || !Object.prototype.hasOwnProperty.call(cur, part)) {
      return { found: false, value: undefined };
    }
    cur = cur[part];
  }
  return { found: true, value: cur };
}

/** A JWT whose payload is `claims` plus a filler chosen so that the base64url payload has
 *  `-` and `_` and no padding: decoders that only know standard base64 fail on it. */
function urlSafeJwt(claims: Record<string, unknown>): string {
  for (let n = 0; n < 500; n++) {
    const payload = b64url(JSON.stringify({ ...claims, f: "\u00fe\u00ff>?~".repeat(1 + (n % 7)) + "x".repeat(n) }));
    if (payload.includes("-") && payload.includes("_") && payload.length % 4 !== 0) {
      return `${b64url('{"alg":"HS256","typ":"JWT"}')}.${payload}.c2lnbmF0dXJl`;
    }
  }
  throw new Error("no url-safe payload found");
}

const jwt = (payloadJson: string): string => `${b64url('{"alg":"none"}')}.${b64url(payloadJson)}.sig`;

/** A body split into `n` chunks of about equal size. */
function chunks(body: Uint8Array, n: number): Uint8Array[] {
  const size = Math.ceil(body.length / n);
  const out: Uint8Array[] = [];
  for (let i = 0; i < body.length; i += size) out.push(body.subarray(i, i + size));
  return out;
}

/** Deterministic bytes (xorshift) for binary bodies. */
function bytes(n: number, seed = 7): Uint8Array {
  const out = new Uint8Array(n);
  let x = seed;
  for (let i = 0; i < n; i++) {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    out[i] = x & 0xff;
  }
  return out;
}

const jsonText = '{"id":12345678901234567890,"list":[],"obj":{},"url":"http:\\/\\/x.example\\/a","e":"\\u00e9\\n","f":1.50,"neg":-0}';
const gzJson = gz(enc('{"gz":[1,2,3],"big":98765432109876543210}'));
const bomb = gz(new Uint8Array(20_000_000));
const plainText = "hello, compressed world ".repeat(40);
const truncatedGzip = gz(enc(plainText)).subarray(0, 30);
const binary = bytes(3000);
const xml = '<?xml version="1.0"?><order id="1"><item>caf\u00e9</item></order>';
const multiChunkJson = enc(JSON.stringify({ rows: Array.from({ length: 400 }, (_, i) => ({ i, name: `row-${i}` })) }));

const cases: Case[] = [
  // ---------------------------------------------------------------- times
  {
    name: "lua bug: times are ISO-8601 with zero-padded milliseconds and Z (.045Z, not .45)",
    request: req("GET", "/t"),
    upstream: resp(200),
    delayMs: 960, // response at 27.045 + 0.960 = 28.005
    want: { "request.time": "2026-01-02T03:04:27.045Z", "response.time": "2026-01-02T03:04:28.005Z" },
  },
  {
    name: "lua bug: .412 stays .412 (no float error), and .005 stays .005",
    opts: { startTime: Date.UTC(2026, 11, 31, 23, 59, 59, 412) },
    request: req("GET", "/t"),
    upstream: resp(200),
    delayMs: 593, // crosses into the new year
    want: { "request.time": "2026-12-31T23:59:59.412Z", "response.time": "2027-01-01T00:00:00.005Z" },
  },
  {
    name: "times: a leap day rolls over into March (2028-02-29T23:59:59.999Z + 1 ms)",
    opts: { startTime: Date.UTC(2028, 1, 29, 23, 59, 59, 999) },
    request: req("GET", "/t"),
    upstream: resp(200),
    delayMs: 1,
    want: { "request.time": "2028-02-29T23:59:59.999Z", "response.time": "2028-03-01T00:00:00.000Z" },
  },

  // ---------------------------------------------------------------- uri
  {
    name: "uri is scheme://<client Host header>/path?query, not :authority (kong:8000)",
    opts: { serverName: "kong", listenPort: 8000 },
    request: req("GET", "/v1/items?x=1&y=two", [["Host", "api.example.com:8443"]]),
    upstream: resp(200),
    want: { "request.uri": "http://api.example.com:8443/v1/items?x=1&y=two", "request.headers.host": "api.example.com:8443" },
  },
  {
    name: "lua bug: query mask matches the exact name (mask `key` leaves my_key and keyx alone)",
    config: { request_query_masks: ["key"] },
    request: req("GET", "/p?my_key=abc&key=zzz&keyx=1&k=2"),
    upstream: resp(200),
    want: { "request.uri": "http://api.example.com/p?my_key=abc&key=*****&keyx=1&k=2" },
  },
  {
    name: "lua bug: an empty query value is masked (k= → k=*****)",
    config: { request_query_masks: ["token"] },
    request: req("GET", "/p?token=&a=1"),
    upstream: resp(200),
    want: { "request.uri": "http://api.example.com/p?token=*****&a=1" },
  },
  {
    name: "lua bug: every occurrence of a masked query parameter is masked",
    config: { request_query_masks: ["key", "pw"] },
    request: req("GET", "/p?key=1&pw=s3&key=2&x=3&key=3"),
    upstream: resp(200),
    want: { "request.uri": "http://api.example.com/p?key=*****&pw=*****&key=*****&x=3&key=*****" },
  },
  {
    name: "query parameters without = are left as they are; names are case-sensitive",
    config: { request_query_masks: ["key"] },
    request: req("GET", "/p?key&KEY=up&flag&key=v"),
    upstream: resp(200),
    want: { "request.uri": "http://api.example.com/p?key&KEY=up&flag&key=*****" },
  },
  {
    name: "lua bug: mask `api-key` works (not a Lua pattern); the path is never masked",
    config: { request_query_masks: ["api-key"] },
    request: req("GET", "/api-key=1/x?api-key=secret&apixkey=keep"),
    upstream: resp(200),
    want: { "request.uri": "http://api.example.com/api-key=1/x?api-key=*****&apixkey=keep" },
  },
  {
    name: "uri: percent-encoding and a fragment-like tail are kept exactly as sent",
    config: { request_query_masks: ["q"] },
    request: req("GET", "/caf%C3%A9/a%2Fb?q=%20x&r=%E2%9C%93"),
    upstream: resp(200),
    want: { "request.uri": "http://api.example.com/caf%C3%A9/a%2Fb?q=*****&r=%E2%9C%93" },
  },

  // ---------------------------------------------------------------- verb, api_version, status
  {
    name: "verb, configured api_version and an upstream 503 status",
    config: { api_version: "2.3-beta" },
    request: req("PATCH", "/orders/7"),
    upstream: resp(503, [["Retry-After", "5"]]),
    want: { "request.verb": "PATCH", "request.api_version": "2.3-beta", "response.status": 503, "response.headers.retry-after": "5" },
  },

  // ---------------------------------------------------------------- ip_address
  {
    name: "ip_address: first x-forwarded-for entry, port stripped",
    request: req("GET", "/", [["X-Forwarded-For", " 203.0.113.7:5123 , 10.0.0.1"]]),
    upstream: resp(200),
    want: { "request.ip_address": "203.0.113.7" },
  },
  {
    name: "lua bug: compressed IPv6 in x-forwarded-for is kept (not cut to 2001:db8:)",
    request: req("GET", "/", [["X-Forwarded-For", "2001:db8::1, 10.0.0.1"]]),
    upstream: resp(200),
    want: { "request.ip_address": "2001:db8::1" },
  },
  {
    name: "ip_address: bracketed IPv6 with port; invalid entries are skipped",
    request: req("GET", "/", [["X-Forwarded-For", "unknown, 999.1.1.1, [2001:db8::2]:443"]]),
    upstream: resp(200),
    want: { "request.ip_address": "2001:db8::2" },
  },
  {
    name: "ip_address: x-client-ip comes before x-forwarded-for",
    request: req("GET", "/", [["X-Forwarded-For", "198.51.100.1"], ["X-Client-IP", "198.51.100.2"]]),
    upstream: resp(200),
    want: { "request.ip_address": "198.51.100.2" },
  },
  {
    name: "ip_address: an unusable x-forwarded-for falls through to x-real-ip",
    request: req("GET", "/", [["X-Forwarded-For", "unknown"], ["X-Real-IP", "198.51.100.4"]]),
    upstream: resp(200),
    want: { "request.ip_address": "198.51.100.4" },
  },
  {
    name: "lua bug: a repeated x-forwarded-for header is one list (not skipped, not only the first)",
    request: req("GET", "/", [["X-Forwarded-For", "unknown"], ["X-Forwarded-For", "203.0.113.50, 10.0.0.2"]]),
    upstream: resp(200),
    want: { "request.ip_address": "203.0.113.50", "request.headers.x-forwarded-for": "unknown, 203.0.113.50, 10.0.0.2" },
  },
  {
    name: "lua bug: RFC 7239 forwarded for= parameter is parsed",
    request: req("GET", "/", [["Forwarded", 'for="[2001:db8::3]:80";proto=https, for=192.0.2.1']]),
    upstream: resp(200),
    want: { "request.ip_address": "2001:db8::3" },
  },
  {
    name: "ip_address: no forwarding header → source.address",
    // A loopback address other than the default, so that the engine's client can bind it.
    request: { ...req("GET", "/"), remoteAddr: "127.0.0.9" },
    upstream: resp(200),
    want: { "request.ip_address": "127.0.0.9" },
  },

  // ---------------------------------------------------------------- headers
  {
    name: "headers: lowercased names, repeated headers joined with \", \" (request and response)",
    request: req("GET", "/h", [["Host", "h.example"], ["X-Multi", "a"], ["Accept", "*/*"], ["x-MULTI", "b"]]),
    upstream: resp(200, [["Set-Cookie", "a=1"], ["X-Up", "1"], ["set-cookie", "b=2"]]),
    want: { "request.uri": "http://h.example/h", "request.headers.x-multi": "a, b", "response.headers.set-cookie": "a=1, b=2" },
    check: (e, { result }) => {
      assert.deepEqual(e.request.headers, {
        host: "h.example",
        "x-multi": "a, b",
        accept: "*/*",
        "x-moesif-transaction-id": header(result.upstreamRequest!.headers, "x-moesif-transaction-id"),
      });
      assert.equal(e.response.headers["x-up"], "1");
    },
  },
  {
    name: "headers: masks remove headers case-insensitively (config and traffic in any case)",
    config: { request_header_masks: ["Authorization", "x-secret"], response_header_masks: ["SET-COOKIE"] },
    request: req("GET", "/", [["AUTHORIZATION", "Bearer t"], ["X-Secret", "s"], ["X-Keep", "k"]]),
    upstream: resp(200, [["Set-Cookie", "sid=1"], ["X-Keep", "r"]]),
    want: {
      "request.headers.authorization": ABSENT,
      "request.headers.x-secret": ABSENT,
      "request.headers.x-keep": "k",
      "response.headers.set-cookie": ABSENT,
      "response.headers.x-keep": "r",
    },
    check: (_e, { raw, result }) => {
      assert.ok(!raw.includes("sid=1") && !raw.includes("Bearer t"), "masked values appear nowhere");
      assert.equal(header(result.upstreamRequest!.headers, "authorization"), "Bearer t", "traffic is unchanged");
      assert.equal(header(result.headers, "set-cookie"), "sid=1");
    },
  },
  {
    name: "headers: an 8 kB header value and JSON-special characters are kept intact",
    // nginx's default large_client_header_buffers (8k) answers 400 to an 8 kB header line.
    opts: { engine: { conf: { httpExtra: ["large_client_header_buffers 4 16k;"] } } },
    request: req("GET", "/", [["X-Big", "v".repeat(8192)], ["X-Quote", 'a"b\\c\tq\u00e9']]),
    upstream: resp(200),
    want: { "request.headers.x-big": "v".repeat(8192), "request.headers.x-quote": 'a"b\\c\tq\u00e9' },
  },

  // ---------------------------------------------------------------- transaction id
  {
    name: "transaction_id: a UUIDv4, equal on the upstream request, the client response and the event",
    request: req("GET", "/tx"),
    upstream: resp(200),
    want: {},
    check: (e, { result }) => {
      assert.match(e.transaction_id, UUID_V4);
      assert.equal(e.request.headers["x-moesif-transaction-id"], e.transaction_id);
      assert.equal(e.response.headers["x-moesif-transaction-id"], e.transaction_id);
    },
  },
  {
    name: "transaction_id: an incoming X-Moesif-Transaction-Id is reused, not duplicated",
    request: req("GET", "/tx", [["X-Moesif-Transaction-Id", "client-given-42"]]),
    upstream: resp(200),
    want: { transaction_id: "client-given-42", "request.headers.x-moesif-transaction-id": "client-given-42" },
    check: (_e, { result }) => {
      const up = result.upstreamRequest!.headers.filter(([k]) => k.toLowerCase() === "x-moesif-transaction-id");
      assert.deepEqual(up.map(([, v]) => v), ["client-given-42"]);
      assert.equal(header(result.headers, "x-moesif-transaction-id"), "client-given-42");
    },
  },
  {
    name: "transaction_id: disable_transaction_id leaves it out everywhere",
    config: { disable_transaction_id: true },
    request: req("GET", "/tx"),
    upstream: resp(200),
    want: { transaction_id: ABSENT, "request.headers.x-moesif-transaction-id": ABSENT, "response.headers.x-moesif-transaction-id": ABSENT },
    check: (_e, { result }) => {
      assert.equal(header(result.upstreamRequest!.headers, "x-moesif-transaction-id"), undefined);
      assert.equal(header(result.headers, "x-moesif-transaction-id"), undefined);
    },
  },

  // ---------------------------------------------------------------- session token, metadata
  {
    name: "session_token from X-Credential-Identifier (set by Kong auth plugins)",
    request: req("GET", "/", [["X-Credential-Identifier", "cred-9f3"]]),
    upstream: resp(200),
    want: { session_token: "cred-9f3" },
  },
  {
    name: "metadata.kong: route/service ids and names from the Kong properties (3.9)",
    opts: {
      kongVersion: "3.9",
      properties: { "kong.route_id": "r-1", "kong.service_id": "s-1", "kong.route_name": "orders", "kong.service_name": "orders-svc" },
    },
    request: req("GET", "/"),
    upstream: resp(200),
    want: { "metadata.kong": { route_id: "r-1", service_id: "s-1", route_name: "orders", service_name: "orders-svc" } },
  },
  {
    name: "metadata.kong: on 3.8 the names are not exposed and just stay out",
    opts: {
      kongVersion: "3.8",
      properties: { "kong.route_id": "r-2", "kong.service_id": "s-2", "kong.route_name": "n", "kong.service_name": "m" },
    },
    request: req("GET", "/"),
    upstream: resp(200),
    want: { "metadata.kong": { route_id: "r-2", service_id: "s-2" } },
  },

  // ---------------------------------------------------------------- identification (SPEC §5)
  {
    name: "user_id: user_id_header beats consumer headers and the token",
    config: { user_id_header: "X-User" },
    request: req("GET", "/", [["x-user", "hdr-user"], ["X-Consumer-Username", "consumer"], ["Authorization", `Bearer ${jwt('{"sub":"jwt-user"}')}`]]),
    upstream: resp(200),
    want: { user_id: "hdr-user" },
  },
  {
    name: "user_id: x-consumer-custom-id, then x-consumer-username, then x-consumer-id",
    request: req("GET", "/", [["X-Consumer-Id", "id-1"], ["X-Consumer-Username", "name-1"], ["X-Consumer-Custom-Id", "custom-1"]]),
    upstream: resp(200),
    want: { user_id: "custom-1" },
  },
  {
    name: "user_id: x-consumer-id when it is the only consumer header",
    request: req("GET", "/", [["X-Consumer-Id", "id-2"]]),
    upstream: resp(200),
    want: { user_id: "id-2" },
  },
  {
    name: "lua bug: Bearer JWT payload in base64url with - and _ and without padding",
    config: { authorization_company_id_field: "org" },
    request: req("GET", "/", [["Authorization", `Bearer ${urlSafeJwt({ sub: "user-\u00e9\u00df", org: "acme" })}`]]),
    upstream: resp(200),
    want: { user_id: "user-\u00e9\u00df", company_id: "acme" },
  },
  {
    name: "lua bug: nested claim app_metadata.org as company; custom user claim field",
    config: { authorization_user_id_field: "email", authorization_company_id_field: "app_metadata.org" },
    request: req("GET", "/", [["Authorization", `Bearer ${jwt('{"sub":"s","email":"a@b.c","app_metadata":{"org":"org-7"}}')}`]]),
    upstream: resp(200),
    want: { user_id: "a@b.c", company_id: "org-7" },
  },
  {
    name: "lua bug: a numeric claim keeps its exact text (12345678901234567890)",
    config: { authorization_company_id_field: "cid" },
    request: req("GET", "/", [["Authorization", `Bearer ${jwt('{"sub":12345678901234567890,"cid":42}')}`]]),
    upstream: resp(200),
    want: { user_id: "12345678901234567890", company_id: "42" },
    check: (_e, { raw }) => assert.ok(raw.includes('"user_id":"12345678901234567890"')),
  },
  {
    name: "lua bug: Basic user:pa:ss identifies `user` (username ends at the first colon)",
    request: req("GET", "/", [["Authorization", `Basic ${b64("user:pa:ss")}`]]),
    upstream: resp(200),
    want: { user_id: "user" },
  },
  {
    name: "authorization_header_name is a comma list: the first present header is used",
    config: { authorization_header_name: "X-Missing, X-Api-Token ,Authorization" },
    request: req("GET", "/", [["Authorization", `Bearer ${jwt('{"sub":"from-authz"}')}`], ["x-api-token", `Bearer ${jwt('{"sub":"from-token"}')}`]]),
    upstream: resp(200),
    want: { user_id: "from-token" },
  },
  {
    name: "user_id: user_id_header in the response is the last fallback",
    config: { user_id_header: "X-User-Id" },
    request: req("GET", "/", [["Authorization", "Bearer not-a-jwt"]]),
    upstream: resp(200, [["X-User-Id", "resp-user"]]),
    want: { user_id: "resp-user" },
  },
  {
    name: "lua bug: company from the JWT claim also when the user came from a header",
    config: { authorization_company_id_field: "org" },
    request: req("GET", "/", [["X-Consumer-Username", "alice"], ["Authorization", `bearer ${jwt('{"sub":"ignored","org":"co-1"}')}`]]),
    upstream: resp(200),
    want: { user_id: "alice", company_id: "co-1" },
  },
  {
    name: "company_id: company_id_header from the request, then from the response",
    config: { company_id_header: "X-Company" },
    request: req("GET", "/"),
    upstream: resp(200, [["X-Company", "resp-co"]]),
    want: { company_id: "resp-co" },
  },
  {
    name: "malformed tokens identify nobody and the request passes",
    config: { authorization_company_id_field: "org" },
    request: req("GET", "/", [["Authorization", "Bearer a.%%%%.c"]]),
    upstream: resp(200),
    want: { user_id: ABSENT, company_id: ABSENT },
  },

  // ---------------------------------------------------------------- bodies
  {
    name: "no body: a GET has no body field (lua bug: every GET got \"body\":\"\")",
    request: req("GET", "/"),
    upstream: resp(200, [JSON_CT]),
    want: {},
    check: (_e, { raw }) => assert.ok(!raw.includes('"body"') && !raw.includes("transfer_encoding")),
  },
  {
    name: "lua bug: JSON bodies are byte-exact (big ints, [], {}, \\/ escapes, 1.50, -0)",
    request: req("POST", "/j", [JSON_CT], jsonText),
    upstream: resp(200, [["Content-Type", "application/problem+json; charset=utf-8"]], "[]"),
    want: {
      "request.body": JSON.parse(jsonText),
      "request.transfer_encoding": "json",
      "response.body": [],
      "response.transfer_encoding": "json",
    },
    check: (_e, { raw }) => {
      assert.ok(raw.includes(`"body":${jsonText},"transfer_encoding":"json"`), raw);
      assert.ok(raw.includes('"body":[],"transfer_encoding":"json"'));
    },
  },
  {
    name: "lua bug: a number like 1e999 stays as sent and does not poison the batch",
    request: req("POST", "/j", [JSON_CT], '{"n":1e999,"m":[1E+2]}'),
    upstream: resp(200),
    want: { "request.body": { n: Infinity, m: [100] }, "request.transfer_encoding": "json" },
    check: (_e, { raw }) => assert.ok(raw.includes('"body":{"n":1e999,"m":[1E+2]}')),
  },
  {
    name: "body masks: keys removed at any depth and inside arrays, case-sensitive",
    config: { request_body_masks: ["password"], response_body_masks: ["token"] },
    request: req("POST", "/m", [JSON_CT], '{"password":"x","customer":{"password":"y","Password":"kept","list":[{"password":"z","ok":1},{"ok":2,"password":[3]}]}}'),
    upstream: resp(200, [JSON_CT], '[{"token":"t1","id":1},{"nested":{"token":{"deep":true}}}]'),
    want: {
      "request.body": { customer: { Password: "kept", list: [{ ok: 1 }, { ok: 2 }] } },
      "request.transfer_encoding": "json",
      "response.body": [{ id: 1 }, { nested: {} }],
      "response.transfer_encoding": "json",
    },
    check: (_e, { raw }) => assert.ok(!raw.includes('"x"') && !raw.includes('"t1"') && !raw.includes("deep")),
  },
  {
    name: "deprecated request_masks/response_masks apply when the *_body_masks lists are empty",
    config: { request_masks: ["a"], response_masks: ["b"], response_body_masks: ["c"] },
    request: req("POST", "/m", [JSON_CT], '{"a":1,"b":2,"c":3}'),
    upstream: resp(200, [JSON_CT], '{"a":1,"b":2,"c":3}'),
    want: {
      "request.body": { b: 2, c: 3 },
      "request.transfer_encoding": "json",
      "response.body": { a: 1, b: 2 },
      "response.transfer_encoding": "json",
    },
  },
  {
    name: "lua bug: invalid JSON under a json content type goes out as base64, not as no body",
    request: req("POST", "/bad", [JSON_CT], '{"a": tru'),
    upstream: resp(200, [JSON_CT], '{"ok":1}trailing'),
    want: {
      "request.body": b64('{"a": tru'),
      "request.transfer_encoding": "base64",
      "response.body": b64('{"ok":1}trailing'),
      "response.transfer_encoding": "base64",
    },
  },
  {
    name: "invalid UTF-8 inside a JSON string under a json content type → base64 of the bytes",
    request: req("POST", "/bad", [JSON_CT], new Uint8Array([0x7b, 0x22, 0x61, 0x22, 0x3a, 0x22, 0xff, 0xfe, 0x22, 0x7d])),
    upstream: resp(200),
    want: { "request.body": b64(new Uint8Array([0x7b, 0x22, 0x61, 0x22, 0x3a, 0x22, 0xff, 0xfe, 0x22, 0x7d])), "request.transfer_encoding": "base64" },
  },
  {
    name: "lua bug: JSON with leading whitespace is still JSON",
    request: req("POST", "/ws", [JSON_CT], '\n  {"a":[1, 2]}  \n'),
    upstream: resp(200),
    want: { "request.body": { a: [1, 2] }, "request.transfer_encoding": "json" },
  },
  {
    name: "text/xml and binary bodies are base64 (decoded bytes equal the originals)",
    request: req("POST", "/x", [["Content-Type", "text/xml; charset=utf-8"]], xml),
    upstream: resp(200, [["Content-Type", "application/octet-stream"]], binary),
    want: {
      "request.body": b64(xml),
      "request.transfer_encoding": "base64",
      "response.body": b64(binary),
      "response.transfer_encoding": "base64",
    },
    check: (e) => {
      assert.deepEqual(unb64(e.request.body), enc(xml));
      assert.deepEqual(unb64(e.response.body), binary);
    },
  },
  {
    name: "a body without content type is base64",
    request: req("POST", "/x", [], "a=1&password=2"),
    upstream: resp(200),
    want: { "request.body": b64("a=1&password=2"), "request.transfer_encoding": "base64" },
  },
  {
    name: "gzip JSON response is inflated and embedded byte-exact",
    request: req("GET", "/gz"),
    upstream: resp(200, [JSON_CT, ["Content-Encoding", "gzip"]], gzJson),
    want: {
      "response.body": { gz: [1, 2, 3], big: 98765432109876543210 },
      "response.transfer_encoding": "json",
      "response.headers.content-encoding": "gzip",
    },
    check: (_e, { raw }) => assert.ok(raw.includes('"body":{"gz":[1,2,3],"big":98765432109876543210},"transfer_encoding":"json"')),
  },
  {
    name: "lua bug: deflate (zlib and raw) text bodies are inflated, then base64",
    request: req("POST", "/df", [["Content-Type", "text/plain"], ["Content-Encoding", "deflate"]], rawDeflate(enc(plainText))),
    upstream: resp(200, [["Content-Type", "text/plain"], ["Content-Encoding", "deflate"]], zlibDeflate(enc(plainText))),
    want: {
      "request.body": b64(plainText),
      "request.transfer_encoding": "base64",
      "response.body": b64(plainText),
      "response.transfer_encoding": "base64",
    },
  },
  {
    name: "deflate JSON request is embedded as JSON; gzip text response is inflated, then base64",
    request: req("POST", "/dj", [JSON_CT, ["Content-Encoding", "deflate"]], zlibDeflate(enc('{"d":[true,null]}'))),
    upstream: resp(200, [["Content-Type", "text/plain"], ["Content-Encoding", "gzip"]], gz(enc(plainText))),
    want: {
      "request.body": { d: [true, null] },
      "request.transfer_encoding": "json",
      "response.body": b64(plainText),
      "response.transfer_encoding": "base64",
    },
  },
  {
    name: "gzip request body with a json type is inflated and masked",
    config: { request_body_masks: ["secret"] },
    request: req("POST", "/gzr", [JSON_CT, ["Content-Encoding", "gzip"]], gz(enc('{"secret":1,"v":[]}'))),
    upstream: resp(200),
    want: { "request.body": { v: [] }, "request.transfer_encoding": "json" },
  },
  {
    name: "a gzip bomb is omitted with response_body_omitted inflate_limit",
    request: req("GET", "/bomb"),
    upstream: resp(200, [JSON_CT, ["Content-Encoding", "gzip"]], bomb),
    want: {
      "response.body": ABSENT,
      "response.transfer_encoding": ABSENT,
      "metadata.moesif": { response_body_omitted: "inflate_limit" },
    },
  },
  {
    name: "corrupt gzip (truncated, or not gzip at all) goes out as its raw bytes in base64",
    request: req("POST", "/cg", [["Content-Type", "text/plain"], ["Content-Encoding", "gzip"]], truncatedGzip),
    upstream: resp(200, [JSON_CT, ["Content-Encoding", "gzip"]], '{"not":"gzip"}'),
    want: {
      "request.body": b64(truncatedGzip),
      "request.transfer_encoding": "base64",
      "response.body": b64('{"not":"gzip"}'),
      "response.transfer_encoding": "base64",
    },
  },
  {
    name: "disable_gzip_payload_decompression sends the raw gzip bytes in base64",
    config: { disable_gzip_payload_decompression: true },
    request: req("GET", "/gz"),
    upstream: resp(200, [JSON_CT, ["Content-Encoding", "gzip"]], gzJson),
    want: { "response.body": b64(gzJson), "response.transfer_encoding": "base64" },
  },
  {
    name: "request body over request_max_body_size_limit → omitted, size_limit",
    config: { request_max_body_size_limit: 1000 },
    request: req("POST", "/big", [JSON_CT], `{"pad":"${"x".repeat(1200)}"}`),
    upstream: resp(200),
    want: { "request.body": ABSENT, "request.transfer_encoding": ABSENT, "metadata.moesif": { request_body_omitted: "size_limit" } },
    check: (_e, { result }) => assert.equal(result.upstreamRequest!.body!.length, 1210, "the upstream still gets it all"),
  },
  {
    name: "lua bug: a 9 kB request body (over client_body_buffer_size, under 1.25x) is captured",
    request: req("POST", "/mid", [["Content-Type", "text/plain"]], "m".repeat(9000)),
    upstream: resp(200),
    want: { "request.body": b64("m".repeat(9000)), "request.transfer_encoding": "base64" },
  },
  {
    name: "lua bug: a request body the engine cannot provide (over ~1.25x buffer) → unreadable, not silent",
    request: req("POST", "/huge", [["Content-Type", "text/plain"]], "h".repeat(20000)),
    upstream: resp(200),
    want: { "request.body": ABSENT, "metadata.moesif": { request_body_omitted: "unreadable" } },
  },
  {
    name: "lua bug: response over the limit across chunks → size_limit, never a truncated body",
    config: { response_max_body_size_limit: 10000 },
    request: req("GET", "/chunks"),
    // 10,000 bytes fill the limit exactly; the last chunk (2 bytes) overflows it.
    upstream: { status: 200, headers: [JSON_CT], chunks: [enc('{"a":"' + "y".repeat(5994)), enc("z".repeat(4000)), enc('"}')] },
    want: { "response.body": ABSENT, "response.transfer_encoding": ABSENT, "metadata.moesif": { response_body_omitted: "size_limit" } },
    check: (_e, { result, raw }) => {
      assert.equal(result.body.length, 10002, "the client gets the whole body");
      assert.ok(!raw.includes("zzzz"), "no part of the body is in the event");
    },
  },
  {
    name: "multi-chunk response bodies are assembled in order (chunked and over 8 kB)",
    request: req("GET", "/rows"),
    upstream: { status: 200, headers: [JSON_CT], chunks: chunks(multiChunkJson, 5) },
    want: {
      "response.body": JSON.parse(new TextDecoder().decode(multiChunkJson)),
      "response.transfer_encoding": "json",
      "response.headers.transfer-encoding": "chunked",
    },
    check: (_e, { raw }) => {
      assert.ok(multiChunkJson.length > 8192);
      assert.ok(raw.includes(`"body":${new TextDecoder().decode(multiChunkJson)},"transfer_encoding":"json"`));
    },
  },
  {
    name: "both limits exact: a body of exactly the limit is kept",
    config: { request_max_body_size_limit: 10, response_max_body_size_limit: 10 },
    request: req("POST", "/exact", [JSON_CT], '{"a":"12"}'),
    upstream: resp(200, [JSON_CT], '{"b":"34"}'),
    want: {
      "request.body": { a: "12" },
      "request.transfer_encoding": "json",
      "response.body": { b: "34" },
      "response.transfer_encoding": "json",
    },
  },
  {
    name: "204 has no response body",
    request: req("DELETE", "/item/1"),
    upstream: resp(204, [JSON_CT]),
    want: { "response.status": 204, "response.body": ABSENT, "response.transfer_encoding": ABSENT },
  },
  {
    name: "HEAD has no response body",
    request: req("HEAD", "/item/1"),
    upstream: resp(200, [JSON_CT, ["Content-Length", "10"]]),
    want: { "request.verb": "HEAD", "response.body": ABSENT, "response.headers.content-length": "10" },
  },
  {
    name: "disable_capture_request_body and disable_capture_response_body",
    config: { disable_capture_request_body: true, disable_capture_response_body: true },
    request: req("POST", "/off", [JSON_CT], '{"a":1}'),
    upstream: resp(200, [JSON_CT], '{"b":2}'),
    want: { "request.body": ABSENT, "response.body": ABSENT, "metadata.moesif": ABSENT },
  },
  {
    name: "lua bug: a repeated content-type header does not lose the event",
    request: req("POST", "/ct", [JSON_CT, ["Content-Type", "text/plain"]], '{"a":1}'),
    upstream: resp(200),
    want: { "request.headers.content-type": "application/json, text/plain", "request.body": { a: 1 }, "request.transfer_encoding": "json" },
  },
];

/** The expectations every case starts from; a case's `want` overrides them. */
function defaults(c: Case): Record<string, unknown> {
  return {
    "request.uri": `http://api.example.com${c.request.path}`,
    "request.verb": c.request.method,
    "request.api_version": "1.0",
    "request.ip_address": "127.0.0.1",
    "request.body": ABSENT,
    "request.transfer_encoding": ABSENT,
    "response.status": c.upstream.status,
    "response.body": ABSENT,
    "response.transfer_encoding": ABSENT,
    "response.ip_address": ABSENT,
    direction: "Incoming",
    weight: 1,
    user_id: ABSENT,
    company_id: ABSENT,
    session_token: ABSENT,
    blocked_by: ABSENT,
    "metadata.kong": {},
    "metadata.moesif": ABSENT,
  };
}

const ISO_MS = /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/;

/** Real time (engine): both times are ISO with milliseconds, in order, and within the test's
 *  wall-clock window (a second of slack for clock granularity). */
function assertRealTimes(e: Event, from: number, to: number): void {
  assert.match(e.request.time, ISO_MS);
  assert.match(e.response.time, ISO_MS);
  const rq = Date.parse(e.request.time);
  const rs = Date.parse(e.response.time);
  assert.ok(rq <= rs, `request.time ${e.request.time} ≤ response.time ${e.response.time}`);
  assert.ok(rq >= from - 1000 && rs <= to + 1000, `times ${e.request.time}–${e.response.time} within ${iso(from)}–${iso(to)}`);
}

/** Why a case cannot run on the engine (virtual start time, Kong versions, kong.* properties). */
function caseSkip(c: Case): string | false {
  const why = c.opts ? engineCannot(c.opts) : null;
  return why ? emulatorOnly(why) : false;
}

async function run(c: Case): Promise<void> {
  const start = c.opts?.startTime ?? START;
  const opts = ON_ENGINE ? { ...c.opts } : { startTime: START, ...c.opts };
  const h = await startOnGateway({ ...DEFAULT_CONFIG, ...c.config }, opts);
  try {
    const from = Date.now();
    const result = await h.host.request(c.request, async () => {
      if (c.delayMs && !ON_ENGINE) await h.host.advance(c.delayMs);
      return c.upstream;
    });
    const to = Date.now();
    assert.equal(result.trapped, false);
    assert.equal(result.status, c.upstream.status, "the client gets the upstream's status");
    await flush(h.host, () => h.events.length >= 1, FLUSH_MS);
    assert.deepEqual(h.problems().filter((l) => !l.startsWith("[warn] moesif: config field 'request_masks'") && !l.startsWith("[warn] moesif: config field 'response_masks'")), []);
    assert.deepEqual(h.invalidBatches, []);
    assert.equal(h.events.length, 1, "one event");
    const e = h.events[0].json;

    const want: Record<string, unknown> = {
      ...(ON_ENGINE ? {} : { "request.time": iso(start), "response.time": iso(start + (c.delayMs ?? 0)) }),
      ...defaults(c),
      ...c.want,
    };
    if (ON_ENGINE) {
      assertRealTimes(e, from, to);
      delete want["request.time"];
      delete want["response.time"];
    }
    for (const [path, value] of Object.entries(want)) {
      const got = at(e, path);
      if (value === ABSENT) assert.equal(got.found, false, `${path} must be absent, got ${JSON.stringify(got.value)}`);
      else {
        assert.ok(got.found, `${path} missing in ${h.events[0].raw}`);
        assert.deepEqual(got.value, value, path);
      }
    }
    // Every event: lowercase header names, ISO times, the transaction id wired through.
    for (const side of ["request", "response"] as const) {
      for (const k of Object.keys(e[side].headers)) assert.equal(k, k.toLowerCase(), `${side} header ${k}`);
      assert.match(e[side].time, ISO_MS);
    }
    if (!("transaction_id" in c.want)) {
      assert.match(e.transaction_id, UUID_V4);
      assert.equal(header(result.upstreamRequest!.headers, "x-moesif-transaction-id"), e.transaction_id);
      assert.equal(header(result.headers, "x-moesif-transaction-id"), e.transaction_id);
    } else if (c.want.transaction_id !== ABSENT) {
      assert.equal(header(result.upstreamRequest!.headers, "x-moesif-transaction-id"), c.want.transaction_id);
      assert.equal(header(result.headers, "x-moesif-transaction-id"), c.want.transaction_id);
    }
    c.check?.(e, { raw: h.events[0].raw, result });
  } finally {
    await h.host.stop();
  }
}

before(async () => {
  await filterModule();
});

test("the table has at least 40 cases with unique names", () => {
  assert.ok(cases.length >= 40, `${cases.length} cases`);
  assert.equal(new Set(cases.map((c) => c.name)).size, cases.length);
});

for (const c of cases) test(c.name, { skip: caseSkip(c) }, () => run(c));

test("Kong 3.4 – 3.9: the same exchange gives the same event (apart from id and Kong metadata)", { skip: emulatorOnly("Kong-version switches") }, async () => {
  const shapes: string[] = [];
  for (const kongVersion of ["3.4", "3.5", "3.6", "3.7", "3.8", "3.9"] as const) {
    const h = await startFilter({ ...DEFAULT_CONFIG, request_body_masks: ["pw"], request_query_masks: ["k"] }, { kongVersion, startTime: START });
    try {
      const r = await h.host.request(
        req("POST", "/v?k=1", [JSON_CT, ["Authorization", `Bearer ${jwt('{"sub":"u"}')}`], ["X-Forwarded-For", "2001:db8::7"]], '{"pw":1,"a":[]}'),
        () => resp(201, [JSON_CT], '{"b":{}}'),
      );
      assert.equal(r.status, 201);
      await h.host.advance(FLUSH_MS);
      assert.equal(h.events.length, 1, kongVersion);
      const e = h.events[0].json;
      assert.equal(e.request.body.a.length, 0);
      delete e.transaction_id;
      delete e.metadata.kong;
      delete e.request.headers["x-moesif-transaction-id"];
      delete e.response.headers["x-moesif-transaction-id"];
      delete e.response.headers.via;
      delete e.response.headers.server;
      shapes.push(JSON.stringify(e));
    } finally {
      await h.host.stop();
    }
  }
  assert.equal(new Set(shapes).size, 1, shapes.join("\n"));
  const e = JSON.parse(shapes[0]);
  assert.equal(e.request.uri, "http://api.example.com/v?k=*****");
  assert.equal(e.request.ip_address, "2001:db8::7");
  assert.equal(e.user_id, "u");
  assert.deepEqual(e.request.body, { a: [] });
  assert.deepEqual(e.response.body, { b: {} });
});

test("transaction ids of 200 requests are 200 distinct UUIDv4s", async () => {
  const h = await startOnGateway(DEFAULT_CONFIG);
  try {
    const ids = new Set<string>();
    for (let i = 0; i < 200; i++) {
      const r = await h.host.request(req("GET", `/u/${i}`), () => resp(200));
      const id = header(r.headers, "x-moesif-transaction-id");
      assert.match(id ?? "", UUID_V4);
      ids.add(id!);
    }
    assert.equal(ids.size, 200);
    await flush(h.host, () => h.events.length >= 200, FLUSH_MS);
    assert.deepEqual(new Set(h.events.map((e) => e.json.transaction_id)), ids);
  } finally {
    await h.host.stop();
  }
});

test("metadata.kong follows the route of each request, and route names are re-read after 60 s", { skip: emulatorOnly("kong.* properties (no Kong Lua layer on the engine) and a 60 s cache on the virtual clock") }, async () => {
  // The emulator reads properties from this object per request, so switching it switches the
  // route the next request went through (the filter caches the last route and each route's names).
  const props: Record<string, string> = {};
  const route = (id: string, name: string): void => {
    props["kong.route_id"] = id;
    props["kong.service_id"] = `svc-${id}`;
    props["kong.route_name"] = name;
    props["kong.service_name"] = `service ${name}`;
  };
  const h = await startFilter(DEFAULT_CONFIG, { kongVersion: "3.9", properties: props });
  try {
    const seen: string[] = [];
    const send = async (id: string, name: string): Promise<void> => {
      route(id, name);
      await h.host.request(req("GET", `/${id}`), () => resp(200));
    };
    await send("r-1", "orders");
    await send("r-2", "users");
    await send("r-1", "orders");
    await send("", "none"); // no route id: cached like any other
    await send("r-1", "renamed"); // within 60 s: the cached name stays
    await h.host.advance(61_000);
    await send("r-1", "renamed");
    await h.host.advance(FLUSH_MS);
    for (const e of h.events) {
      const k = e.json.metadata.kong;
      seen.push(`${k.route_id ?? "-"} ${k.service_id ?? "-"} ${k.route_name ?? "-"}`);
    }
    assert.deepEqual(seen, [
      "r-1 svc-r-1 orders",
      "r-2 svc-r-2 users",
      "r-1 svc-r-1 orders",
      "- svc- none",
      "r-1 svc-r-1 orders",
      "r-1 svc-r-1 renamed",
    ]);
  } finally {
    await h.host.stop();
  }
});
