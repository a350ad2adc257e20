// KongWasmHost: a proxy-wasm host that behaves like Kong's Wasm engine (ngx_wasm_module).
// Behaviour sources: /work/shared/reference/kong-host.md and engine-verified.md (wins).

import * as http from "node:http";
import { randomBytes, randomFillSync } from "node:crypto";
import { ENV_FUNCS, WASI_FUNCS, Result, BufferType, MapType, atLeast } from "./abi.js";
import { RealClock, VirtualClock, type Clock, type Timer } from "./clock.js";
import { crc32 } from "./crc32.js";
import { DispatchError, HostTrap, WasiExit, WorkerCrash } from "./errors.js";
import { findHeader, marshalInto, marshalSize, removeHeader, setHeader, unmarshal, writeUtf8, type Pairs } from "./headers.js";
import { SharedKV } from "./kv.js";
import { requestProperty, rootProperty, type PropEnv, type PropRequest } from "./properties.js";
import { encodeModule } from "./wasm-binary.js";
import { sendWire, type WireCall, type WireResult } from "./wire.js";
import type {
  DispatchFailure,
  DispatchHandler,
  DispatchRequest,
  HostOptions,
  KongVersion,
  LogLevel,
  LogLine,
  ProxyRequest,
  ProxyResult,
  Upstream,
  UpstreamResponse,
} from "./types.js";

type Phase =
  | "init"
  | "context_create"
  | "vm_start"
  | "configure"
  | "tick"
  | "request_headers"
  | "request_body"
  | "response_headers"
  | "response_body"
  | "done"
  | "log"
  | "delete"
  | "http_call_response";

const PAUSE = 1;
const MAX_MAP_PAIRS = 100;
/** nginx's client_header_buffer_size: what arrives with the headers is "preread". */
const HEADER_BUFFER = 1024;
/** nginx's large_client_header_buffers size (heads over 1 KiB move there). */
const LARGE_HEADER_BUFFER = 8192;
const enc = new TextEncoder();
const dec = new TextDecoder();
const EMPTY = new Uint8Array(0);

const ON_EXPORTS = [
  "proxy_on_context_create",
  "proxy_on_vm_start",
  "proxy_on_configure",
  "proxy_on_tick",
  "proxy_on_request_headers",
  "proxy_on_request_body",
  "proxy_on_response_headers",
  "proxy_on_response_body",
  "proxy_on_done",
  "proxy_on_log",
  "proxy_on_delete",
  "proxy_on_http_call_response",
] as const;
type OnExport = (typeof ON_EXPORTS)[number];

// nginx 1.22's status lines (ngx_http_status_lines): codes it has no text for get an empty reason.
const REASONS: Record<number, string> = {
  200: "OK",
  201: "Created",
  202: "Accepted",
  204: "No Content",
  206: "Partial Content",
  301: "Moved Permanently",
  302: "Moved Temporarily",
  303: "See Other",
  304: "Not Modified",
  307: "Temporary Redirect",
  308: "Permanent Redirect",
  400: "Bad Request",
  401: "Unauthorized",
  402: "Payment Required",
  403: "Forbidden",
  404: "Not Found",
  405: "Not Allowed",
  406: "Not Acceptable",
  408: "Request Time-out",
  409: "Conflict",
  410: "Gone",
  411: "Length Required",
  412: "Precondition Failed",
  413: "Request Entity Too Large",
  414: "Request-URI Too Large",
  415: "Unsupported Media Type",
  416: "Requested Range Not Satisfiable",
  421: "Misdirected Request",
  429: "Too Many Requests",
  500: "Internal Server Error",
  501: "Not Implemented",
  502: "Bad Gateway",
  503: "Service Temporarily Unavailable",
  504: "Gateway Time-out",
  505: "HTTP Version Not Supported",
  507: "Insufficient Storage",
};

type CallOutcome = { ok: true; value: number } | { ok: false; kind: "trap" | "crash" };

interface Frame {
  phase: Phase;
  ctx: HttpCtx | null;
  call: DispatchCall | null;
}

interface LocalResponse {
  status: number;
  reason: string;
  body: Uint8Array;
  headers: Pairs;
}

/** SDKs join path segments with NULs (and may end with one); the engine reads them as dots. */
function propertyPath(raw: string): string {
  if (raw.indexOf("\0") < 0) return raw;
  return raw.replace(/\0/g, ".").replace(/\.$/, "");
}

/** Bytes of a chunked body on the wire when sent in chunks of CLIENT_CHUNK bytes (what
 *  engine/client.ts and most clients write): size line, data and CRLF per chunk, then `0\r\n\r\n`. */
const CLIENT_CHUNK = 4096;
function chunkedWireBytes(n: number): number {
  let wire = 5;
  for (let i = 0; i < n; i += CLIENT_CHUNK) {
    const m = Math.min(CLIENT_CHUNK, n - i);
    wire += m.toString(16).length + 2 + m + 2;
  }
  return wire;
}

/**
 * Whether nginx keeps the request body in memory (readable by the filter) rather than in a temp
 * file, as measured on the engine with client_body_buffer_size B: the body bytes read with the
 * head ("preread") count first. The head is read into a 1 KiB buffer; a longer head moves, from
 * the start of the line that crossed 1 KiB on, into an 8 KiB large header buffer, whose rest is
 * then preread. Content-Length bodies stay in memory while body − preread < 1.25 × B; chunked
 * ones while their wire bytes − preread ≤ B.
 */
function bodyFitsInMemory(req: ProxyRequest, headers: Pairs, bodyLength: number, bufferSize: number): boolean {
  const lines = [`${req.method} ${req.path} HTTP/1.1`, ...headers.map(([k, v]) => `${k}: ${v}`)];
  const head = lines.reduce((n, l) => n + l.length + 2, 2);
  let preread: number;
  if (head <= HEADER_BUFFER) preread = HEADER_BUFFER - head;
  else {
    let lineStart = 0;
    for (const l of lines) {
      if (lineStart + l.length + 2 > HEADER_BUFFER) break;
      lineStart += l.length + 2;
    }
    preread = Math.max(0, LARGE_HEADER_BUFFER - (head - lineStart));
  }
  const chunked = /chunked/i.test(findHeader(headers, "transfer-encoding") ?? "");
  if (chunked) return chunkedWireBytes(bodyLength) - preread <= bufferSize;
  return bodyLength - preread < Math.floor(bufferSize * 1.25);
}

class HttpCtx {
  method: string;
  path: string;
  readonly reqHeaders: Pairs;
  reqBody: Uint8Array;
  readonly bodyReadable: boolean;
  readonly startMs: number;
  readonly remoteAddr: string;
  readonly remotePort: number;
  private requestIdValue: string | null = null;
  /** $request_id: drawn on first use (it costs a random draw per request otherwise). */
  get requestId(): string {
    if (this.requestIdValue === null) this.requestIdValue = randomBytes(16).toString("hex");
    return this.requestIdValue;
  }
  readonly headerBytes: number;
  readonly pending = new Set<DispatchCall>();
  private waiters: Array<() => void> = [];
  private finishHooks: Array<() => void> = [];
  status = 0;
  reason = "";
  respHeaders: Pairs | null = null;
  readonly preResponseOps: Array<(p: Pairs) => void> = [];
  respChunk: Uint8Array | null = null;
  local: LocalResponse | null = null;
  override: { status: number; reason: string; body: Uint8Array } | null = null;
  resumeForced = false;
  /** A request-path dispatch was followed by Continue: the engine SIGSEGVs later. */
  hazard = false;
  trapped = false;
  dispatchAborted = false;
  finished = false;
  responseStarted = false;
  upstream: PropRequest["upstream"] = null;
  bytesSent = 0;
  bodyBytesSent = 0;
  readonly custom = new Map<string, string>();
  readonly propView: PropRequest;

  constructor(
    readonly id: number,
    readonly worker: WorkerState,
    readonly req: ProxyRequest,
    now: number,
    bodyLimit: number,
  ) {
    this.method = req.method;
    this.path = req.path;
    // nginx's parser drops the whitespace around a header value.
    this.reqHeaders = req.headers.map(([k, v]) => [k, v.replace(/^[ \t]+|[ \t]+$/g, "")] as [string, string]);
    this.reqBody = req.body ?? EMPTY;
    // A body on the wire always comes framed; add the Content-Length a client would send.
    if (
      this.reqBody.length > 0 &&
      findHeader(this.reqHeaders, "content-length") === undefined &&
      findHeader(this.reqHeaders, "transfer-encoding") === undefined
    ) {
      this.reqHeaders.push(["Content-Length", String(this.reqBody.length)]);
    }
    this.startMs = now;
    this.remoteAddr = req.remoteAddr ?? "127.0.0.1";
    this.remotePort = 40000 + ((id * 7919) % 20000);
    this.headerBytes =
      `${req.method} ${req.path} HTTP/1.1\r\n`.length +
      this.reqHeaders.reduce((n, [k, v]) => n + k.length + v.length + 4, 2);
    this.bodyReadable = bodyFitsInMemory(req, this.reqHeaders, this.reqBody.length, bodyLimit);
    const self = this;
    this.propView = {
      get method() {
        return self.req.method;
      },
      uri: req.path,
      headers: this.reqHeaders,
      remoteAddr: this.remoteAddr,
      remotePort: this.remotePort,
      startMs: this.startMs,
      get requestId() {
        return self.requestId;
      },
      bodyLength: this.reqBody.length,
      headerBytes: this.headerBytes,
      get status() {
        return self.status;
      },
      get respHeaders() {
        return self.respHeaders;
      },
      get upstream() {
        return self.upstream;
      },
      get bytesSent() {
        return self.bytesSent;
      },
      get bodyBytesSent() {
        return self.bodyBytesSent;
      },
      custom: this.custom,
    };
  }

  waitPending(): Promise<void> {
    if (this.pending.size === 0) return Promise.resolve();
    return new Promise((r) => this.waiters.push(r));
  }

  removePending(call: DispatchCall): void {
    this.pending.delete(call);
    if (this.pending.size === 0) {
      const ws = this.waiters;
      this.waiters = [];
      for (const w of ws) w();
    }
  }

  onFinish(fn: () => void): void {
    if (this.finished) fn();
    else this.finishHooks.push(fn);
  }

  finish(): void {
    this.finished = true;
    const hs = this.finishHooks;
    this.finishHooks = [];
    for (const h of hs) h();
    // Nothing will wait on the request any more; unblock a paused step if any.
    const ws = this.waiters;
    this.waiters = [];
    for (const w of ws) w();
  }
}

