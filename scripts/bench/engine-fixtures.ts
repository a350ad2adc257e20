// What the load generator sends and the upstream answers in `npm run bench:engine`: the SPEC
// §11 reference request as raw HTTP/1.1 (a pool of varied users, paths and ids), the 1 KB and
// 100 KB JSON responses of scripts/bench/fixtures.ts, and a 10 KB gzip JSON response that
// inflates to about 22 KB (records with random tokens, so it compresses as real data does).
import { gzipSync } from "node:zlib";
import { jsonBody, referenceRequest, rng } from "./fixtures.ts";

/** `count` reference requests as raw HTTP/1.1 (headers as in fixtures.ts, Content-Length included). */
export function rawReferenceRequests(count: number): string[] {
  const out: string[] = [];
  for (let i = 0; i < count; i++) {
    const r = referenceRequest(i, true);
    const head = [`${r.method} ${r.path} HTTP/1.1`, ...r.headers.map(([k, v]) => `${k}: ${v}`)].join("\r\n");
    out.push(`${head}\r\n\r\n${Buffer.from(r.body!).toString("latin1")}`);
  }
  return out;
}

const TOKEN = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

/** A JSON array of records whose gzip encoding is just over `gzBytes` (10 KB → about 22 KB inflated). */
export function gzipJson(gzBytes: number, seed: number): { gz: Buffer; raw: number } {
  const r = rng(seed);
  const tok = (n: number): string => {
    let s = "";
    for (let i = 0; i < n; i++) s += TOKEN[Math.floor(r() * 64)];
    return s;
  };
  const items: unknown[] = [];
  for (;;) {
    const i = items.length;
    items.push({ id: 100000 + i, sku: `SKU-${tok(8)}`, key: tok(56), qty: 1 + Math.floor(r() * 9), price: Math.round(r() * 1e5) / 100, status: ["paid", "open", "void"][Math.floor(r() * 3)] });
    const raw = Buffer.from(JSON.stringify(items));
    const gz = gzipSync(raw);
    if (gz.length >= gzBytes) return { gz, raw: raw.length };
  }
}

export function responseBodies(): { ref: Buffer; big: Buffer; gz: Buffer; gzInflated: number } {
  const g = gzipJson(10 * 1024, 4);
  return { ref: Buffer.from(jsonBody(1024, 2)), big: Buffer.from(jsonBody(100_000, 3)), gz: g.gz, gzInflated: g.raw };
}
