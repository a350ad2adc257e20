// One filter under test: a single-worker emulator host on the virtual clock whose
// dispatches (event batches, /v1/config, /v1/rules) are answered in-process, plus the
// counters the benchmark reads from host.stats.
import { readFileSync } from "node:fs";
import { inflateSync } from "node:zlib";
import { KongWasmHost, type DispatchRequest, type DispatchResponse, type ProxyRequest, type UpstreamResponse } from "../../emulator/index.ts";
import { APP_CONFIG, KONG_ROUTE } from "./fixtures.ts";

/** The exports a proxied request runs through (HTTP contexts only; the root is created at start). */
export const REQUEST_EXPORTS = [
  "proxy_on_context_create",
  "proxy_on_request_headers",
  "proxy_on_request_body",
  "proxy_on_response_headers",
  "proxy_on_response_body",
  "proxy_on_done",
  "proxy_on_log",
  "proxy_on_delete",
] as const;

/** The delivery side: ticks and the callbacks of their dispatches. */
export const FLUSH_EXPORTS = ["proxy_on_tick", "proxy_on_http_call_response"] as const;

/** Per-request filter time (ns): the total and each request-path export. */
export class Samples {
  readonly total: Float64Array;
  readonly perExport: Float64Array[];

  constructor(n: number) {
    this.total = new Float64Array(n);
    this.perExport = REQUEST_EXPORTS.map(() => new Float64Array(n));
  }
}

export type Snapshot = Record<string, { calls: number; nanos: bigint }>;

const modules = new Map<string, WebAssembly.Module>();

export function loadModule(path: string): WebAssembly.Module {
  let m = modules.get(path);
  if (!m) {
    m = new WebAssembly.Module(new Uint8Array(readFileSync(path)));
    modules.set(path, m);
  }
  return m;
}

/** Default virtual request rate: 100 requests per 100 ms tick, i.e. 1,000 requests/s. */
export const REQUESTS_PER_TICK = 100;
export const TICK_MS = 100;

export class Subject {
  readonly host: KongWasmHost;
  /** Events received in batches, and the batches (raw and inflated sizes). */
  events = 0;
  batches: Array<{ bytes: number; rawBytes: number; encoding: string | null }> = [];
  /** Keep the last batch's inflated text (compression figure). */
  keepText = false;
  lastText = "";
  /** Requests sent so far (request i of the next run is make(sent + i)). */
  sent = 0;

  /** Parse batches to count their events; off for long runs where only the filter matters. */
  parse = true;

  constructor(readonly name: string, wasm: string, config: string) {
    this.host = new KongWasmHost({ module: loadModule(wasm), config, workers: 1, properties: KONG_ROUTE });
    this.host.dispatchHandler = (req) => this.answer(req);
    this.host.start();
  }

  // The handler runs inside the filter's proxy_http_call (and so inside the timed
  // proxy_on_tick): it defers its work past an await so that only the host's own share
  // of a dispatch is counted.
  private async answer(req: DispatchRequest): Promise<DispatchResponse> {
    await undefined;
    if (req.method === "GET" && req.path.endsWith("/v1/config")) return { status: 200, headers: [["Content-Type", "application/json"]], body: APP_CONFIG };
    if (req.method === "GET" && req.path.endsWith("/v1/rules")) return { status: 200, headers: [["Content-Type", "application/json"]], body: new TextEncoder().encode("[]") };
    const encoding = req.headers.find(([k]) => k.toLowerCase() === "content-encoding")?.[1] ?? null;
    if (!this.parse) {
      this.batches.push({ bytes: req.body.length, rawBytes: 0, encoding });
      return { status: 201, headers: [] };
    }
    const raw = encoding ? new Uint8Array(inflateSync(req.body)) : req.body;
    const text = new TextDecoder().decode(raw);
    const events = JSON.parse(text) as unknown[];
    this.events += events.length;
    this.batches.push({ bytes: req.body.length, rawBytes: raw.length, encoding });
    if (this.keepText) this.lastText = text;
    return { status: 201, headers: [["Content-Type", "application/json"]] };
  }

  snapshot(): Snapshot {
    const s: Snapshot = {};
    for (const [k, n] of Object.entries(this.host.stats.nanos)) s[k] = { calls: this.host.stats.calls[k] ?? 0, nanos: n };
    return s;
  }

  /**
   * Sends `count` requests (request i = make(i)), advancing the clock by TICK_MS every
   * `perTick` requests (the virtual request rate). With `samples`, stores each request's
   * filter time (ns) per request-path export from index `offset` on.
   */
  async run(count: number, make: (i: number) => ProxyRequest, response: UpstreamResponse, perTick = REQUESTS_PER_TICK, samples?: Samples, offset = 0): Promise<void> {
    const upstream = (): UpstreamResponse => response;
    const nanos = this.host.stats.nanos;
    const before = new Float64Array(REQUEST_EXPORTS.length);
    for (let i = 0; i < count; i++) {
      if (samples) for (let e = 0; e < REQUEST_EXPORTS.length; e++) before[e] = Number(nanos[REQUEST_EXPORTS[e]]);
      const r = await this.host.request(make(this.sent + i), upstream);
      if (samples) {
        let total = 0;
        for (let e = 0; e < REQUEST_EXPORTS.length; e++) {
          const d = Number(nanos[REQUEST_EXPORTS[e]]) - before[e];
          samples.perExport[e][offset + i] = d;
          total += d;
        }
        samples.total[offset + i] = total;
      }
      if (r.status !== response.status) throw new Error(`${this.name}: request answered ${r.status} (${r.reason ?? ""})`);
      if ((this.sent + i + 1) % perTick === 0) await this.host.advance(TICK_MS);
    }
    this.sent += count;
  }

  /** Advances the clock until `want` events arrived (or `maxMs` virtual ms passed). */
  async drain(want: number, maxMs = 30_000): Promise<boolean> {
    for (let t = 0; t < maxMs && this.events < want; t += TICK_MS) await this.host.advance(TICK_MS);
    return this.events >= want;
  }

  /** Filter log lines at warn level or above (a dropped event would make the numbers lie). */
  problems(): string[] {
    return this.host.logs.filter((l) => l.level === "warn" || l.level === "error" || l.level === "critical").map((l) => l.message);
  }

  async stop(): Promise<void> {
    await this.host.stop();
  }
}

/** Per-export difference of two snapshots. */
export function diff(a: Snapshot, b: Snapshot): Snapshot {
  const out: Snapshot = {};
  for (const k of Object.keys(b)) out[k] = { calls: b[k].calls - (a[k]?.calls ?? 0), nanos: b[k].nanos - (a[k]?.nanos ?? 0n) };
  return out;
}

export function sumNanos(s: Snapshot, keys: readonly string[]): number {
  let t = 0n;
  for (const k of keys) t += s[k]?.nanos ?? 0n;
  return Number(t);
}
