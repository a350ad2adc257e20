// Differential test (issue 11): one deterministic corpus (test/fixtures/differential-corpus.ts)
// through the emulator and through Kong's engine, same filter config, same collector documents;
// the events are compared field by field (matched by transaction id), and so are what the client
// received and what the upstream received. Only the values listed in LEGITIMATE may differ.
// Skipped with one line when KONG_WASM_ENGINE is not set.
import { test } from "node:test";
import assert from "node:assert/strict";
import type { DispatchRequest, DispatchResponse, ProxyResult } from "../../emulator/index.ts";
import { until } from "../../engine/nginx.ts";
import { engineOnly, openGateway, type Gateway, type GatewayKind } from "../helpers/gateway.ts";
import { dec, enc, header, splitArray } from "../helpers/filter.ts";
import {
  APP_CONFIG,
  CLIENT_BODY_BUFFER_SIZE,
  FILTER_CONFIG,
  RULES,
  differentialCorpus,
  type DiffCase,
} from "../fixtures/differential-corpus.ts";

// eslint-disable-next-line @typescript-eslint/no-explicit-any
type Json = any;
type Pairs = Array<[string, string]>;

/**
 * What the two gateways may legitimately disagree on, each with why. Anything else is a
 * difference to fix (in the filter or in the emulator).
 */
const LEGITIMATE = {
  // Wall-clock values: the emulator's clock is virtual.
  eventPaths: ["request.time", "response.time"],
  // Kong's Lua header filter adds these; the engine gateway is nginx + ngx_wasm_module without
  // Kong's Lua layer, the emulator models Kong (kong-host.md §6: visible to the filter).
  kongOnlyResponseHeaders: ["x-kong-upstream-latency", "x-kong-proxy-latency", "via"],
  // Present on both; their values are the clock (Date) and Kong's Lua layer (`Server: kong/3.9.0`)
  // versus bare nginx (`Server: nginx/1.22.1`).
  responseHeaderValues: ["date", "server"],
  // The upstream connection is nginx's proxy module (HTTP/1.0, `Connection: close`, chunked
  // request bodies re-framed with Content-Length); the emulator hands the upstream function the
  // request as the filter left it. Bodies are compared byte for byte instead.
  upstreamFraming: ["connection", "content-length", "transfer-encoding"],
  // nginx relays the upstream's status line; the emulator's function upstreams have no reason
  // phrase (the engine's loopback upstream is Node's, e.g. "Service Unavailable" for 503). Local
  // responses and error pages are nginx's own and are compared.
  proxiedReason: true,
  // Without an incoming X-Moesif-Transaction-Id each gateway draws a random UUIDv4.
  generatedTransactionId: ["transaction_id", "request.headers.x-moesif-transaction-id", "response.headers.x-moesif-transaction-id"],
};

interface Run {
  results: Map<number, ProxyResult>;
  /** Events by transaction id (several = a duplicate, which is itself a difference). */
  events: Map<string, Json[]>;
  eventCount: number;
  problems: string[];
}

async function runCorpus(on: GatewayKind, corpus: DiffCase[]): Promise<Run> {
  const events = new Map<string, Json[]>();
  let eventCount = 0;
  let fetched = 0;
  const handler = (req: DispatchRequest): DispatchResponse => {
    const json = (v: unknown): DispatchResponse => ({ status: 200, headers: [["Content-Type", "application/json"]], body: enc(JSON.stringify(v)) });
    if (req.path.endsWith("/v1/config")) {
      fetched++;
      return json(APP_CONFIG);
    }
    if (req.path.endsWith("/v1/rules")) {
      fetched++;
      return json(RULES);
    }
    for (const raw of splitArray(dec(req.body))) {
      const e = JSON.parse(raw);
      const list = events.get(e.transaction_id) ?? [];
      list.push(e);
      events.set(e.transaction_id, list);
      eventCount++;
    }
    return { status: 201, headers: [], body: new Uint8Array() };
  };
  const gw: Gateway = await openGateway(JSON.stringify(FILTER_CONFIG), { on, workers: 1, clientBodyBufferSize: CLIENT_BODY_BUFFER_SIZE }, handler);
  try {
    // Config and rules first, so that every request sees the same governance.
    if (on === "emulator") await gw.advance(300);
    else {
      await until("the config and rules fetch", () => fetched >= 2, 20_000);
      await gw.advance(300);
    }
    const results = new Map<number, ProxyResult>();
    for (const c of corpus) results.set(c.n, await gw.request(c.request, () => c.response));
    await flushed(on, gw, () => eventCount);
    return { results, events, eventCount, problems: problemsOf(gw) };
  } finally {
    await gw.stop();
  }
}