interface DispatchCall {
  token: number;
  worker: WorkerState;
  life: number;
  ctx: HttpCtx | null;
  target: string;
  /** Response map handed to the callback (pseudo headers first). */
  map: Pairs;
  body: Uint8Array;
  cancelled: boolean;
  timer: Timer | null;
  wire: WireCall | null;
  done: Promise<void>;
  /** Gives a pooled request body back (wire requests). */
  release?: () => void;
}

/** A copy that skips zero-filling first (Uint8Array#slice is several times slower here). */
function copyOf(src: Uint8Array): Uint8Array {
  const copy = Buffer.allocUnsafeSlow(src.length);
  copy.set(src);
  return new Uint8Array(copy.buffer, copy.byteOffset, src.length);
}

/** Reused buffers for dispatch bodies, by power-of-two size (at most 32 kept per size). */
class BodyPool {
  private readonly free = new Map<number, Buffer[]>();

  take(src: Uint8Array): { bytes: Uint8Array; release: () => void } {
    let size = 4096;
    while (size < src.length) size *= 2;
    const list = this.free.get(size) ?? [];
    this.free.set(size, list);
    const buf = list.pop() ?? Buffer.allocUnsafeSlow(size);
    buf.set(src);
    let released = false;
    return {
      bytes: new Uint8Array(buf.buffer, buf.byteOffset, src.length),
      release: () => {
        if (released) return;
        released = true;
        if (list.length < 32) list.push(buf);
      },
    };
  }
}

interface TickChain {
  life: number;
  timer: Timer | null;
}

interface FilterExports {
  memory: WebAssembly.Memory;
  malloc: (size: number) => number;
  call: Record<OnExport, ((...args: number[]) => number | undefined) | undefined>;
  init?: () => void;
}

class WorkerState {
  instance: WebAssembly.Instance | null = null;
  ex: FilterExports | null = null;
  life = 0;
  /** A respawned worker is booting: a crash now means the respawn itself failed. */
  respawning = false;
  trapped = false;
  dead = false;
  ctxCounter = 0;
  tokenCounter = 0;
  tickPeriod = 0;
  readonly chains = new Set<TickChain>();
  frame: Frame | null = null;
  pendingCrash: string | null = null;
  readonly calls = new Set<DispatchCall>();
  tickOrigin = new WeakSet<DispatchCall>();

  constructor(readonly index: number) {}

  private viewOf: ArrayBuffer | null = null;
  private viewMemory: WebAssembly.Memory | null = null;
  private u8: Uint8Array = EMPTY;
  private buf: Buffer = Buffer.alloc(0);
  private dv: DataView = new DataView(new ArrayBuffer(0));

  /**
   * Views of linear memory, made again only when it grew: growing detaches the old buffer
   * (its byteLength becomes 0), which is cheaper to test than reading memory.buffer.
   */
  private refresh(): void {
    if (this.viewOf !== null && this.viewOf.byteLength !== 0 && this.viewMemory === this.ex!.memory) return;
    const b = this.ex!.memory.buffer;
    this.viewMemory = this.ex!.memory;
    this.viewOf = b;
    this.u8 = new Uint8Array(b);
    this.buf = Buffer.from(b);
    this.dv = new DataView(b);
  }

  get mem(): Uint8Array {
    this.refresh();
    return this.u8;
  }

  /** The same memory as a Buffer, for writing strings in place. */
  get memBuf(): Buffer {
    this.refresh();
    return this.buf;
  }

  get memView(): DataView {
    this.refresh();
    return this.dv;
  }
}

function bad(msg: string): HostTrap {
  const t = new HostTrap(msg);
  (t as HostTrap & { kind: string }).kind = "bad usage";
  return t;
}

function trapKind(e: HostTrap): string {
  return (e as HostTrap & { kind?: string }).kind ?? "bad usage";
}

function kindTrap(kind: string, msg: string): HostTrap {
  const t = new HostTrap(msg);
  (t as HostTrap & { kind: string }).kind = kind;
  return t;
}

const DEFAULT_KV = { size: 16 * 1024 * 1024, eviction: "slru" as const };

export class KongWasmHost {
  readonly kv: SharedKV;
  readonly logs: LogLine[] = [];
  readonly crashes: Array<{ worker: number; reason: string }> = [];
  readonly stats: { calls: Record<string, number>; nanos: Record<string, bigint> } = { calls: {}, nanos: {} };
  /** Answer dispatches in-process instead of opening sockets. */
  dispatchHandler: DispatchHandler | null = null;
  private readonly bodyPool = new BodyPool();
  /** Metrics defined through proxy_define_metric (Kong >= 3.8), shared by all workers. */
  readonly metrics = new Map<number, { name: string; type: number; value: bigint }>();

  readonly rootId: number;
  readonly version: KongVersion;
  private readonly module: WebAssembly.Module;
  private readonly filterName: string;
  private readonly config: Uint8Array;
  private readonly workers: WorkerState[];
  private readonly clock: Clock;
  private readonly opts: HostOptions;
  private readonly servers = new Set<http.Server>();
  private rr = 0;
  private started = false;
  private stopped = false;
  private stubModule: WebAssembly.Module | null = null;
  private importNames: Array<{ module: string; name: string }> = [];

  constructor(opts: HostOptions) {
    this.opts = opts;
    this.module = opts.module;
    this.filterName = opts.filterName ?? "moesif";
    this.config = enc.encode(opts.config);
    this.version = opts.kongVersion ?? "3.9";
    this.kv = new SharedKV(opts.kv === undefined ? DEFAULT_KV : opts.kv, opts.queues);
    const salt = opts.entrySalt ?? 94_823_551_071_128;
    let id = crc32(`${this.filterName}${opts.config}${salt}`);
    if (id <= 1) id += 2;
    this.rootId = id;
    this.workers = Array.from({ length: Math.max(1, opts.workers ?? 1) }, (_, i) => new WorkerState(i));
    this.clock = opts.clock === "real" ? new RealClock() : new VirtualClock(opts.startTime ?? 1_767_225_600_000);
    for (const n of ON_EXPORTS) {
      this.stats.calls[n] = 0;
      this.stats.nanos[n] = 0n;
    }
  }

  // ------------------------------------------------------------------ public API

  start(): void {
    if (this.started) throw new Error("already started");
    this.checkModule();
    this.started = true;
    for (const w of this.workers) {
      const err = this.boot(w);
      if (err) {
        this.stop();
        throw new Error(
          `worker #${w.index}: ${err}; the worker exits with fatal code 2 and is not respawned ` +
            "(the real engine stops serving every request)",
        );
      }
    }
  }

  async request(req: ProxyRequest, upstream: Upstream, worker?: number): Promise<ProxyResult> {
    if (!this.started) throw new Error("start() first");
    const wi = worker ?? this.rr++ % this.workers.length;
    const w = this.workers[wi];
    if (!w) throw new Error(`no worker ${wi}`);
    return this.serve(w, req, upstream);
  }

  async advance(ms: number): Promise<void> {
    if (this.clock instanceof VirtualClock) {
      await this.clock.advance(ms, () => this.quiesce());
      await this.quiesce();
    } else {
      await new Promise((r) => setTimeout(r, ms));
    }
  }

  async settle(): Promise<void> {
    const cap = this.clock.virtual ? (this.opts.settleTimeoutMs ?? 5000) : Infinity;
    const deadline = Date.now() + cap;
    for (let i = 0; i < 10_000; i++) {
      const all = this.workers.flatMap((w) => [...w.calls].map((c) => c.done));
      if (all.length === 0) return;
      const left = deadline - Date.now();
      if (left <= 0) return;
      await Promise.race([
        Promise.all(all),
        new Promise((r) => setTimeout(r, Math.min(left, 2_147_483_647)).unref()),
      ]);
    }
  }

  async listen(port: number, upstream: Upstream): Promise<http.Server> {
    const server = http.createServer((req, res) => {
      const chunks: Uint8Array[] = [];
      req.on("data", (c: Buffer) => chunks.push(new Uint8Array(c)));
      req.on("end", () => {
        const headers: Pairs = [];
        for (let i = 0; i + 1 < req.rawHeaders.length; i += 2) headers.push([req.rawHeaders[i], req.rawHeaders[i + 1]]);
        const body = concat(chunks);
        this.request(
          {
            method: req.method ?? "GET",
            path: req.url ?? "/",
            headers,
            body: body.length ? body : undefined,
            remoteAddr: req.socket.remoteAddress?.replace(/^::ffff:/, ""),
          },
          upstream,
        ).then(
          (r) => writeResult(res, r),
          () => res.destroy(),
        );
      });
    });
    await new Promise<void>((resolve, reject) => {
      server.once("error", reject);
      server.listen(port, "127.0.0.1", () => resolve());
    });
    this.servers.add(server);
    return server;
  }

  async stop(): Promise<void> {
    this.stopped = true;
    this.clock.stop();
    for (const w of this.workers) {
      for (const c of w.calls) {
        c.cancelled = true;
        c.wire?.abort("broken connection", "host stopped");
      }
    }
    const closing = [...this.servers].map(
      (s) =>
        new Promise<void>((r) => {
          s.closeAllConnections();
          s.close(() => r());
        }),
    );
    this.servers.clear();
    await Promise.all(closing);
  }

  memoryBytes(worker = 0): number {
    const w = this.workers[worker];
    return w?.ex ? w.ex.memory.buffer.byteLength : 0;
  }

  recycle(worker: number): void {
    const w = this.workers[worker];
    if (!w) throw new Error(`no worker ${worker}`);
    w.trapped = true;
    this.ensureInstance(w);
  }

  now(): number {
    return this.clock.now();
  }

  // ------------------------------------------------------------------ loading

