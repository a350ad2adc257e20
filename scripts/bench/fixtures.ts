// Requests, responses and configs of the benchmark (SPEC §11): the reference request
// (1 KB JSON bodies, 20 request headers, about 11 response headers, a Bearer JWT, 3 masks)
// and its variants. Everything is deterministic: a seeded generator, no clock.
import { gzipSync } from "node:zlib";
import { xorshift32 } from "../prng.ts";
import type { ProxyRequest, UpstreamResponse } from "../../emulator/index.ts";

export type Pairs = Array<[string, string]>;

const enc = new TextEncoder();

/** Floats in [0, 1): the same "random" data on every run. */
export function rng(seed: number): () => number {
  const next = xorshift32(seed);
  return () => next() / 4294967296;
}

/** The Kong route and service every benchmark request goes through (request properties). */
export const KONG_ROUTE: Record<string, string> = {
  "kong.route_id": "8d0c2b1e-6a4f-4c55-9a7e-3f1b2c4d5e6f",
  "kong.service_id": "1f2e3d4c-5b6a-4789-8a9b-0c1d2e3f4a5b",
  "kong.route_name": "orders",
  "kong.service_name": "orders-api",
};

const b64url = (s: string): string => Buffer.from(s).toString("base64url");

/** An unsigned HS256-shaped JWT carrying `sub` and an `org` claim. */
export function jwt(sub: string, org: string): string {
  const header = b64url('{"alg":"HS256","typ":"JWT"}');
  const payload = b64url(JSON.stringify({ sub, org, name: "Jane Doe", iat: 1767225600, exp: 1767229200, scope: "orders:read orders:write" }));
  return `${header}.${payload}.${b64url("not-a-real-signature-but-as-long-as-one-32b")}`;
}

const WORDS = ["alpha", "bravo", "charlie", "delta", "echo", "foxtrot", "golf", "hotel", "india", "juliet", "kilo", "lima"];

/** One order-like record; `r` varies the values so bodies do not compress unrealistically. */
function record(r: () => number, i: number): Record<string, unknown> {
  const pick = (): string => WORDS[Math.floor(r() * WORDS.length)];
  return {
    id: 100000 + Math.floor(r() * 900000),
    sku: `SKU-${Math.floor(r() * 1e6).toString(36).toUpperCase()}`,
    name: `${pick()} ${pick()} ${i}`,
    quantity: 1 + Math.floor(r() * 9),
    price: Math.round(r() * 100000) / 100,
    tags: [pick(), pick()],
    in_stock: r() > 0.3,
    updated_at: new Date(1767225600000 + Math.floor(r() * 1e9)).toISOString(),
  };
}

/**
 * A JSON document of exactly `bytes` bytes: an object with a few fields, an `items` array
 * of records, and a `note` string padding it to size. `password` is there for the body mask.
 */
export function jsonBody(bytes: number, seed: number): Uint8Array {
  const r = rng(seed);
  const doc: Record<string, unknown> = {
    order_id: `ord_${Math.floor(r() * 1e9)}`,
    customer: { id: `cus_${Math.floor(r() * 1e6)}`, email: "jane.doe@example.com", password: "hunter2" },
    currency: "EUR",
    items: [] as unknown[],
    note: "",
  };
  const items = doc.items as unknown[];
  let i = 0;
  while (enc.encode(JSON.stringify(doc)).length + 260 < bytes) items.push(record(r, i++));
  const base = enc.encode(JSON.stringify(doc)).length;
  if (base > bytes) throw new Error(`jsonBody: cannot fit ${bytes} bytes`);
  doc.note = "x".repeat(bytes - base);
  const out = enc.encode(JSON.stringify(doc));
  if (out.length !== bytes) throw new Error(`jsonBody: built ${out.length} bytes, wanted ${bytes}`);
  return out;
}

/** A JSON array of records whose gzip encoding is about `gzBytes` bytes. */
export function gzipJsonBody(gzBytes: number, seed: number): { gz: Uint8Array; raw: number } {
  const r = rng(seed);
  const items: unknown[] = [];
  let raw = enc.encode("[]");
  let gz = gzipSync(raw);
  while (gz.length < gzBytes) {
    for (let k = 0; k < 8; k++) items.push(record(r, items.length));
    raw = enc.encode(JSON.stringify(items));
    gz = gzipSync(raw);
  }
  return { gz: new Uint8Array(gz), raw: raw.length };
}