/** Waits until the event count stops growing (the emulator: virtual time; the engine: real time). */
async function flushed(on: GatewayKind, gw: Gateway, count: () => number): Promise<void> {
  if (on === "emulator") {
    for (let i = 0; i < 10; i++) await gw.advance(500);
    return;
  }
  let last = -1;
  let stableSince = Date.now();
  await until(
    "the event count to settle",
    () => {
      if (count() !== last) {
        last = count();
        stableSince = Date.now();
      }
      return count() > 0 && Date.now() - stableSince > 1500;
    },
    60_000,
  );
}

function problemsOf(gw: Gateway): string[] {
  return gw.logs
    .filter((l) => l.source === "filter" && (l.level === "warn" || l.level === "error" || l.level === "critical"))
    .map((l) => `[${l.level}] ${l.message}`);
}

/** Field-by-field differences of two JSON values (key order of objects included). */
function jsonDiff(a: Json, b: Json, path: string, out: string[], skip: (p: string) => boolean): void {
  if (skip(path)) return;
  if (a === null || b === null || typeof a !== "object" || typeof b !== "object" || Array.isArray(a) !== Array.isArray(b)) {
    if (!Object.is(a, b)) out.push(`${path}: emulator ${short(a)} ≠ engine ${short(b)}`);
    return;
  }
  const ka = Object.keys(a).filter((k) => !skip(`${path}.${k}`));
  const kb = Object.keys(b).filter((k) => !skip(`${path}.${k}`));
  for (const k of ka) if (!(k in b)) out.push(`${path}.${k}: only in emulator (${short(a[k])})`);
  for (const k of kb) if (!(k in a)) out.push(`${path}.${k}: only in engine (${short(b[k])})`);
  const common = ka.filter((k) => k in b);
  if (!Array.isArray(a) && common.join() !== kb.filter((k) => k in a).join()) out.push(`${path}: key order emulator [${common}] ≠ engine [${kb.filter((k) => k in a)}]`);
  for (const k of common) jsonDiff(a[k], b[k], `${path}.${k}`, out, skip);
}

const short = (v: unknown): string => {
  const s = JSON.stringify(v) ?? String(v);
  return s.length > 120 ? `${s.slice(0, 117)}…` : s;
};

const lowerPairs = (ps: Pairs): Pairs => ps.map(([k, v]) => [k.toLowerCase(), v]);
const sortPairs = (ps: Pairs): Pairs => [...ps].sort((x, y) => (x[0] < y[0] ? -1 : x[0] > y[0] ? 1 : 0));

function clientHeaders(ps: Pairs): Pairs {
  return sortPairs(
    lowerPairs(ps)
      .filter(([k]) => !LEGITIMATE.kongOnlyResponseHeaders.includes(k))
      .map(([k, v]) => [k, LEGITIMATE.responseHeaderValues.includes(k) ? "(any)" : v]),
  );
}

function upstreamHeaders(ps: Pairs): Pairs {
  const l = lowerPairs(ps).filter(([k]) => !LEGITIMATE.upstreamFraming.includes(k));
  // nginx sends Host first (proxy_set_header); the client's other headers keep their order.
  return [...l.filter(([k]) => k === "host"), ...l.filter(([k]) => k !== "host")];
}

function transactionId(c: DiffCase, r: ProxyResult): string | undefined {
  return c.txid ?? header(r.headers, "x-moesif-transaction-id") ?? (r.upstreamRequest && header(r.upstreamRequest.headers, "x-moesif-transaction-id"));
}