  private checkModule(): void {
    const imports = WebAssembly.Module.imports(this.module);
    for (const im of imports) {
      if (im.kind !== "function") {
        throw this.linkError(`NYI: module import type not supported ("${im.module}.${im.name}" is a ${im.kind})`);
      }
      if (im.module === "env") {
        if (!ENV_FUNCS[im.name]) throw this.linkError(`failed importing "env.${im.name}": missing host function`);
      } else if (im.module === "wasi_snapshot_preview1") {
        if (!WASI_FUNCS[im.name]) {
          throw this.linkError(`failed importing "wasi_snapshot_preview1.${im.name}": missing host function`);
        }
      } else {
        throw this.linkError(`cannot resolve unknown module "${im.module}"`);
      }
    }
    this.importNames = imports.map((im) => ({ module: im.module, name: im.name }));
    const exports = new Set(WebAssembly.Module.exports(this.module).map((e) => e.name));
    if (!["proxy_abi_version_0_2_1", "proxy_abi_version_0_2_0"].some((n) => exports.has(n))) {
      throw new Error(
        exports.has("proxy_abi_version_0_1_0")
          ? "proxy-wasm ABI 0.1.0 is not modelled by the emulator"
          : `failed loading "${this.filterName}" filter: unknown ABI version`,
      );
    }
    if (!exports.has("malloc") && !exports.has("proxy_on_memory_allocate")) {
      throw new Error(`failed loading "${this.filterName}" filter: filter missing malloc`);
    }
    for (const n of ["proxy_on_context_create", "proxy_on_vm_start", "proxy_on_configure"]) {
      if (!exports.has(n)) {
        throw new Error(
          `failed loading "${this.filterName}" filter: missing one of: on_context_create, on_vm_start, on_plugin_start`,
        );
      }
    }
    if (!exports.has("memory")) throw new Error(`failed loading "${this.filterName}" filter: no exported memory`);
    // Re-exporting host functions from a stub module gives them a Wasm signature, so the
    // filter's import types are checked at instantiation like the engine does.
    this.stubModule = new WebAssembly.Module(
      encodeModule({
        imports: this.importNames.map((im, i) => ({
          module: "h",
          name: String(i),
          sig: im.module === "env" ? ENV_FUNCS[im.name].sig : WASI_FUNCS[im.name],
        })),
        exports: this.importNames.map((_, i) => ({ name: String(i), kind: "func" as const, index: i })),
      }),
    );
  }

  private linkError(detail: string): Error {
    return new Error(
      `${detail}; failed linking "${this.filterName}" module with "ngx_proxy_wasm" host interface: ` +
        "incompatible host interface (the real engine's workers exit fatally and every request hangs)",
    );
  }

  /** Process start of a worker: instance, root context, vm_start, configure. null = ok. */
  private boot(w: WorkerState): string | null {
    const life = w.life;
    const err = this.instantiate(w);
    if (err) return err;
    const steps: Array<[OnExport, number[], Phase]> = [
      ["proxy_on_context_create", [this.rootId, 0], "context_create"],
      ["proxy_on_vm_start", [this.rootId, 0], "vm_start"],
      ["proxy_on_configure", [this.rootId, this.config.length], "configure"],
    ];
    for (const [fn, args, phase] of steps) {
      const r = this.invoke(w, fn, args, { phase, ctx: null, call: null });
      if (!r.ok) {
        return r.kind === "crash" || w.life !== life
          ? `worker crashed during ${fn}`
          : `failed initializing "${this.filterName}" filter (${fn} trapped)`;
      }
      if (fn !== "proxy_on_context_create" && r.value === 0) {
        return `failed initializing "${this.filterName}" filter (${fn.replace("proxy_", "")} failure)`;
      }
    }
    return null;
  }

  private instantiate(w: WorkerState): string | null {
    const host = this.hostFunctions(w);
    const stubImports: Record<string, (...a: never[]) => unknown> = {};
    this.importNames.forEach((im, i) => {
      const fn = host[`${im.module}.${im.name}`];
      stubImports[String(i)] = fn;
    });
    const stub = new WebAssembly.Instance(this.stubModule!, { h: stubImports as WebAssembly.ModuleImports });
    const env: WebAssembly.ModuleImports = {};
    const wasi: WebAssembly.ModuleImports = {};
    this.importNames.forEach((im, i) => {
      (im.module === "env" ? env : wasi)[im.name] = stub.exports[String(i)] as WebAssembly.ImportValue;
    });
    let instance: WebAssembly.Instance;
    try {
      instance = new WebAssembly.Instance(this.module, { env, wasi_snapshot_preview1: wasi });
    } catch (e) {
      return `failed instantiating "${this.filterName}" module: ${(e as Error).message}`;
    }
    const ex = instance.exports;
    const malloc = (ex.malloc ?? ex.proxy_on_memory_allocate) as (n: number) => number;
    const call = {} as FilterExports["call"];
    for (const n of ON_EXPORTS) call[n] = ex[n] as ((...args: number[]) => number | undefined) | undefined;
    w.instance = instance;
    w.ex = {
      memory: ex.memory as WebAssembly.Memory,
      malloc,
      call,
      init: (ex._start ?? ex._initialize) as (() => void) | undefined,
    };
    w.trapped = false;
    w.tickPeriod = 0;
    if (w.ex.init) {
      const r = this.invokeRaw(w, () => w.ex!.init!(), { phase: "init", ctx: null, call: null });
      if (!r.ok) return `"${this.filterName}" module start function failed`;
    }
    return null;
  }

  /** Lazily replace a trapped instance: create + configure the root again, not vm_start. */
  private ensureInstance(w: WorkerState): boolean {
    if (!w.trapped) return true;
    if (w.dead) return false;
    this.hostLog(w, "info", 0, `[wasm] "${this.filterName}" filter invalidating trapped instance; creating a new one`);
    const life = w.life;
    if (this.instantiate(w)) {
      w.trapped = true;
      return false;
    }
    for (const [fn, args] of [
      ["proxy_on_context_create", [this.rootId, 0]],
      ["proxy_on_configure", [this.rootId, this.config.length]],
    ] as Array<[OnExport, number[]]>) {
      const r = this.invoke(w, fn, args, {
        phase: fn === "proxy_on_configure" ? "configure" : "context_create",
        ctx: null,
        call: null,
      });
      if (w.life !== life) return !w.dead;
      if (!r.ok) return false;
      if (fn === "proxy_on_configure" && r.value === 0) {
        this.hostLog(w, "error", 0, `[proxy-wasm] "${this.filterName}" filter on_configure failed after recycling`);
        w.trapped = true;
        return false;
      }
    }
    return true;
  }

  /** The worker process died; nginx forks a new one (fresh counters, vm_start runs again). */
  private crash(w: WorkerState, reason: string): void {
    this.crashes.push({ worker: w.index, reason });
    this.hostLog(w, "critical", 0, `[alert] worker process #${w.index} exited on signal 11 (${reason})`);
    w.life++;
    for (const c of w.chains) if (c.timer) this.clock.cancel(c.timer);
    w.chains.clear();
    for (const c of w.calls) {
      c.cancelled = true;
      if (c.timer) this.clock.cancel(c.timer);
      c.wire?.abort("broken connection", "worker exited");
    }
    w.calls.clear();
    w.ctxCounter = 0;
    w.tokenCounter = 0;
    w.trapped = false;
    if (this.stopped || w.dead) return;
    if (w.respawning) {
      // The respawned worker crashed while booting: nginx would loop; the emulator stops here.
      w.dead = true;
      this.hostLog(w, "critical", 0, `[emerg] respawned worker #${w.index} crashed again (${reason}); worker marked dead`);
      return;
    }
    const life = w.life;
    w.respawning = true;
    const err = this.boot(w);
    w.respawning = false;
    if (err && w.life === life) {
      // The respawned worker fails the same way: nginx would loop; the emulator stops here.
      w.dead = true;
      this.hostLog(w, "critical", 0, `[emerg] respawned worker #${w.index} failed too (${err}); worker marked dead`);
    }
  }

  // ------------------------------------------------------------------ calling into Wasm

  private invoke(w: WorkerState, fn: OnExport, args: number[], frame: Frame): CallOutcome {
    const f = w.ex?.call[fn];
    if (!f) {
      // The engine calls HTTP callbacks without checking they exist (NULL funcref).
      if (fn === "proxy_on_tick") return { ok: true, value: 0 };
      this.crash(w, `${fn} is not exported (NULL funcref called)`);
      return { ok: false, kind: "crash" };
    }
    const t0 = process.hrtime.bigint();
    const r = this.invokeRaw(w, () => f(...args), frame);
    this.stats.nanos[fn] += process.hrtime.bigint() - t0;
    this.stats.calls[fn]++;
    return r;
  }

  private invokeRaw(w: WorkerState, f: () => number | undefined | void, frame: Frame): CallOutcome {
    const prev = w.frame;
    w.frame = frame;
    const ctxId = frame.ctx ? frame.ctx.id : 0;
    let out: CallOutcome;
    try {
      const v = f();
      out = { ok: true, value: typeof v === "number" ? v : 0 };
    } catch (e) {
      w.frame = prev;
      if (e instanceof WorkerCrash) {
        this.crash(w, e.message);
        return { ok: false, kind: "crash" };
      }
      const msg =
        e instanceof HostTrap
          ? `Uncaught Error: host trap (${trapKind(e)}): ${e.message}`
          : e instanceof WasiExit
            ? `instance exited: proc_exit(${e.code})`
            : e instanceof WebAssembly.RuntimeError
              ? `Uncaught RuntimeError: ${e.message}`
              : `Uncaught ${(e as Error).name ?? "Error"}: ${(e as Error).message ?? String(e)}`;
      this.hostLog(w, "error", ctxId, `[wasm] ${msg}`);
      this.hostLog(w, "error", ctxId, "[proxy-wasm] filter chain failed resuming: previous error (instance trapped)");
      w.trapped = true;
      if (frame.ctx) frame.ctx.trapped = true;
      out = { ok: false, kind: "trap" };
    }
    w.frame = prev;
    if (w.pendingCrash !== null) {
      const reason = w.pendingCrash;
      w.pendingCrash = null;
      this.crash(w, reason);
      return { ok: false, kind: "crash" };
    }
    return out;
  }

  // ------------------------------------------------------------------ logging

  private emit(line: LogLine): void {
    this.logs.push(line);
    this.opts.onLog?.(line);
  }

  private hostLog(w: WorkerState, level: LogLevel, context: number, message: string): void {
    this.emit({ level, worker: w.index, context, message, source: "host" });
  }

  // ------------------------------------------------------------------ request path

