// Shared helpers for the end-to-end suites: the compiled filter in the host emulator, with
// dispatches answered in-process and every event batch kept (raw text and parsed).

import { existsSync, readFileSync } from "node:fs";
import { inflateSync } from "node:zlib";
import {
  KongWasmHost,
  type DispatchHandler,
  type DispatchRequest,
  type DispatchResponse,
  type HostOptions,
  type ProxyRequest,
  type ProxyResult,
  type Upstream,
  type UpstreamResponse,
} from "../../emulator/index.ts";
import { openGateway, type Gateway, type GatewayOptions } from "./gateway.ts";

export const enc = (s: string): Uint8Array => new TextEncoder().encode(s);
export const dec = (b: Uint8Array): string => new TextDecoder().decode(b);

const RELEASE_WASM = new URL("../../build/moesif.wasm", import.meta.url);
let compiled: WebAssembly.Module | null = null;

/** The release build of the filter, built first when build/moesif.wasm is missing. */
export async function filterModule(): Promise<WebAssembly.Module> {
  if (compiled) return compiled;
  if (!existsSync(RELEASE_WASM)) {
    // Loaded only when needed: the compiler takes many seconds to import.
    const { buildFilter } = await import("../../scripts/build.ts");
    await buildFilter(["release"]);
  }
  compiled = new WebAssembly.Module(new Uint8Array(readFileSync(RELEASE_WASM)));
  return compiled;
}

export type FilterOptions = Omit<HostOptions, "module" | "config">;

/** One event as the collector received it: its exact JSON text and the parsed value. */
export interface CapturedEvent {
  raw: string;
  // Events are open-ended JSON documents; tests walk them field by field.
  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  json: any;
}

export interface FilterHarness<G extends Gateway = KongWasmHost> {
  host: G;
  /** Every event POST the filter made, in arrival order. */
  batches: DispatchRequest[];
  /** The (inflated when compressed) text of each batch body. */
  batchTexts: string[];
  events: CapturedEvent[];
  /** Other dispatches (config, rules), answered with empty documents. */
  otherDispatches: DispatchRequest[];
  /** Batch bodies that were not a JSON array of objects (accepted, so nothing is retried). */
  invalidBatches: Array<{ text: string; error: string }>;
  /** Filter log lines at warn level or above. */
  problems(): string[];
}

/** Splits a JSON array of objects/arrays into the exact texts of its top-level elements. */
export function splitArray(text: string): string[] {
  const out: string[] = [];
  let depth = 0;
  let inString = false;
  let start = -1;
  for (let i = 0; i < text.length; i++) {
    const c = text[i];
    if (inString) {
      if (c === "\\") i++;
      else if (c === '"') inString = false;
    } else if (c === '"') {
      inString = true;
    } else if (c === "{" || c === "[") {
      if (depth === 1) start = i;
      depth++;
    } else if (c === "}" || c === "]") {
      depth--;
      if (depth === 1) out.push(text.slice(start, i + 1));
    }
  }
  return out;
}

function batchText(req: DispatchRequest): string {
  const ce = req.headers.find(([k]) => k.toLowerCase() === "content-encoding")?.[1];
  const body = ce && /deflate/i.test(ce) ? new Uint8Array(inflateSync(req.body)) : req.body;
  return dec(body);
}

/** A harness around `host` whose dispatch handler keeps every batch; batches are answered 201. */
function harness<G extends Gateway>(): { h: FilterHarness<G>; handler: DispatchHandler } {
  const h: FilterHarness<G> = {
    host: null as unknown as G, // set by the caller once the gateway exists

    batches: [],
    batchTexts: [],
    events: [],
    otherDispatches: [],
    invalidBatches: [],
    problems: () =>
      h.host.logs
        .filter((l) => l.source === "filter" && (l.level === "warn" || l.level === "error" || l.level === "critical"))
        .map((l) => `[${l.level}] ${l.message}`),
  };
  const handler = (req: DispatchRequest): DispatchResponse => {
    if (req.method === "POST" && req.path.endsWith("/v1/events/batch")) {
      const text = batchText(req);
      h.batches.push(req);
      h.batchTexts.push(text);
      let parsed: unknown;
      try {
        parsed = JSON.parse(text);
      } catch (e) {
        h.invalidBatches.push({ text, error: (e as Error).message });
        return { status: 201, headers: [], body: new Uint8Array() };
      }
      const raws = splitArray(text);
      if (!Array.isArray(parsed) || raws.length !== parsed.length || parsed.some((x) => x === null || typeof x !== "object")) {
        h.invalidBatches.push({ text, error: "not an array of objects" });
      } else {
        raws.forEach((raw, i) => h.events.push({ raw, json: parsed[i] }));
      }
      return { status: 201, headers: [], body: new Uint8Array() };
    }
    h.otherDispatches.push(req);
    return { status: 200, headers: [["Content-Type", "application/json"]], body: enc(req.path.includes("rules") ? "[]" : "{}") };
  };
  return { h, handler };
}