function compareCase(c: DiffCase, emu: Run, eng: Run): string[] {
  const out: string[] = [];
  const a = emu.results.get(c.n)!;
  const b = eng.results.get(c.n)!;
  if (a.status !== b.status) out.push(`client status: emulator ${a.status} ≠ engine ${b.status}`);
  if ((!LEGITIMATE.proxiedReason || !a.upstreamCalled) && (a.reason ?? "") !== b.reason) out.push(`client reason: emulator ${JSON.stringify(a.reason)} ≠ engine ${JSON.stringify(b.reason)}`);
  if (Buffer.compare(Buffer.from(a.body), Buffer.from(b.body)) !== 0) out.push(`client body: emulator ${short(dec(a.body))} ≠ engine ${short(dec(b.body))}`);
  const ha = clientHeaders(a.headers);
  const hb = clientHeaders(b.headers);
  if (JSON.stringify(ha.filter(([k]) => k !== "x-moesif-transaction-id" || c.txid)) !== JSON.stringify(hb.filter(([k]) => k !== "x-moesif-transaction-id" || c.txid))) {
    out.push(`client headers: emulator ${short(ha)} ≠ engine ${short(hb)}`);
  }
  if (a.upstreamCalled !== b.upstreamCalled) out.push(`upstream called: emulator ${a.upstreamCalled} ≠ engine ${b.upstreamCalled}`);
  else if (a.upstreamRequest && b.upstreamRequest) {
    const ua = a.upstreamRequest;
    const ub = b.upstreamRequest;
    if (ua.method !== ub.method || ua.path !== ub.path) out.push(`upstream request line: emulator ${ua.method} ${ua.path} ≠ engine ${ub.method} ${ub.path}`);
    const ba = Buffer.from(ua.body ?? new Uint8Array());
    const bb = Buffer.from(ub.body ?? new Uint8Array());
    if (Buffer.compare(ba, bb) !== 0) out.push(`upstream body: emulator ${ba.length} bytes ≠ engine ${bb.length} bytes`);
    const keepId = ([k]: [string, string]) => k !== "x-moesif-transaction-id" || c.txid !== null;
    const xa = upstreamHeaders(ua.headers).filter(keepId);
    const xb = upstreamHeaders(ub.headers).filter(keepId);
    if (JSON.stringify(xa) !== JSON.stringify(xb)) out.push(`upstream headers: emulator ${short(xa)} ≠ engine ${short(xb)}`);
  }
  const ida = transactionId(c, a);
  const idb = transactionId(c, b);
  const ea = (ida && emu.events.get(ida)) || [];
  const eb = (idb && eng.events.get(idb)) || [];
  if (ea.length !== eb.length) out.push(`events: emulator ${ea.length} ≠ engine ${eb.length}`);
  else if (ea.length === 1) {
    const skip = (p: string): boolean =>
      LEGITIMATE.eventPaths.some((x) => p === `.${x}`) ||
      (c.txid === null && LEGITIMATE.generatedTransactionId.some((x) => p === `.${x}`)) ||
      LEGITIMATE.kongOnlyResponseHeaders.some((h) => p === `.response.headers.${h}`) ||
      LEGITIMATE.responseHeaderValues.some((h) => p === `.response.headers.${h}`);
    jsonDiff(ea[0], eb[0], "", out, skip);
  }
  return out;
}

test("differential: the emulator and the engine agree on every request of the corpus", { skip: engineOnly() }, async () => {
  const corpus = differentialCorpus();
  assert.ok(corpus.length >= 300);
  const eng = await runCorpus("engine", corpus);
  const emu = await runCorpus("emulator", corpus);
  const report: string[] = [];
  for (const c of corpus) {
    const d = compareCase(c, emu, eng);
    if (d.length) report.push(`#${c.n} ${c.kind} ${c.request.method} ${c.request.path}\n    ${d.join("\n    ")}`);
  }
  if (JSON.stringify(emu.problems) !== JSON.stringify(eng.problems)) {
    report.push(`filter warnings/errors:\n    emulator ${short(emu.problems)}\n    engine ${short(eng.problems)}`);
  }
  assert.ok(eng.eventCount > corpus.length / 2, `the engine delivered ${eng.eventCount} events`);
  assert.equal(report.length, 0, `${report.length} differences:\n${report.join("\n")}`);
});