  private async serve(w: WorkerState, req: ProxyRequest, upstream: Upstream): Promise<ProxyResult> {
    const life = w.life;
    const crashed = (ctx: HttpCtx | null): ProxyResult => ({
      status: 0,
      reason: "empty reply (worker crashed)",
      headers: [],
      body: EMPTY,
      trapped: false,
      local: false,
      upstreamCalled: false,
      crashed: true,
      worker: w.index,
      contextId: ctx ? ctx.id : 0,
    });
    if (w.dead) return crashed(null);
    if (!this.ensureInstance(w)) return w.dead ? crashed(null) : this.errorPage(w, 500, 0, false, undefined);
    const ctx = new HttpCtx(++w.ctxCounter, w, req, this.clock.now(), this.opts.clientBodyBufferSize ?? 8192);
    if (!ctx.bodyReadable) {
      this.hostLog(
        w,
        "warn",
        ctx.id,
        `a client request body is buffered to a temporary file /usr/local/kong/client_body_temp/${String(ctx.id).padStart(10, "0")}`,
      );
    }
    const frame = (phase: Phase): Frame => ({ phase, ctx, call: null });
    const fail = (r: CallOutcome & { ok: false }): ProxyResult => {
      ctx.finish();
      return r.kind === "crash" ? crashed(ctx) : this.errorPage(w, 500, ctx.id, false, undefined);
    };

    let r = this.invoke(w, "proxy_on_context_create", [ctx.id, this.rootId], frame("context_create"));
    if (!r.ok) return fail(r);

    // Request steps: headers, then the body (once, whole, only when non-empty).
    const steps: Array<[OnExport, number[], Phase]> = [
      [
        "proxy_on_request_headers",
        [ctx.id, ctx.reqHeaders.length, atLeast(this.version, "3.7") ? 0 : 1],
        "request_headers",
      ],
    ];
    if (ctx.reqBody.length > 0) steps.push(["proxy_on_request_body", [ctx.id, ctx.reqBody.length, 1], "request_body"]);
    for (const [fn, args, phase] of steps) {
      r = this.invoke(w, fn, args, frame(phase));
      if (!r.ok) return fail(r);
      const next = await this.afterRequestStep(w, ctx, r.value, fn);
      if (w.life !== life) return crashed(ctx);
      if (next === "trap") {
        ctx.finish();
        return this.errorPage(w, 500, ctx.id, false, undefined);
      }
      if (next === "local") return this.localResponse(w, ctx);
      if (next === "hang") return this.hang(w, ctx);
    }

    // Upstream.
    const upReq: ProxyRequest = {
      method: ctx.method,
      path: ctx.path,
      headers: ctx.reqHeaders.map(([k, v]) => [k, v] as [string, string]),
      body: ctx.reqBody.length ? ctx.reqBody : undefined,
      remoteAddr: ctx.remoteAddr,
    };
    const t0 = this.clock.now();
    const up = await this.callUpstream(upstream, upReq);
    if (w.life !== life) return crashed(ctx);
    ctx.upstream = { address: "127.0.0.1", port: up.port, status: up.res.status, timeMs: this.clock.now() - t0 };
    return this.respond(w, ctx, up.res, up.contentLength, true, upReq);
  }

  /** What to do after on_request_headers/on_request_body returned `action`. */
  private async afterRequestStep(
    w: WorkerState,
    ctx: HttpCtx,
    action: number,
    fn: OnExport,
  ): Promise<"continue" | "local" | "trap" | "hang"> {
    if (ctx.local) return "local";
    if (action !== 0 && action !== PAUSE) {
      this.hostLog(w, "error", ctx.id, `[proxy-wasm] NYI - proxy_wasm_action: ${action}`);
      return "trap";
    }
    if (ctx.pending.size > 0) {
      if (action !== PAUSE) {
        // The filter's Continue overrides the host's pause: the request goes on, the
        // callback never comes and the worker SIGSEGVs when the dispatch resumes.
        ctx.hazard = true;
        return "continue";
      }
      await ctx.waitPending();
      if (ctx.trapped || ctx.dispatchAborted) return "trap";
      if (ctx.local) return "local";
      return "continue";
    }
    if (action === PAUSE && !ctx.resumeForced) {
      this.hostLog(
        w,
        "warn",
        ctx.id,
        `[emulator] ${fn} returned Pause with no pending dispatch and no local response: the engine leaves ` +
          "the request suspended until the client gives up",
      );
      return "hang";
    }
    ctx.resumeForced = false;
    return "continue";
  }

  /** A request left paused: the client eventually closes; nginx logs it (499) and finalizes. */
  private hang(w: WorkerState, ctx: HttpCtx): ProxyResult {
    ctx.status = 499;
    this.finalize(w, ctx);
    return {
      status: 0,
      reason: "no response (request left paused)",
      headers: [],
      body: EMPTY,
      trapped: false,
      local: false,
      upstreamCalled: false,
      worker: w.index,
      contextId: ctx.id,
    };
  }

  private async callUpstream(
    upstream: Upstream,
    req: ProxyRequest,
  ): Promise<{ res: UpstreamResponse; contentLength: boolean | null; port: number }> {
    const badGateway = {
      status: 502,
      headers: [["Content-Type", "text/html"]] as Pairs,
      body: enc.encode(nginxPage(502)),
    };
    if (typeof upstream === "function") {
      try {
        return { res: await upstream(req), contentLength: null, port: 80 };
      } catch {
        return { res: badGateway, contentLength: true, port: 80 };
      }
    }
    const url = new URL(upstream.url);
    if (url.hostname !== "127.0.0.1") throw new Error("upstream url must be on 127.0.0.1");
    const port = Number(url.port || (url.protocol === "https:" ? 443 : 80));
    const base = url.pathname.replace(/\/$/, "");
    const headers = req.headers.filter(([k]) => !/^(connection|keep-alive|transfer-encoding)$/i.test(k));
    if (req.body && !findHeader(headers, "content-length")) headers.push(["Content-Length", String(req.body.length)]);
    const res: WireResult = await sendWire({
      host: "127.0.0.1",
      port,
      tls: url.protocol === "https:",
      method: req.method,
      path: base + req.path,
      headers,
      body: req.body ?? EMPTY,
    }).result;
    if (!res.ok) return { res: badGateway, contentLength: true, port };
    const keep = res.headers.filter(([k]) => !/^(connection|keep-alive|transfer-encoding)$/i.test(k));
    return {
      res: { status: res.status, headers: keep, chunks: res.chunks.length ? res.chunks : [] },
      contentLength: res.contentLength,
      port,
    };
  }

  /** Response phases: headers, body chunks, then done/log/delete. */
  private respond(
    w: WorkerState,
    ctx: HttpCtx,
    res: UpstreamResponse,
    contentLengthHint: boolean | null,
    upstreamCalled: boolean,
    upReq: ProxyRequest | undefined,
  ): ProxyResult {
    const life = w.life;
    const head = ctx.req.method.toUpperCase() === "HEAD";
    let chunks = res.chunks ?? (res.body && res.body.length ? [res.body] : []);
    // Proxied bodies reach the filter in buffer-sized pieces.
    chunks = chunks.flatMap((c) => splitChunk(c, 8192));
    const total = chunks.reduce((n, c) => n + c.length, 0);
    const declaredCl = findHeader(res.headers, "content-length");
    const chunked =
      /chunked/i.test(findHeader(res.headers, "transfer-encoding") ?? "") ||
      (contentLengthHint === null ? declaredCl === undefined && res.chunks !== undefined : !contentLengthHint);
    const noBody = res.status === 204 || res.status === 304 || (res.status >= 100 && res.status < 200);

    ctx.status = res.status;
    ctx.reason = REASONS[res.status] ?? "";
    ctx.responseStarted = true;
    const hdrs: Pairs = [];
    const ct = findHeader(res.headers, "content-type");
    if (ct !== undefined) hdrs.push(["Content-Type", ct]);
    if (!noBody) {
      if (chunked) hdrs.push(["Transfer-Encoding", "chunked"]);
      else hdrs.push(["Content-Length", declaredCl ?? String(total)]);
    } else if (declaredCl === undefined) {
      // The engine's shim says chunked for a 1xx/204/304 without Content-Length (the filter sees
      // it; nginx does not send it).
      hdrs.push(["Transfer-Encoding", "chunked"]);
    }
    const clientClose = /close/i.test(findHeader(ctx.reqHeaders, "connection") ?? "");
    hdrs.push(["Connection", clientClose ? "close" : "keep-alive"]);
    for (const [k, v] of res.headers) {
      if (/^(content-type|content-length|transfer-encoding|connection|keep-alive|server|date)$/i.test(k)) continue;
      hdrs.push([k, v]);
    }
    if (upstreamCalled) {
      hdrs.push(["X-Kong-Upstream-Latency", String(ctx.upstream?.timeMs ?? 0)]);
      hdrs.push(["X-Kong-Proxy-Latency", "0"]);
      hdrs.push(["Via", `1.1 kong/${this.version}.0`]);
    }
    hdrs.push(["Server", findHeader(res.headers, "server") ?? `kong/${this.version}.0`]);
    hdrs.push(["Date", findHeader(res.headers, "date") ?? new Date(this.clock.now()).toUTCString()]);
    for (const op of ctx.preResponseOps) op(hdrs);
    ctx.respHeaders = hdrs;

    const bodyOut: Uint8Array[] = [];
    const result = (trapped: boolean): ProxyResult => ({
      status: ctx.status,
      reason: ctx.reason,
      headers: noBody ? (ctx.respHeaders ?? []).filter(([k]) => k.toLowerCase() !== "transfer-encoding") : ctx.respHeaders ?? [],
      body: concat(bodyOut),
      trapped,
      local: false,
      upstreamCalled,
      upstreamRequest: upReq,
      worker: w.index,
      contextId: ctx.id,
    });

    if (ctx.hazard) {
      this.hostLog(
        w,
        "warn",
        ctx.id,
        '[proxy-wasm] "ResponseHeaders" returned "PAUSE": local response expected but none produced',
      );
    } else {
      const r = this.invoke(w, "proxy_on_response_headers", [ctx.id, hdrs.length, 0], {
        phase: "response_headers",
        ctx,
        call: null,
      });
      if (w.life !== life) return { ...result(false), status: 0, crashed: true };
      if (!r.ok) {
        ctx.finish();
        return this.errorPage(w, 500, ctx.id, upstreamCalled, upReq);
      }
      if (r.value === PAUSE && !ctx.override) {
        this.hostLog(
          w,
          "warn",
          ctx.id,
          '[proxy-wasm] "ResponseHeaders" returned "PAUSE": local response expected but none produced',
        );
      }
    }
    if (ctx.override) {
      ctx.status = ctx.override.status;
      ctx.reason = ctx.override.reason;
      setHeader(ctx.respHeaders!, "Content-Length", String(ctx.override.body.length));
      removeHeader(ctx.respHeaders!, "Transfer-Encoding");
      chunks = [ctx.override.body];
    }

    // Body: eof only when one chunk is the whole Content-Length; chunked ends with (0, eof).
    if (!head) {
      const calls: Array<[Uint8Array, number]> = [];
      if (noBody) calls.push([EMPTY, 1]);
      else if (ctx.override) calls.push([chunks[0], 1]);
      else if (chunked) {
        for (const c of chunks) calls.push([c, 0]);
        calls.push([EMPTY, 1]);
      } else if (total === 0) calls.push([EMPTY, 1]);
      else for (const c of chunks) calls.push([c, c.length === total ? 1 : 0]);
      for (const [chunk, eof] of calls) {
        ctx.respChunk = chunk;
        const r = this.invoke(w, "proxy_on_response_body", [ctx.id, chunk.length, eof], {
          phase: "response_body",
          ctx,
          call: null,
        });
        if (w.life !== life) return { ...result(false), crashed: true };
        if (!r.ok) {
          // Headers are out: the client gets a truncated body.
          ctx.finish();
          return result(true);
        }
        if (ctx.respChunk.length) bodyOut.push(ctx.respChunk);
        ctx.bodyBytesSent += ctx.respChunk.length;
      }
      ctx.respChunk = null;
    }
    ctx.bytesSent = ctx.bodyBytesSent + 17 + ctx.respHeaders!.reduce((n, [k, v]) => n + k.length + v.length + 4, 2);
    const trapped = !this.finalize(w, ctx);
    if (w.life !== life) return { ...result(false), crashed: true };
    return result(trapped);
  }