/** The 20 request headers of the reference request (Content-Length included). */
export function referenceHeaders(i: number, body: Uint8Array, withJwt: boolean): Pairs {
  const auth: Pairs = withJwt ? [["Authorization", `Bearer ${jwt(`user-${i % 1000}`, `org-${i % 37}`)}`]] : [["X-Debug", "0"]];
  return [
    ["Host", "api.example.com"],
    ["User-Agent", "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0 Safari/537.36"],
    ["Accept", "application/json, text/plain, */*"],
    ["Accept-Encoding", "gzip, deflate, br"],
    ["Accept-Language", "en-US,en;q=0.9,de;q=0.8"],
    ...auth,
    ["Content-Type", "application/json; charset=utf-8"],
    ["Content-Length", String(body.length)],
    ["X-Api-Key", "sk_live_51HxY2eKq8s7d6f5g4h3j2k1"],
    ["X-Forwarded-For", `203.0.113.${i % 250}, 10.0.0.7`],
    ["X-Forwarded-Proto", "https"],
    ["X-Request-Id", `req-${(i * 2654435761) >>> 0}`],
    ["Cache-Control", "no-cache"],
    ["Origin", "https://app.example.com"],
    ["Referer", "https://app.example.com/orders"],
    ["Cookie", "session=3f2a9c1e7b; theme=dark; _ga=GA1.2.123456789.1767225600"],
    ["X-Client-Version", "4.12.0"],
    ["X-Correlation-Id", `corr-${i}`],
    ["Traceparent", "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"],
    ["Connection", "keep-alive"],
  ];
}

export const REQUEST_BODY = jsonBody(1024, 1);

export function referenceRequest(i: number, withJwt = true): ProxyRequest {
  return {
    method: "POST",
    path: `/v1/orders/${1000 + (i % 9000)}?token=s3cr3t-${i % 97}&expand=items&page=2`,
    headers: referenceHeaders(i, REQUEST_BODY, withJwt),
    body: REQUEST_BODY,
    remoteAddr: "198.51.100.23",
  };
}

/**
 * Upstream headers; with the ones the proxy adds (Content-Type, Content-Length,
 * Connection, X-Kong-*-Latency, Via, Server, Date) the filter sees 11.
 */
function upstreamHeaders(extra: Pairs = []): Pairs {
  return [
    ["Content-Type", "application/json"],
    ["Cache-Control", "private, max-age=0"],
    ["ETag", 'W/"5e1-9a8b7c6d"'],
    ["X-RateLimit-Remaining", "4999"],
    ...extra,
  ];
}

export function jsonResponse(body: Uint8Array): UpstreamResponse {
  return { status: 200, headers: upstreamHeaders(), body };
}

export function gzipResponse(gz: Uint8Array): UpstreamResponse {
  return { status: 200, headers: upstreamHeaders([["Content-Encoding", "gzip"]]), body: gz };
}

/** The reference config: 3 masks (request header, body, query) and the JWT's org claim. */
export function benchConfig(endpoint: string, extra: Record<string, unknown> = {}): string {
  return JSON.stringify({
    application_id: "bench-app",
    api_endpoint: endpoint,
    request_header_masks: ["x-api-key"],
    request_body_masks: ["password"],
    request_query_masks: ["token"],
    authorization_company_id_field: "org",
    ...extra,
  });
}

/** What Moesif serves for a fresh app (GET /v1/config). */
export const APP_CONFIG = enc.encode(
  JSON.stringify({ sample_rate: 100, user_sample_rate: {}, company_sample_rate: {}, regex_config: [], user_rules: {}, company_rules: {} }),
);

/** 200 varied, realistic requests (paths, methods, users, bodies, statuses) for the compression figure. */
export function variedExchange(i: number): { req: ProxyRequest; res: UpstreamResponse } {
  const r = rng(1000 + i);
  const methods = ["GET", "GET", "GET", "POST", "PUT", "DELETE"];
  const method = methods[Math.floor(r() * methods.length)];
  const resources = ["orders", "customers", "invoices", "products", "carts"];
  const res = resources[Math.floor(r() * resources.length)];
  const reqBody = method === "POST" || method === "PUT" ? jsonBody(200 + Math.floor(r() * 1500), 7 + i) : undefined;
  const respBody = jsonBody(150 + Math.floor(r() * 2500), 9000 + i);
  const headers = referenceHeaders(i * 7919, reqBody ?? new Uint8Array(), r() > 0.2).filter(
    ([k]) => reqBody !== undefined || (k !== "Content-Type" && k !== "Content-Length"),
  );
  const status = r() > 0.9 ? 404 : method === "POST" ? 201 : 200;
  return {
    req: { method, path: `/v2/${res}/${Math.floor(r() * 1e6)}?page=${1 + Math.floor(r() * 9)}`, headers, body: reqBody, remoteAddr: `198.51.100.${i % 250}` },
    res: { status, headers: upstreamHeaders(), body: respBody },
  };
}
