// Harness for the sampling and governance end-to-end suite: the compiled filter in the host
// emulator (virtual clock) fetching /v1/config and /v1/rules from the local collector over
// real HTTP on 127.0.0.1. A path can be answered by the test instead (malformed documents,
// failures) while everything else still goes to the collector.

import {
  KongWasmHost,
  type DispatchRequest,
  type DispatchResponse,
  type ProxyRequest,
  type ProxyResult,
  type UpstreamResponse,
} from "../../emulator/index.ts";
import { BUILTIN_CONFIG, Collector } from "../../local/collector.ts";

import { dec, enc, filterModule } from "./filter.ts";

export { dec, enc, filterModule };

/** What the collector serves at /v1/config for a fresh app; tests override fields. */
export const BASE_APP_CONFIG = BUILTIN_CONFIG;

/** Enough virtual time for the first tick (100 ms) to fetch both documents and settle. */
export const FETCH_MS = 300;
/** Enough virtual time for every queued event to be posted (1 s flush interval plus margin). */
export const FLUSH_MS = 2500;

export interface ScenarioOptions {
  /** /v1/config, merged over BASE_APP_CONFIG; omitted = BASE_APP_CONFIG. */
  config?: Record<string, unknown>;
  /** /v1/rules; omitted = []. */
  rules?: unknown[];
  /** Filter config fields merged over the defaults (application id, endpoint, id headers). */
  filter?: Record<string, unknown>;
  workers?: number;
  /** Virtual ms to advance after start so the filter fetches; 0 = none. Default FETCH_MS. */
  fetchMs?: number;
}

/** A canned answer for /v1/config or /v1/rules instead of the collector's. */
export type Override = { status: number; body: string | Uint8Array; headers?: Array<[string, string]> };

// Events are open-ended JSON documents; tests walk them field by field.
// eslint-disable-next-line @typescript-eslint/no-explicit-any
export type Event = any;

export class Scenario {
  /** Requests the upstream received, in order. */
  readonly upstreamSeen: ProxyRequest[] = [];
  private readonly overrides = new Map<string, Override>();
  private seq = 0;

  private constructor(readonly host: KongWasmHost, readonly collector: Collector) {}

  static async open(opts: ScenarioOptions = {}): Promise<Scenario> {
    const collector = new Collector({ port: 0, quiet: true });
    await collector.start();
    collector.setConfig({ ...BASE_APP_CONFIG, ...(opts.config ?? {}) });
    collector.setRules(opts.rules ?? []);
    const host = new KongWasmHost({
      module: await filterModule(),
      config: JSON.stringify({
        application_id: "gov-test",
        api_endpoint: collector.url,
        user_id_header: "x-user-id",
        company_id_header: "x-company-id",
        ...(opts.filter ?? {}),
      }),
      workers: opts.workers ?? 1,
      clock: "virtual",
    });
    const s = new Scenario(host, collector);
    host.start();
    if ((opts.fetchMs ?? FETCH_MS) > 0) await host.advance(opts.fetchMs ?? FETCH_MS);
    return s;
  }

  /** Answers `path` (e.g. "/v1/rules") with `o` until cleared with null. */
  override(path: string, o: Override | null): void {
    if (o === null) this.overrides.delete(path);
    else this.overrides.set(path, o);
    // Without overrides the emulator's own HTTP client talks to the collector.
    this.host.dispatchHandler = this.overrides.size > 0 ? (req) => this.dispatch(req) : null;
  }

  // Overridden paths are answered here; the rest is forwarded to the collector.
  private async dispatch(req: DispatchRequest): Promise<DispatchResponse> {
    const o = this.overrides.get(req.path);
    if (o) return { status: o.status, headers: o.headers ?? [["Content-Type", "application/json"]], body: typeof o.body === "string" ? enc(o.body) : o.body };
    const headers = new Headers();
    for (const [k, v] of req.headers) headers.append(k, v);
    const r = await fetch(`http://${req.target}${req.path}`, {
      method: req.method,
      headers,
      body: req.method === "GET" ? undefined : req.body.slice(),
      signal: AbortSignal.timeout(5000),
    });
    const out: Array<[string, string]> = [];
    r.headers.forEach((v, k) => out.push([k, v]));
    return { status: r.status, headers: out, body: new Uint8Array(await r.arrayBuffer()) };
  }

  /**
   * Sends one request through the filter; the upstream answers 200 {"ok":true}. Each request
   * gets a unique X-Moesif-Transaction-Id (returned as `id`) so its event can be found.
   */
  async send(r: Omit<Partial<ProxyRequest>, "body"> & { body?: Uint8Array | string }, up?: UpstreamResponse): Promise<ProxyResult & { id: string }> {
    const id = `tx-${++this.seq}`;
    const headers: Array<[string, string]> = [["Host", "api.example.com"], ...(r.headers ?? []), ["X-Moesif-Transaction-Id", id]];
    const body = typeof r.body === "string" ? enc(r.body) : r.body;
    if (body && !headers.some(([k]) => k.toLowerCase() === "content-length")) headers.push(["Content-Length", String(body.length)]);
    const result = await this.host.request({ method: r.method ?? "GET", path: r.path ?? "/", headers, body, remoteAddr: r.remoteAddr }, (seen) => {
      this.upstreamSeen.push(seen);
      return up ?? { status: 200, headers: [["Content-Type", "application/json"]], body: enc('{"ok":true}') };
    });
    return { ...result, id };
  }

  /** Advances virtual time so queued events reach the collector; returns all events so far. */
  async flush(ms = FLUSH_MS): Promise<Event[]> {
    for (let t = 0; t < ms; t += 500) await this.host.advance(Math.min(500, ms - t));
    return this.collector.events as Event[];
  }

  /** The events with transaction id `id` (normally exactly one, or none when sampled out). */
  eventsFor(id: string): Event[] {
    return (this.collector.events as Event[]).filter((e) => e.transaction_id === id);
  }

  /** Filter log lines at warn level or above. */
  problems(): string[] {
    return this.host.logs
      .filter((l) => l.source === "filter" && (l.level === "warn" || l.level === "error" || l.level === "critical"))
      .map((l) => `[${l.level}] ${l.message}`);
  }

  crashes(): number {
    return this.host.crashes.length;
  }

  async close(): Promise<void> {
    await this.host.stop();
    await this.collector.stop();
  }
}

/** A header value (case-insensitive name) from a list of pairs. */
export function header(pairs: Array<[string, string]>, name: string): string | undefined {
  return pairs.find(([k]) => k.toLowerCase() === name.toLowerCase())?.[1];
}

/** A regex_config of one AND-group. */
export function when(...conditions: Array<[string, string]>): Array<{ conditions: Array<{ path: string; value: string }> }> {
  return [{ conditions: conditions.map(([path, value]) => ({ path, value })) }];
}
