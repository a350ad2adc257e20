// Kong's engine as a test gateway: a generated nginx.conf with the filter, a loopback upstream
// that answers as each test request asks, and a loopback collector answered by the same
// DispatchHandler the emulator calls in-process. Real time throughout; traps, worker exits and
// filter log lines are read from the error log. It offers the members of KongWasmHost the
// suites use, so a suite runs on either.
import { chmodSync, mkdirSync, renameSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import type { DispatchHandler, Gateway, LogLine, ProxyRequest, ProxyResult, Upstream } from "../emulator/gateway.ts";
import type { KvOptions } from "../emulator/types.ts";
import { renderNginxConf, type FilterEntry, type NginxConfSpec, type ZoneSpec } from "./conf.ts";
import { sendRequest } from "./client.ts";
import { parseErrorLog, type ParsedLog } from "./errorlog.ts";
import { engineBinary, ENGINE_ENV } from "./locate.ts";
import { NginxProcess, sleep, until } from "./nginx.ts";
import { TestCollector, TestUpstream } from "./servers.ts";
import { freePort } from "./ports.ts";

export const RELEASE_WASM_PATH = fileURLToPath(new URL("../build/moesif.wasm", import.meta.url));
const CLIENT_HEADER = "x-kwm-client";

export interface EngineGatewayOptions {
  /** The filter config (JSON text). Its api_endpoint is pointed at the loopback collector
   *  when it is absent or names 127.0.0.1 (the path is kept), unless `keepEndpoint`. A
   *  function receives the collector's URL (configs that name it elsewhere, e.g. probe scripts). */
  config: string | ((collectorUrl: string) => string);
  /** Hands the config over unchanged: the test runs its own collector (e.g. local/collector.ts)
   *  and the gateway's collector gets nothing. */
  keepEndpoint?: boolean;
  /** Absolute path of the module; default build/moesif.wasm. */
  modulePath?: string;
  filterName?: string;
  workers?: number;
  /** Default {size: 16 MiB, slru}; null = no shm_kv zone. */
  kv?: KvOptions | null;
  clientBodyBufferSize?: number;
  serverName?: string;
  /** The whole chain when it is not the one filter with `config` (e.g. two entries). */
  chain?: (collectorUrl: string) => FilterEntry[];
  /** Changes to the generated conf (extra directives, keep-alive upstream, …). */
  conf?: Partial<NginxConfSpec>;
  /** A real upstream (e.g. the demo API) instead of the per-test upstream. */
  upstreamPort?: number;
  /** A collector of the caller's (e.g. local/collector.ts) instead of the test collector. */
  collectorUrl?: string;
  /** The gateway's port; default a free one. */
  listenPort?: number;
}

let cacheConfig: string | null = null;

/** A Wasmtime cache config shared by this machine's test gateways (one directory per user).
 *  The cache is keyed by module bytes and engine settings, so a rebuilt filter compiles afresh. */
export function compileCache(): string {
  if (cacheConfig) return cacheConfig;
  const name = `kwm-wasmtime-cache-${process.getuid?.() ?? 0}`;
  const dir = join(tmpdir(), name);
  mkdirSync(dir, { recursive: true });
  chmodSync(dir, 0o777); // workers started by root run as nobody
  // The config lives beside the cache directory, not in it (Wasmtime's cache cleanup removes
  // files it does not know there), and is written aside then renamed: test processes running
  // at once must never let nginx read a half-written file.
  const file = join(tmpdir(), `${name}.toml`);
  const tmp = `${file}.${process.pid}`;
  writeFileSync(tmp, `[cache]\ndirectory = "${dir}"\n`);
  renameSync(tmp, file);
  cacheConfig = file;
  return file;
}

export class EngineGateway implements Gateway {
  readonly nginx: NginxProcess;
  readonly upstream = new TestUpstream(CLIENT_HEADER);
  readonly collector = new TestCollector();
  port = 0;
  /** The filter config as handed to the engine (after the api_endpoint rewrite). */
  config = "";
  private spec: NginxConfSpec | null = null;
  private parsed: ParsedLog | null = null;
  private parsedLength = -1;
  /** The error log as it was at stop (the prefix directory is removed then). */
  private finalLog: string | null = null;

  constructor(private readonly opts: EngineGatewayOptions) {
    const bin = engineBinary();
    if (!bin) throw new Error(`${ENGINE_ENV} does not name Kong's engine nginx binary`);
    this.nginx = new NginxProcess(bin);
  }

  get dispatchHandler(): DispatchHandler | null {
    return this.collector.handler;
  }

  set dispatchHandler(h: DispatchHandler | null) {
    this.collector.handler = h;
  }

  get collectorUrl(): string {
    return this.opts.collectorUrl ?? `http://127.0.0.1:${this.collector.port}`;
  }

  async start(): Promise<void> {
    if (!this.opts.collectorUrl) await this.collector.start();
    if (this.opts.upstreamPort === undefined) await this.upstream.start();
    this.port = this.opts.listenPort ?? (await freePort());
    const config = this.opts.config;
    this.config =
      typeof config === "function" ? config(this.collectorUrl) : this.opts.keepEndpoint ? config : pointAtCollector(config, this.collectorUrl);
    const name = this.opts.filterName ?? "moesif";
    const kv = this.opts.kv === undefined ? { size: 16 * 1024 * 1024, eviction: "slru" as const } : this.opts.kv;
    const zones: ZoneSpec[] = [];
    if (kv) {
      zones.push({ name: "*", size: kv.size, eviction: kv.eviction });
      for (const [zname, z] of Object.entries(kv.zones ?? {})) zones.push({ name: zname, size: z.size, eviction: z.eviction });
    }
    this.spec = {
      workers: this.opts.workers ?? 1,
      modules: [{ name, path: this.opts.modulePath ?? RELEASE_WASM_PATH }],
      zones,
      listenPort: this.port,
      chain: this.opts.chain ? this.opts.chain(this.collectorUrl) : [{ name, config: this.config }],
      upstreamPort: this.opts.upstreamPort ?? this.upstream.port,
      clientHeader: CLIENT_HEADER,
      clientBodyBufferSize: this.opts.clientBodyBufferSize,
      serverName: this.opts.serverName,
      wasmtimeCacheConfig: compileCache(),
      ...this.opts.conf,
    };
    this.nginx.writeConf(renderNginxConf(this.spec));
    await this.nginx.start(this.port);
    // Workers link the module after the port opens; wait until each has configured (or exited).
    const want = this.spec.workers;
    await until("the workers to load the filter", () => {
      const log = this.nginx.errorLog();
      const loaded = log.match(/successfully loaded "[^"]+" module/g)?.length ?? 0;
      return loaded >= want || /exited with fatal code|\[emerg\]/.test(log);
    });
  }

  /** Rewrites nginx.conf with `change` applied and reloads (new workers, zones re-created by the engine). */
  async reload(change: Partial<NginxConfSpec> = {}): Promise<void> {
    if (!this.spec) throw new Error("start() first");
    this.spec = { ...this.spec, ...change };
    this.nginx.writeConf(renderNginxConf(this.spec));
    const before = this.workerPidsFromLog().length;
    this.nginx.reload();
    await until("new workers after the reload", () => this.workerPidsFromLog().length >= before + this.spec!.workers);
  }

  private log(): ParsedLog {
    const text = this.finalLog ?? this.nginx.errorLog();
    if (!this.parsed || text.length !== this.parsedLength) {
      this.parsed = parseErrorLog(text);
      this.parsedLength = text.length;
    }
    return this.parsed;
  }

  get logs(): LogLine[] {
    return this.log().lines;
  }

  /** Trap reports in the error log. */
  get traps(): string[] {
    return this.log().traps;
  }

  /** Workers that exited other than normally (signals, fatal codes). */
  get crashes(): Array<{ worker: number; reason: string }> {
    return this.log().exits.map((e) => ({ worker: e.pid, reason: e.how }));
  }

  workerPidsFromLog(): number[] {
    return this.log().workerPids;
  }

  /** Live worker pids of the master. */
  workerPids(): number[] {
    return this.nginx.workerPids();
  }

  async request(req: ProxyRequest, upstream: Upstream): Promise<ProxyResult> {
    const trapsBefore = this.traps.length;
    let clientPort = 0;
    const res = await sendRequest(this.port, req, {
      localAddress: req.remoteAddr && /^127\./.test(req.remoteAddr) ? req.remoteAddr : undefined,
      onConnect: (p) => {
        clientPort = p;
        this.upstream.expect(p, upstream);
      },
    });
    const upstreamRequest = this.upstream.take(clientPort);
    // A trap is logged before nginx answers 500, so it is in the log by now.
    const trapped = res.status === 500 && this.traps.length > trapsBefore;
    return {
      status: res.status,
      reason: res.reason,
      headers: res.headers,
      body: res.body,
      trapped,
      local: !upstreamRequest && !trapped,
      upstreamCalled: upstreamRequest !== undefined,
      upstreamRequest,
      worker: 0,
      contextId: 0,
    };
  }

  /** Real time: waits `ms`. */
  async advance(ms: number): Promise<void> {
    await sleep(ms);
  }

  /** Nothing to drain from outside the engine; lets pending socket events run. */
  async settle(): Promise<void> {
    await sleep(20);
  }

  async stop(): Promise<void> {
    await this.nginx.stop();
    this.finalLog = this.nginx.errorLog();
    await this.collector.stop();
    await this.upstream.stop();
    this.nginx.cleanup();
  }
}

/** The config with api_endpoint pointed at `collectorUrl` when it is missing or a loopback
 *  address (tests' placeholder endpoints), keeping any path prefix. */
export function pointAtCollector(config: string, collectorUrl: string): string {
  let obj: unknown;
  try {
    obj = JSON.parse(config);
  } catch {
    return config;
  }
  if (obj === null || typeof obj !== "object" || Array.isArray(obj)) return config;
  const o = obj as Record<string, unknown>;
  const ep = o.api_endpoint;
  if (ep === undefined) o.api_endpoint = collectorUrl;
  else if (typeof ep === "string") {
    const m = /^http:\/\/127\.0\.0\.1(?::\d+)?(\/.*)?$/.exec(ep);
    if (!m) return config;
    o.api_endpoint = collectorUrl + (m[1] ?? "");
  } else return config;
  return JSON.stringify(o);
}