  /** on_done, on_log (same step), then on_delete. A trap stops the sequence. */
  private finalize(w: WorkerState, ctx: HttpCtx): boolean {
    const life = w.life;
    let ok = true;
    for (const [fn, phase] of [
      ["proxy_on_done", "done"],
      ["proxy_on_log", "log"],
      ["proxy_on_delete", "delete"],
    ] as Array<[OnExport, Phase]>) {
      const r = this.invoke(w, fn, [ctx.id], { phase, ctx, call: null });
      if (!r.ok || w.life !== life) {
        ok = false;
        break;
      }
    }
    ctx.finish();
    return ok;
  }

  private localResponse(w: WorkerState, ctx: HttpCtx): ProxyResult {
    const life = w.life;
    const l = ctx.local!;
    for (const c of [...ctx.pending]) {
      c.cancelled = true;
      ctx.removePending(c);
    }
    ctx.status = l.status;
    ctx.reason = l.reason;
    ctx.responseStarted = true;
    // The engine's map order: Content-Type (nginx's default_type text/plain when the filter
    // gave none), Connection, the filter's other headers, Content-Length, Server, Date.
    const hdrs: Pairs = [
      ["Content-Type", findHeader(l.headers, "content-type") ?? "text/plain"],
      ["Connection", "keep-alive"],
      ...l.headers.filter(([k]) => k.toLowerCase() !== "content-type"),
      ["Content-Length", String(l.body.length)],
      ["Server", `kong/${this.version}.0`],
      ["Date", new Date(this.clock.now()).toUTCString()],
    ];
    ctx.respHeaders = hdrs;
    const base = (): ProxyResult => ({
      status: ctx.status,
      reason: ctx.reason,
      headers: hdrs,
      body: l.body,
      trapped: false,
      local: true,
      upstreamCalled: false,
      worker: w.index,
      contextId: ctx.id,
    });
    let r = this.invoke(w, "proxy_on_response_headers", [ctx.id, hdrs.length, 0], {
      phase: "response_headers",
      ctx,
      call: null,
    });
    if (w.life !== life) return { ...base(), status: 0, crashed: true };
    if (!r.ok) {
      ctx.finish();
      return this.errorPage(w, 500, ctx.id, false, undefined);
    }
    ctx.respChunk = l.body;
    r = this.invoke(w, "proxy_on_response_body", [ctx.id, l.body.length, 1], { phase: "response_body", ctx, call: null });
    if (w.life !== life) return { ...base(), crashed: true };
    if (!r.ok) {
      ctx.finish();
      return { ...base(), trapped: true };
    }
    const body = ctx.respChunk;
    ctx.respChunk = null;
    ctx.bodyBytesSent = body.length;
    ctx.bytesSent = body.length + 100;
    this.finalize(w, ctx);
    if (w.life !== life) return { ...base(), body, crashed: true };
    return { ...base(), body };
  }

  private errorPage(
    w: WorkerState,
    status: number,
    ctxId: number,
    upstreamCalled: boolean,
    upReq: ProxyRequest | undefined,
  ): ProxyResult {
    const body = enc.encode(nginxPage(status));
    return {
      status,
      reason: REASONS[status],
      headers: [
        ["Content-Type", "text/html"],
        ["Content-Length", String(body.length)],
        ["Connection", "close"],
        ["Server", `kong/${this.version}.0`],
        ["Date", new Date(this.clock.now()).toUTCString()],
      ],
      body,
      trapped: true,
      local: false,
      upstreamCalled,
      upstreamRequest: upReq,
      worker: w.index,
      contextId: ctxId,
    };
  }

  // ------------------------------------------------------------------ ticks

  private armTick(w: WorkerState, chain: TickChain, period: number): void {
    w.chains.add(chain);
    chain.timer = this.clock.schedule(period, () => this.fireTick(w, chain));
  }

  private fireTick(w: WorkerState, chain: TickChain): void {
    chain.timer = null;
    w.chains.delete(chain);
    if (this.stopped || chain.life !== w.life || w.dead) return;
    if (w.trapped && !this.ensureInstance(w)) return;
    if (chain.life !== w.life) return;
    const r = this.invoke(w, "proxy_on_tick", [this.rootId], { phase: "tick", ctx: null, call: null });
    if (chain.life !== w.life) return;
    // Kong 3.4/3.5 stopped ticking for good after a trap in on_tick.
    if (!r.ok && !atLeast(this.version, "3.6")) return;
    if (w.tickPeriod > 0) this.armTick(w, chain, w.tickPeriod);
  }

  // ------------------------------------------------------------------ dispatch

