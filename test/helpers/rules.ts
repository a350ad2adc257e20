// Harness for the sampling and governance end-to-end suite: the compiled filter on the test
// gateway fetching /v1/config and /v1/rules from the local collector over real HTTP on
// 127.0.0.1. On the emulator (virtual clock) its HTTP client talks to the collector; on the
// engine (real time) the filter talks to the gateway's own collector, which forwards here.
// A path can be answered by the test instead (malformed documents, failures) while everything
// else still goes to the collector.

import type { DispatchRequest, DispatchResponse, ProxyRequest, ProxyResult, UpstreamResponse } from "../../emulator/index.ts";
import { until } from "../../engine/nginx.ts";
import { BUILTIN_CONFIG, Collector } from "../../local/collector.ts";

import { dec, enc, filterModule } from "./filter.ts";
import { ON_ENGINE, openGateway, type Gateway } from "./gateway.ts";

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
  /** Virtual ms to advance after start so the filter fetches; 0 = none. Default FETCH_MS.
   *  On the engine the filter fetches at once: open() waits for both documents unless 0. */
  fetchMs?: number;
  /** Canned answers in place from the start (before the first fetch). */
  overrides?: Record<string, Override>;
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
  /** Config/rules paths answered through dispatch() (every fetch on the engine). */
  private readonly answered = new Set<string>();
  private seq = 0;

  private constructor(readonly host: Gateway, readonly collector: Collector) {}

  static async open(opts: ScenarioOptions = {}): Promise<Scenario> {
    const collector = new Collector({ port: 0, quiet: true });
    await collector.start();
    collector.setConfig({ ...BASE_APP_CONFIG, ...(opts.config ?? {}) });
    collector.setRules(opts.rules ?? []);
    const config = JSON.stringify({
      application_id: "gov-test",
      api_endpoint: collector.url,
      user_id_header: "x-user-id",
      company_id_header: "x-company-id",
      // Summary lines tell the engine's flush() when the queue is empty.
      log_summary_interval_ms: 250,
      ...(opts.filter ?? {}),
    });
    // The engine's filter fetches while the gateway starts: its handler waits for the scenario.
    let ready: (s: Scenario) => void = () => undefined;
    const scenario = new Promise<Scenario>((resolve) => (ready = resolve));
    let host: Gateway;
    try {
      host = await openGateway(config, { workers: opts.workers ?? 1, clock: "virtual" }, ON_ENGINE ? async (req) => (await scenario).dispatch(req) : null);
    } catch (e) {
      await collector.stop();
      throw e;
    }
    const s = new Scenario(host, collector);
    for (const [path, o] of Object.entries(opts.overrides ?? {})) s.override(path, o);
    ready(s);
    const fetchMs = opts.fetchMs ?? FETCH_MS;
    if (fetchMs > 0) await s.fetched(fetchMs);
    return s;
  }

  /** Emulator: advances `virtualMs`. Engine: waits until the filter got both documents (the
   *  first fetches, or the ones after forget()). */
  async fetched(virtualMs = FETCH_MS): Promise<void> {
    if (!ON_ENGINE) {
      await this.host.advance(virtualMs);
      return;
    }
    await until("the config and rules fetches", () => this.answered.has("/v1/config") && this.answered.has("/v1/rules"), 20_000);
    await this.host.advance(100); // the filter takes in the answers after they left here
  }

  /** Answers `path` (e.g. "/v1/rules") with `o` until cleared with null. */
  override(path: string, o: Override | null): void {
    if (o === null) this.overrides.delete(path);
    else this.overrides.set(path, o);
    // On the emulator without overrides, its own HTTP client talks to the collector.
    if (!ON_ENGINE) this.host.dispatchHandler = this.overrides.size > 0 ? (req) => this.dispatch(req) : null;
  }

  // Overridden paths are answered here; the rest is forwarded to the collector.
  private async dispatch(req: DispatchRequest): Promise<DispatchResponse> {
    const path = req.path.split("?")[0];
    const o = this.overrides.get(path);
    let res: DispatchResponse;
    if (o) res = { status: o.status, headers: o.headers ?? [["Content-Type", "application/json"]], body: typeof o.body === "string" ? enc(o.body) : o.body };
    else {
      const headers = new Headers();
      for (const [k, v] of req.headers) headers.append(k, v);
      const r = await fetch(`${this.collector.url}${req.path}`, {
        method: req.method,
        headers,
        body: req.method === "GET" ? undefined : req.body.slice(),
        signal: AbortSignal.timeout(5000),
      });
      const out: Array<[string, string]> = [];
      // The body is handed over whole: framing headers are the gateway's business.
      r.headers.forEach((v, k) => {
        if (!["connection", "keep-alive", "transfer-encoding", "content-length"].includes(k)) out.push([k, v]);
      });
      res = { status: r.status, headers: out, body: new Uint8Array(await r.arrayBuffer()) };
    }
    if (req.method === "GET") this.answered.add(path);
    return res;
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

  /**
   * Lets queued events reach the collector; returns all events so far. Emulator: advances `ms`
   * of virtual time. Engine: polls `done` when given, else until a summary line logged after
   * this call says the queue is empty; then waits a little more, so extra events show too.
   */
  async flush(ms = FLUSH_MS, done?: () => boolean): Promise<Event[]> {
    if (!ON_ENGINE) {
      for (let t = 0; t < ms; t += 500) await this.host.advance(Math.min(500, ms - t));
      return this.collector.events as Event[];
    }
    if (done) await until("events at the collector", done, 20_000).catch(() => undefined);
    else {
      const before = this.summaries().length;
      // Two lines: the first may have been on its way when the last request finished.
      await until("an empty queue", () => {
        const lines = this.summaries();
        return lines.length >= before + 2 && / backlog 0 events/.test(lines[lines.length - 1]);
      }, 30_000).catch(() => undefined);
    }
    await this.host.advance(300);
    return this.collector.events as Event[];
  }

  /** Engine: polls `check` in real time. Emulator: advances `virtualMs` (in steps of `stepMs`,
   *  stopping early once `check` holds, when given), then returns `check()`. */
  async eventually(virtualMs: number, check: () => boolean | Promise<boolean>, stepMs?: number, realTimeoutMs = 20_000): Promise<boolean> {
    if (!ON_ENGINE) {
      if (stepMs === undefined) await this.flush(virtualMs);
      else for (let t = 0; t < virtualMs && !(await check()); t += stepMs) await this.host.advance(stepMs);
      return check();
    }
    // Checks may send requests: every 100 ms is enough.
    return until("a condition", check, realTimeoutMs, 100).then(() => true, () => false);
  }

  private summaries(): string[] {
    return this.host.logs.filter((l) => l.message.startsWith("moesif: summary:")).map((l) => l.message);
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

  /** Worker exits, and traps on the engine. */
  crashes(): number {
    const traps = "traps" in this.host ? (this.host.traps as string[]).length : 0;
    return this.host.crashes.length + traps;
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