/** Starts the filter with `config` (an object is JSON-encoded) in the emulator. */
export async function startFilter(config: object | string, opts: FilterOptions = {}): Promise<FilterHarness> {
  const host = new KongWasmHost({
    module: await filterModule(),
    config: typeof config === "string" ? config : JSON.stringify(config),
    ...opts,
  });
  const { h, handler } = harness<KongWasmHost>();
  h.host = host;
  host.dispatchHandler = handler;
  host.start();
  return h;
}

/** Starts the filter on this test process's gateway (emulator, or the engine with TEST_GATEWAY=engine). */
export async function startOnGateway(config: object | string, opts: GatewayOptions = {}): Promise<FilterHarness<Gateway>> {
  const { h, handler } = harness<Gateway>();
  // The handler is in place before the gateway starts: the filter fetches its config at once.
  h.host = await openGateway(typeof config === "string" ? config : JSON.stringify(config), opts, handler);
  return h;
}

/** Time after which every queued event has been posted (flush interval plus margin). */
export const FLUSH_MS = 2500;

export interface OneEvent {
  event: CapturedEvent["json"];
  raw: string;
  result: ProxyResult;
  harness: FilterHarness;
}

export const DEFAULT_CONFIG = { application_id: "app-id-1", api_endpoint: "http://127.0.0.1:9" };

/**
 * Runs one request through a fresh filter, flushes, and returns its single event. `config`
 * is merged over DEFAULT_CONFIG. Fails when the filter logged an error or sent ≠ 1 event.
 */
export async function oneEvent(
  config: object,
  request: ProxyRequest,
  upstream: Upstream | UpstreamResponse,
  opts: FilterOptions = {},
): Promise<OneEvent> {
  const harness = await startFilter({ ...DEFAULT_CONFIG, ...config }, opts);
  try {
    const up: Upstream = typeof upstream === "function" || "url" in upstream ? upstream : () => upstream;
    const result = await harness.host.request(request, up);
    if (result.trapped || result.crashed) throw new Error(`request trapped: ${JSON.stringify(harness.host.logs)}`);
    await harness.host.advance(FLUSH_MS);
    const errors = harness.problems().filter((l) => l.startsWith("[error]") || l.startsWith("[critical]"));
    if (errors.length) throw new Error(`filter errors: ${errors.join("\n")}`);
    if (harness.invalidBatches.length) throw new Error(`invalid batch: ${harness.invalidBatches[0].error}`);
    if (harness.events.length !== 1) throw new Error(`expected 1 event, got ${harness.events.length}`);
    return { event: harness.events[0].json, raw: harness.events[0].raw, result, harness };
  } finally {
    await harness.host.stop();
  }
}

/** A request with a Host header and optional body. */
export function req(
  method: string,
  path: string,
  headers: Array<[string, string]> = [],
  body?: Uint8Array | string,
): ProxyRequest {
  const hasHost = headers.some(([k]) => k.toLowerCase() === "host");
  return {
    method,
    path,
    headers: hasHost ? headers : [["Host", "api.example.com"], ...headers],
    body: typeof body === "string" ? enc(body) : body,
  };
}

/** An upstream response. */
export function resp(
  status: number,
  headers: Array<[string, string]> = [],
  body?: Uint8Array | string,
): UpstreamResponse {
  return { status, headers, body: typeof body === "string" ? enc(body) : body };
}

/** A header value (case-insensitive name) from a result's header list. */
export function header(pairs: Array<[string, string]>, name: string): string | undefined {
  return pairs.find(([k]) => k.toLowerCase() === name.toLowerCase())?.[1];
}