  private startDispatch(
    w: WorkerState,
    frame: Frame,
    target: string,
    pairs: Pairs,
    body: Uint8Array,
    timeout: number,
  ): { token: number } | { rc: number } {
    const token = w.tokenCounter++;
    const inRequest = frame.ctx !== null;
    const failSync = (msg: string): { rc: number } => {
      if (inRequest) throw bad(`dispatch failed: ${msg}`);
      this.hostLog(w, "error", 0, `[wasm] dispatch failed: ${msg}`);
      return { rc: Result.InternalFailure };
    };
    const pseudo = (name: string): string | undefined => pairs.find(([k]) => k.toLowerCase() === name)?.[1];
    const method = pseudo(":method");
    const path = pseudo(":path");
    if (!method) return failSync("no :method");
    if (!path) return failSync("no :path");
    const authority = pseudo(":authority");
    const scheme = (pseudo(":scheme") ?? "http").toLowerCase();
    const m = /^(\[[^\]]+\]|[^:]+)(?::(\d+))?$/.exec(target);
    if (!m || (m[2] !== undefined && (Number(m[2]) < 1 || Number(m[2]) > 65535))) {
      return failSync(`tcp socket - invalid host or port "${target}"`);
    }
    const host = m[1];
    const port = m[2] ? Number(m[2]) : scheme === "https" ? 443 : 80;
    for (const [k] of pairs) {
      if (k.startsWith(":") && ![":method", ":path", ":authority", ":scheme"].includes(k.toLowerCase())) {
        this.hostLog(w, "warn", frame.ctx?.id ?? 0, `[wasm] NYI - dispatch: unsupported pseudo-header "${k}"`);
      }
    }
    const userHeaders = pairs.filter(([k]) => !k.startsWith(":") && !/^(host|connection)$/i.test(k));
    const call: DispatchCall = {
      token,
      worker: w,
      life: w.life,
      ctx: frame.ctx,
      target,
      map: [],
      body: EMPTY,
      cancelled: false,
      timer: null,
      wire: null,
      done: Promise.resolve(),
    };
    if (frame.phase === "http_call_response" && frame.call && w.tickOrigin.has(frame.call)) {
      // Chained dispatch from a tick-originated callback: never sent, the worker dies.
      w.pendingCrash = "SIGSEGV in ngx_alloc_chain_link(pool=0x0) <- ngx_http_proxy_wasm_dispatch_request";
      return { token };
    }
    if (!inRequest) w.tickOrigin.add(call);
    const timeoutMs = timeout > 0 ? timeout : 60_000;
    // The in-process handler may keep the request: it gets its own copy. A wire request's
    // copy comes from a pool and goes back once the exchange is over (fresh large buffers
    // cost page faults on every dispatch here).
    let sent: Uint8Array;
    if (this.dispatchHandler || body.length < 4096) {
      sent = copyOf(body);
    } else {
      const pooled = this.bodyPool.take(body);
      sent = pooled.bytes;
      call.release = pooled.release;
    }
    const dreq: DispatchRequest = {
      target,
      method,
      path,
      authority,
      scheme,
      headers: userHeaders,
      body: sent,
      timeoutMs,
      worker: w.index,
      token,
    };
    w.calls.add(call);
    frame.ctx?.pending.add(call);
    call.done = this.runDispatch(w, call, dreq, host, port);
    return { token };
  }

  private async runDispatch(
    w: WorkerState,
    call: DispatchCall,
    dreq: DispatchRequest,
    host: string,
    port: number,
  ): Promise<void> {
    type Outcome = { ok: true; status: number; headers: Pairs; body: Uint8Array } | { ok: false; failure: DispatchFailure; message: string };
    let timeoutResolve!: (o: Outcome) => void;
    const timedOut = new Promise<Outcome>((r) => (timeoutResolve = r));
    call.timer = this.clock.schedule(dreq.timeoutMs, () => {
      const o: Outcome = { ok: false, failure: "timeout", message: `tcp socket - timed out reading from "${dreq.target}"` };
      call.wire?.abort("timeout", o.message);
      timeoutResolve(o);
    });
    let work: Promise<Outcome>;
    if (this.dispatchHandler) {
      const handler = this.dispatchHandler;
      work = (async (): Promise<Outcome> => {
        try {
          const r = await handler(dreq);
          return { ok: true, status: r.status, headers: r.headers, body: r.body ?? EMPTY };
        } catch (e) {
          if (e instanceof DispatchError) return { ok: false, failure: e.status, message: e.message };
          return { ok: false, failure: "internal failure", message: (e as Error).message };
        }
      })();
    } else if (host !== "127.0.0.1") {
      work = Promise.resolve({
        ok: false,
        failure: "resolver failure",
        message: `tcp socket - resolver error: could not resolve "${host}" (the emulator only dials 127.0.0.1)`,
      });
    } else {
      const headers: Pairs = [
        ["Host", dreq.authority ?? dreq.target],
        ["Connection", "close"],
      ];
      if (!dreq.headers.some(([k]) => k.toLowerCase() === "content-length")) {
        headers.push(["Content-Length", String(dreq.body.length)]);
      }
      headers.push(...dreq.headers);
      call.wire = sendWire({
        host,
        port,
        tls: dreq.scheme === "https",
        servername: dreq.authority?.replace(/:\d+$/, ""),
        method: dreq.method,
        path: dreq.path,
        headers,
        body: dreq.body,
      });
      work = call.wire.result.then((r): Outcome => (r.ok ? { ok: true, status: r.status, headers: r.headers, body: r.body } : r));
      // The socket is done with the body once the exchange settled (also after a timeout's abort).
      const release = call.release;
      if (release) void work.finally(release);
    }
    const out = await Promise.race([work, timedOut]);
    if (call.timer) this.clock.cancel(call.timer);
    this.deliver(w, call, out);
  }

  private deliver(
    w: WorkerState,
    call: DispatchCall,
    out: { ok: true; status: number; headers: Pairs; body: Uint8Array } | { ok: false; failure: DispatchFailure; message: string },
  ): void {
    w.calls.delete(call);
    const ctx = call.ctx;
    const finish = (): void => ctx?.removePending(call);
    if (call.cancelled || call.life !== w.life || this.stopped) return finish();
    if (ctx && ctx.hazard) {
      ctx.onFinish(() => {
        if (call.life === w.life) this.crash(w, "SIGSEGV in ngx_http_proxy_wasm_dispatch_resume_handler");
      });
      return finish();
    }
    if (ctx && (ctx.finished || ctx.trapped)) return finish();
    const ctxId = ctx ? ctx.id : 0;
    if (!out.ok) {
      this.hostLog(w, "error", ctxId, `[wasm] dispatch failed: ${out.message}`);
      if (!atLeast(this.version, "3.9")) {
        // No callback before 3.9; before 3.8 the error also interrupted the request's chain.
        if (ctx && !atLeast(this.version, "3.8")) ctx.dispatchAborted = true;
        return finish();
      }
      call.map = [[":dispatch_status", out.failure]];
      call.body = EMPTY;
    } else {
      call.map = [[":status", String(out.status)]];
      if (atLeast(this.version, "3.9")) call.map.push([":dispatch_status", "ok"]);
      call.map.push(...out.headers);
      call.body = out.body;
    }
    if (w.trapped && !ctx && !this.ensureInstance(w)) return finish();
    if (w.trapped && ctx) return finish();
    const nheaders = out.ok ? out.headers.length : 0;
    this.invoke(w, "proxy_on_http_call_response", [this.rootId, call.token, nheaders, call.body.length, 0], {
      phase: "http_call_response",
      ctx,
      call,
    });
    finish();
  }

  private async quiesce(): Promise<void> {
    const all = this.workers.flatMap((w) => [...w.calls].map((c) => c.done));
    await new Promise((r) => setImmediate(r));
    if (all.length === 0) return;
    await Promise.race([Promise.all(all), new Promise((r) => setTimeout(r, 25).unref())]);
  }

  // ------------------------------------------------------------------ host functions

  private propEnvCache: PropEnv | null = null;

  /** What properties are read against; made once, the clock refreshed per read. */
  private propEnv(): PropEnv {
    let env = this.propEnvCache;
    if (env === null) {
      env = {
        filterName: this.filterName,
        kongVersion: this.version,
        hostname: this.opts.hostname ?? "emulator",
        serverName: this.opts.serverName ?? "kong",
        listenPort: this.opts.listenPort ?? 8000,
        extra: this.opts.properties ?? {},
        now: 0,
      };
      this.propEnvCache = env;
    }
    env.now = this.clock.now();
    return env;
  }


  private hostFunctions(w: WorkerState): Record<string, (...a: never[]) => unknown> {
    const frame = (): Frame => w.frame ?? { phase: "init", ctx: null, call: null };
    const memSize = (): number => w.mem.byteLength;
    /** The filter's bytes [ptr, ptr+len) in place: only for data used before the call returns or mallocs. */
    const view = (ptr: number, len: number): Uint8Array | null => {
      ptr >>>= 0;
      len >>>= 0;
      if (ptr === 0) {
        if (len !== 0) throw bad("invalid slice pointer passed to host function");
        return null;
      }
      if (ptr + len > memSize()) throw bad("invalid slice pointer passed to host function");
      return w.mem.subarray(ptr, ptr + len);
    };
    /** Like view, as the host's own copy. */
    const slice = (ptr: number, len: number): Uint8Array | null => {
      const v = view(ptr, len);
      return v === null ? null : copyOf(v);
    };
    const out = (ptr: number, align = 4, size = 4): number => {
      ptr >>>= 0;
      if (ptr === 0 || ptr + size > memSize() || ptr % align !== 0) {
        throw bad("invalid data pointer passed to host function");
      }
      return ptr;
    };
    const u32 = (ptr: number, v: number): void => w.memView.setUint32(ptr, v >>> 0, true);
    /** `n` bytes malloc'd in the filter, as the engine asks for them: the pointer, or the result to return. */
    const alloc = (n: number): number | { rc: number } => {
      const p = w.ex!.malloc(n) >>> 0;
      if (p === 0) {
        this.hostLog(w, "critical", frame().ctx?.id ?? 0, `[proxy-wasm] proxy_wasm_alloc(${n}) failed`);
        return { rc: Result.InternalFailure };
      }
      if (p + n > memSize()) return { rc: Result.InvalidMemoryAccess };
      return p;
    };
    /** Copy into a fresh malloc'd buffer; returns the pointer or a result code. */
    const give = (data: Uint8Array): number | { rc: number } => {
      const p = alloc(data.length);
      if (typeof p === "number") w.mem.set(data, p);
      return p;
    };
    const giveOut = (data: Uint8Array, ptrPtr: number, lenPtr: number): number => {
      const p = give(data);
      if (typeof p !== "number") return p.rc;
      u32(ptrPtr, p);
      u32(lenPtr, data.length);
      return Result.Ok;
    };
    const text = (b: Uint8Array | null): string => (b ? dec.decode(b) : "");
    /** Text of [ptr, ptr+len) read in place (checked like `view`). */
    const textAt = (ptr: number, len: number): string => {
      const b = view(ptr, len);
      return b ? w.memBuf.toString("utf8", b.byteOffset, b.byteOffset + b.length) : "";
    };
    /** Copies a string's UTF-8 bytes into a fresh malloc'd buffer (no intermediate array). */
    const giveTextOut = (s: string, ptrPtr: number, lenPtr: number): number => {
      const n = Buffer.byteLength(s);
      const p = alloc(n);
      if (typeof p !== "number") return p.rc;
      writeUtf8(w.memBuf, s, p);
      u32(ptrPtr, p);
      u32(lenPtr, n);
      return Result.Ok;
    };
    const ctxId = (): number => frame().ctx?.id ?? 0;
    const requestCtx = (what: string): HttpCtx => {
      const c = frame().ctx;
      if (!c) throw new WorkerCrash(`SIGSEGV: ${what} outside of a request (NULL request context)`);
      return c;
    };

    const requestMap = (c: HttpCtx): Pairs => [
      [":path", c.path],
      [":method", c.method],
      [":scheme", "http"],
      [":authority", `${this.opts.serverName ?? "kong"}:${this.opts.listenPort ?? 8000}`],
      ...c.reqHeaders,
    ];
    const getMap = (type: number): Pairs | null => {
      const f = frame();
      switch (type) {
        case MapType.RequestHeaders:
          return requestMap(requestCtx("request headers map read"));
        case MapType.ResponseHeaders: {
          const c = requestCtx("response headers map read");
          const status: Pairs = c.status > 0 && c.responseStarted ? [[":status", String(c.status)]] : [];
          if (c.respHeaders) return [...status, ...c.respHeaders];
          const pre: Pairs = [];
          for (const op of c.preResponseOps) op(pre);
          return [...status, ...pre];
        }
        case MapType.HttpCallResponseHeaders:
          return f.call ? f.call.map : null;
        default:
          this.hostLog(w, "error", ctxId(), `[wasm] NYI - get_map bad map_type: ${type}`);
          return null;
      }
    };
    const checkSet = (type: number): HttpCtx | number => {
      const f = frame();
      if (type !== MapType.RequestHeaders && type !== MapType.ResponseHeaders) {
        this.hostLog(w, "error", ctxId(), `[wasm] NYI - set_map bad map_type: ${type}`);
        return Result.BadArgument;
      }
      const c = f.ctx;
      const p = f.phase;
      if (type === MapType.RequestHeaders) {
        const ok =
          c && (p === "request_headers" || p === "request_body" || (p === "http_call_response" && !c.responseStarted));
        if (!ok) throw bad("can only set request headers before response is produced");
        return c;
      }
      const ok =
        c &&
        (p === "request_headers" ||
          p === "request_body" ||
          p === "response_headers" ||
          (p === "http_call_response" && !c.responseStarted));
      if (!ok) throw bad('can only set response headers before "on_response_body"');
      return c;
    };
    type Op = "add" | "set" | "remove";
    const applyOp = (c: HttpCtx, type: number, op: Op, key: string, value: string): void => {
      // Only pseudo headers need the lowercased name (no lowercase copy for the rest).
      const pseudo = key.charCodeAt(0) === 58;
      if (type === MapType.RequestHeaders) {
        if (pseudo) {
          const lk = key.toLowerCase();
          if (lk === ":path" && op !== "remove") c.path = value;
          if (lk === ":method" && op !== "remove") c.method = value;
          return;
        }
        mutate(c.reqHeaders, op, key, value);
        return;
      }
      if (pseudo && key.toLowerCase() === ":status") {
        if (op !== "remove" && c.respHeaders) c.status = Number(value) || c.status;
        return;
      }
      if (c.respHeaders) mutate(c.respHeaders, op, key, value);
      else c.preResponseOps.push((p) => mutate(p, op, key, value));
    };

    const nyi =
      (name: string) =>
      (): never => {
        throw kindTrap("function not yet implemented", name);
      };

    const fns: Record<string, (...a: never[]) => unknown> = {};
    for (const [name, def] of Object.entries(ENV_FUNCS)) {
      if (def.nyi || (def.since && !atLeast(this.version, def.since))) fns[`env.${name}`] = nyi(name);
    }

    const env: Record<string, (...a: number[]) => number> = {
      proxy_log: (level, ptr, len) => {
        const msg = text(slice(ptr, len));
        const levels: LogLevel[] = ["trace", "debug", "info", "warn", "error", "critical"];
        const l = levels[level];
        if (l === undefined) {
          this.hostLog(w, "error", ctxId(), `[wasm] NYI - proxy_log bad log_level: ${level}`);
          return Result.BadArgument;
        }
        this.emit({ level: l, worker: w.index, context: ctxId(), message: msg, source: "filter" });
        return Result.Ok;
      },
      proxy_get_current_time_nanoseconds: (ptr) => {
        const p = ptr >>> 0;
        if (p === 0 || p + 8 > memSize()) throw bad("invalid slice pointer passed to host function");
        w.memView.setBigUint64(p, BigInt(Math.floor(this.clock.now())) * 1_000_000n, true);
        return Result.Ok;
      },
      proxy_set_effective_context: () => Result.Ok,
      proxy_set_tick_period_milliseconds: (period) => {
        period >>>= 0;
        if (frame().ctx) {
          // Kong 3.4/3.5 ignored the call in request contexts.
          if (!atLeast(this.version, "3.6")) return Result.Ok;
          throw kindTrap("bad usage", "can only set tick_period in root context");
        }
        const already = atLeast(this.version, "3.8") ? period !== 0 && w.tickPeriod !== 0 : w.tickPeriod !== 0;
        if (already) throw kindTrap("bad usage", "tick_period already set");
        w.tickPeriod = period;
        if (period) this.armTick(w, { life: w.life, timer: null }, period);
        return Result.Ok;
      },
      proxy_get_buffer_bytes: (type, _start, max, ptrPtr, lenPtr) => {
        const pp = out(ptrPtr);
        const lp = out(lenPtr);
        const f = frame();
        let data: Uint8Array;
        switch (type) {
          case BufferType.PluginConfiguration:
            data = this.config;
            break;
          case BufferType.VmConfiguration:
            data = EMPTY;
            break;
          case BufferType.RequestBody: {
            if (!f.ctx || !(f.phase === "request_headers" || f.phase === "request_body" || f.phase === "log")) {
              throw bad('can only get request body during "on_request_body", "on_log"');
            }
            const c = f.ctx;
            if (f.phase === "request_headers" || c.reqBody.length === 0) return Result.NotFound;
            if (!c.bodyReadable) {
              this.hostLog(
                w,
                "error",
                c.id,
                `[wasm] cannot read request body buffered to file at "/usr/local/kong/client_body_temp/${String(c.id).padStart(10, "0")}"`,
              );
              return Result.NotFound;
            }
            data = c.reqBody;
            break;
          }
          case BufferType.ResponseBody: {
            if (!f.ctx || f.phase !== "response_body") throw bad('can only get response body during "on_response_body"');
            if (!f.ctx.respChunk) return Result.NotFound;
            data = f.ctx.respChunk;
            break;
          }
          case BufferType.HttpCallResponseBody: {
            if (f.phase !== "http_call_response" && f.phase !== "log") {
              throw bad('can only get dispatch response body during "on_http_dispatch_response"');
            }
            if (!f.call) return Result.BadArgument;
            if (f.call.body.length === 0) return Result.NotFound;
            data = f.call.body;
            break;
          }
          default:
            this.hostLog(w, "error", ctxId(), `[wasm] NYI - get_buffer bad buf_type: ${type}`);
            return Result.BadArgument;
        }
        const len = Math.min(data.length, max >>> 0);
        if (len === 0) return Result.Ok;
        return giveOut(data.subarray(0, len), pp, lp);
      },
      proxy_set_buffer_bytes: (type, start, size, ptr, len) => {
        const data = slice(ptr, len) ?? EMPTY;
        start >>>= 0;
        size >>>= 0;
        if (start > 0 && size === 0 && data.length > 0) size = data.length;
        const f = frame();
        const splice = (cur: Uint8Array): Uint8Array =>
          start === 0 && size === 0 && data.length > 0
            ? concat([data, cur])
            : concat([cur.subarray(0, Math.min(start, cur.length)), data, cur.subarray(Math.min(start + size, cur.length))]);
        if (type === BufferType.RequestBody) {
          if (!f.ctx || !(f.phase === "request_headers" || f.phase === "request_body")) {
            throw bad('can only set request body during "on_request_body"');
          }
          const next = splice(f.ctx.reqBody);
          f.ctx.reqBody = next;
          setHeader(f.ctx.reqHeaders, "Content-Length", String(next.length));
          return Result.Ok;
        }
        if (type === BufferType.ResponseBody) {
          if (!f.ctx || f.phase !== "response_body") throw bad('can only set response body during "on_response_body"');
          f.ctx.respChunk = splice(f.ctx.respChunk ?? EMPTY);
          return Result.Ok;
        }
        this.hostLog(w, "error", ctxId(), `[wasm] NYI - set_buffer bad buf_type: ${type}`);
        return Result.BadArgument;
      },
      proxy_get_header_map_pairs: (type, ptrPtr, lenPtr) => {
        const pp = out(ptrPtr);
        const lp = out(lenPtr);
        const pairs = getMap(type);
        if (!pairs) return Result.BadArgument;
        let shown = pairs;
        if (pairs.length > MAX_MAP_PAIRS) {
          shown = pairs.slice(0, MAX_MAP_PAIRS);
          this.hostLog(w, "warn", ctxId(), `[proxy-wasm] marshalled map truncated to ${MAX_MAP_PAIRS} elements`);
        }
        // Like the engine: sized, malloc'd in the filter's memory and written in place.
        const size = marshalSize(shown);
        const p = alloc(size);
        if (typeof p !== "number") return p.rc;
        marshalInto(shown, w.memBuf, p);
        u32(pp, p);
        u32(lp, size);
        return Result.Ok;
      },
      proxy_get_header_map_value: (type, kptr, klen, ptrPtr, lenPtr) => {
        const key = text(slice(kptr, klen));
        const pp = out(ptrPtr);
        const lp = out(lenPtr);
        const pairs = getMap(type);
        if (!pairs) return Result.NotFound;
        const v = findHeader(pairs, key);
        if (v === undefined) return Result.NotFound;
        return giveTextOut(v, pp, lp);
      },
      proxy_set_header_map_pairs: (type, ptr, len) => {
        const pairs = unmarshal(slice(ptr, len) ?? EMPTY);
        if (!pairs) return Result.InternalFailure;
        const c = checkSet(type);
        if (typeof c === "number") return c;
        if (type === MapType.RequestHeaders) c.reqHeaders.length = 0;
        else if (c.respHeaders) c.respHeaders.length = 0;
        else c.preResponseOps.push((p) => (p.length = 0));
        for (const [k, v] of pairs) applyOp(c, type, "set", k, v);
        return Result.Ok;
      },
      proxy_add_header_map_value: (type, kptr, klen, vptr, vlen) => {
        const k = textAt(kptr, klen);
        const v = textAt(vptr, vlen);
        const c = checkSet(type);
        if (typeof c === "number") return c;
        applyOp(c, type, "add", k, v);
        return Result.Ok;
      },
      proxy_replace_header_map_value: (type, kptr, klen, vptr, vlen) => {
        const k = text(slice(kptr, klen));
        const v = text(slice(vptr, vlen));
        const c = checkSet(type);
        if (typeof c === "number") return c;
        applyOp(c, type, "set", k, v);
        return Result.Ok;
      },
      proxy_remove_header_map_value: (type, kptr, klen) => {
        const k = text(slice(kptr, klen));
        const c = checkSet(type);
        if (typeof c === "number") return c;
        applyOp(c, type, "remove", k, "");
        return Result.Ok;
      },
      proxy_get_property: (pptr, plen, ptrPtr, lenPtr) => {
        const path = propertyPath(textAt(pptr, plen));
        const pp = out(ptrPtr);
        const lp = out(lenPtr);
        const f = frame();
        const r = f.ctx ? requestProperty(this.propEnv(), f.ctx.propView, path) : rootProperty(this.propEnv(), f.phase, path);
        switch (r.rc) {
          case "notfound":
            return Result.NotFound;
          case "error":
            this.hostLog(w, "error", 0, `[wasm] ${r.log}`);
            return Result.InternalFailure;
          case "crash":
            throw new WorkerCrash(r.reason);
          default:
            return giveTextOut(r.value, pp, lp);
        }
      },
      proxy_set_property: (pptr, plen, vptr, vlen) => {
        const path = propertyPath(text(slice(pptr, plen)));
        const value = text(slice(vptr, vlen));
        const c = frame().ctx;
        if (!c) {
          this.hostLog(w, "error", 0, "[wasm] cannot set scoped properties outside of a request");
          return Result.InternalFailure;
        }
        if (!path.startsWith("kong.") && !path.startsWith("wasmx.")) return Result.NotFound;
        c.custom.set(path, value);
        return Result.Ok;
      },
      proxy_continue_stream: (type) => {
        if (type !== 0 && type !== 1) {
          this.hostLog(w, "error", ctxId(), `[wasm] NYI - continue stream type: ${type}`);
          return Result.InternalFailure;
        }
        const c = frame().ctx;
        if (c) c.resumeForced = true;
        return Result.Ok;
      },
      proxy_continue_request: () => {
        const c = frame().ctx;
        if (c) c.resumeForced = true;
        return Result.Ok;
      },
      proxy_send_local_response: (status, dptr, dlen, bptr, blen, hptr, hlen) => {
        const reason = text(slice(dptr, dlen));
        const body = slice(bptr, blen) ?? EMPTY;
        const headers = unmarshal(slice(hptr, hlen) ?? EMPTY);
        if (!headers) return Result.InternalFailure;
        const f = frame();
        const c = f.ctx;
        if (!c) throw bad("response already sent");
        const withLf = body.length ? concat([body, enc.encode("\n")]) : EMPTY;
        if (f.phase === "response_headers") {
          c.override = { status, reason, body: withLf };
          return Result.Ok;
        }
        if (c.responseStarted || !(f.phase === "request_headers" || f.phase === "request_body" || f.phase === "http_call_response")) {
          throw bad("response already sent");
        }
        if (c.local) throw bad("local response already stashed");
        c.local = { status, reason: reason || (REASONS[status] ?? ""), body: withLf, headers };
        if (c.pending.size > 0 && f.phase !== "http_call_response") {
          this.hostLog(w, "info", c.id, "[proxy-wasm] local response produced, cancelling pending dispatch operations");
        }
        return Result.Ok;
      },
      proxy_http_call: (uptr, ulen, hptr, hlen, bptr, blen, _tptr, _tlen, timeout, tokenPtr) => {
        const f = frame();
        const p = f.phase;
        if (!(p === "request_headers" || p === "request_body" || p === "tick" || p === "http_call_response")) {
          throw bad(
            'can only send HTTP dispatch during "on_request_headers", "on_request_body", "on_tick", ' +
              '"on_dispatch_response", "on_foreign_function"',
          );
        }
        const target = text(slice(uptr, ulen));
        const pairs = unmarshal(slice(hptr, hlen) ?? EMPTY);
        // Copied by startDispatch (nothing here mallocs before that).
        const body = view(bptr, blen) ?? EMPTY;
        slice(_tptr, _tlen);
        const tp = out(tokenPtr);
        if (!pairs) return Result.InternalFailure;
        const r = this.startDispatch(w, f, target, pairs, body, timeout >>> 0);
        if ("rc" in r) return r.rc;
        u32(tp, r.token);
        return Result.Ok;
      },
      proxy_get_shared_data: (kptr, klen, ptrPtr, lenPtr, casPtr) => {
        // The key's bytes in place: zones hash them (crc32) without a string.
        const key = view(kptr, klen) ?? EMPTY;
        const pp = out(ptrPtr);
        const lp = out(lenPtr);
        const cp = out(casPtr);
        const zone = this.kv.resolve(key);
        if (zone === "queue") throw bad("attempt to get key/value from a queue");
        if (!zone) throw bad("failed getting value from shm (could not resolve namespace)");
        const e = zone.get(key);
        if (!e) return Result.NotFound;
        const p = give(e.value);
        if (typeof p !== "number") throw kindTrap("internal error", "failed getting value from shm (no memory)");
        u32(pp, p);
        u32(lp, e.value.length);
        u32(cp, e.cas);
        return Result.Ok;
      },
      proxy_set_shared_data: (kptr, klen, vptr, vlen, cas) => {
        const key = view(kptr, klen) ?? EMPTY;
        // The zone copies the value (and a new key) into its own storage before returning.
        const value = view(vptr, vlen);
        const zone = this.kv.resolve(key);
        if (zone === "queue") throw bad("attempt to set key/value in a queue");
        if (!zone) throw bad("failed setting value to shm (could not resolve namespace)");
        const r = zone.set(key, value === null ? null : value, cas >>> 0);
        if (r === "no_memory") {
          this.hostLog(
            w,
            "critical",
            ctxId(),
            `[wasm] "${zone.name}" shm store: no memory; cannot allocate pair with key size ${key.length} ` +
              `and value size ${value?.length ?? 0}`,
          );
          throw kindTrap("internal error", "failed setting value to shm (could not write to slab)");
        }
        return r === "ok" ? Result.Ok : Result.CasMismatch;
      },
      proxy_register_shared_queue: (nptr, nlen, tokenPtr) => {
        const name = text(slice(nptr, nlen));
        const tp = out(tokenPtr);
        const t = this.kv.queueToken(name);
        if (t === null) throw bad("could not find queue");
        if (t === "kv") throw bad("attempt to use a key/value store as a queue");
        u32(tp, t);
        return Result.Ok;
      },
      proxy_enqueue_shared_queue: (token, ptr, len) => {
        const data = slice(ptr, len) ?? EMPTY;
        const q = this.kv.queue(token >>> 0);
        if (q === null) throw bad("could not find queue");
        if (q === "kv") throw bad("attempt to use a key/value store as a queue");
        if (!q.push(data)) throw kindTrap("internal error", "could not enqueue (queue is full)");
        return Result.Ok;
      },
      proxy_dequeue_shared_queue: (token, ptrPtr, lenPtr) => {
        const pp = out(ptrPtr);
        const lp = out(lenPtr);
        const q = this.kv.queue(token >>> 0);
        if (q === null) throw bad("could not find queue");
        if (q === "kv") throw bad("attempt to use a key/value store as a queue");
        const item = q.pop();
        if (!item) return Result.Empty;
        return giveOut(item, pp, lp);
      },
      proxy_define_metric: (type, nptr, nlen, idPtr) => {
        const name = text(slice(nptr, nlen));
        const ip = out(idPtr);
        if (type < 0 || type > 2) return Result.BadArgument;
        let id = crc32(`${type}:${name}`);
        if (!this.metrics.has(id)) this.metrics.set(id, { name, type, value: 0n });
        else id = [...this.metrics.entries()].find(([, m]) => m.name === name && m.type === type)?.[0] ?? id;
        u32(ip, id);
        return Result.Ok;
      },
      proxy_get_metric: (id, resPtr) => {
        const rp = out(resPtr, 8, 8);
        const m = this.metrics.get(id >>> 0);
        if (!m || m.type === 2) return Result.NotFound;
        new DataView(w.ex!.memory.buffer).setBigUint64(rp, BigInt.asUintN(64, m.value), true);
        return Result.Ok;
      },
      proxy_get_configuration: (ptrPtr, lenPtr) => {
        const pp = out(ptrPtr);
        const lp = out(lenPtr);
        if (this.config.length === 0) return Result.Ok;
        return giveOut(this.config, pp, lp);
      },
    };
    env.proxy_get_buffer = env.proxy_get_buffer_bytes;
    env.proxy_set_buffer = env.proxy_set_buffer_bytes;
    env.proxy_send_http_response = env.proxy_send_local_response;
    env.proxy_dispatch_http_call = env.proxy_http_call;
    const metricOp =
      (kind: "increment" | "record") =>
      (id: number, v: bigint): number => {
        const m = this.metrics.get(id >>> 0);
        if (!m) return Result.NotFound;
        // Counters only increment; gauges take both; histograms only record (last value kept).
        if (kind === "increment") {
          if (m.type === 2) return Result.BadArgument;
          m.value += v;
        } else {
          if (m.type === 0) return Result.BadArgument;
          m.value = v;
        }
        return Result.Ok;
      };
    for (const [name, fn] of Object.entries(env)) {
      if (!fns[`env.${name}`]) fns[`env.${name}`] = fn as (...a: never[]) => unknown;
    }
    if (!fns["env.proxy_increment_metric"]) fns["env.proxy_increment_metric"] = metricOp("increment") as never;
    if (!fns["env.proxy_record_metric"]) fns["env.proxy_record_metric"] = metricOp("record") as never;

    // WASI preview1 as ngx_wasm_module's V8 build provides it.
    const BADF = 8;
    const wasi: Record<string, (...a: never[]) => unknown> = {
      args_get: () => 0,
      args_sizes_get: ((a: number, b: number) => {
        u32(out(a), 0);
        u32(out(b), 0);
        return 0;
      }) as never,
      environ_get: () => 0,
      environ_sizes_get: ((a: number, b: number) => {
        u32(out(a), 0);
        u32(out(b), 0);
        return 0;
      }) as never,
      clock_time_get: ((_id: number, _precision: bigint, ptr: number) => {
        const p = out(ptr, 1, 8);
        new DataView(w.ex!.memory.buffer).setBigUint64(p, BigInt(Math.floor(this.clock.now())) * 1_000_000n, true);
        return 0;
      }) as never,
      fd_write: ((fd: number, iovs: number, n: number, nwritten: number) => {
        if (fd !== 1 && fd !== 2) return BADF;
        const dv = new DataView(w.ex!.memory.buffer);
        const parts: Uint8Array[] = [];
        for (let i = 0; i < n >>> 0; i++) {
          const base = out(iovs + i * 8, 4, 8);
          const b = slice(dv.getUint32(base, true), dv.getUint32(base + 4, true));
          if (b) parts.push(b);
        }
        const all = concat(parts);
        u32(out(nwritten), all.length);
        this.emit({
          level: fd === 1 ? "info" : "error",
          worker: w.index,
          context: ctxId(),
          message: dec.decode(all).replace(/\n$/, ""),
          source: "filter",
        });
        return 0;
      }) as never,
      proc_exit: ((code: number) => {
        throw new WasiExit(code);
      }) as never,
      random_get: ((ptr: number, len: number) => {
        const b = view(ptr, len);
        if (b) randomFillSync(b);
        return 0;
      }) as never,
      sched_yield: () => 0,
      fd_close: () => BADF,
      fd_fdstat_get: () => BADF,
      fd_fdstat_set_flags: () => BADF,
      fd_prestat_get: () => BADF,
      fd_prestat_dir_name: () => BADF,
      fd_read: () => BADF,
      fd_seek: () => BADF,
      path_open: () => 54,
      poll_oneoff: () => 58,
    };
    for (const [name, fn] of Object.entries(wasi)) fns[`wasi_snapshot_preview1.${name}`] = fn;
    return fns;
  }
}

function mutate(p: Pairs, op: "add" | "set" | "remove", key: string, value: string): void {
  if (op === "add") p.push([key, value]);
  else if (op === "set") setHeader(p, key, value);
  else removeHeader(p, key);
}

function splitChunk(c: Uint8Array, size: number): Uint8Array[] {
  if (c.length <= size) return [c];
  const out: Uint8Array[] = [];
  for (let i = 0; i < c.length; i += size) out.push(c.subarray(i, i + size));
  return out;
}

function concat(parts: Uint8Array[]): Uint8Array {
  if (parts.length === 1) return parts[0];
  const n = parts.reduce((a, b) => a + b.length, 0);
  const out = new Uint8Array(n);
  let o = 0;
  for (const p of parts) {
    out.set(p, o);
    o += p.length;
  }
  return out;
}

function nginxPage(status: number): string {
  const t = `${status} ${REASONS[status] ?? ""}`;
  return `<html>\r\n<head><title>${t}</title></head>\r\n<body>\r\n<center><h1>${t}</h1></center>\r\n<hr><center>openresty</center>\r\n</body>\r\n</html>\r\n`;
}

function writeResult(res: http.ServerResponse, r: ProxyResult): void {
  if (r.status === 0) {
    res.socket?.destroy();
    return;
  }
  const headers: Record<string, string[]> = {};
  const names: Record<string, string> = {};
  for (const [k, v] of r.headers) {
    const lk = k.toLowerCase();
    if (lk === "connection" || lk === "transfer-encoding" || lk === "keep-alive") continue;
    if (lk === "content-length" && Number(v) !== r.body.length) continue;
    names[lk] ??= k;
    (headers[names[lk]] ??= []).push(v);
  }
  res.writeHead(r.status, r.reason ?? "", headers);
  res.end(Buffer.from(r.body.buffer, r.body.byteOffset, r.body.byteLength));
}
