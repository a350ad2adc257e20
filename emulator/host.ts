// KongWasmHost: a proxy-wasm host that behaves like Kong's Wasm engine (ngx_wasm_module).
// Behaviour sources: /work/shared/reference/kong-host.md and engine-verified.md (wins).
// This is the façade the suites and scripts use; README.md maps the modules behind it.

import type * as http from "node:http";
import { VirtualClock } from "./clock.js";
import { quiesce } from "./dispatch.js";
import type { DispatchHandler, Gateway, LogLine, ProxyRequest, ProxyResult, Upstream } from "./gateway.js";
import { serve } from "./http-flow.js";
import type { SharedKV } from "./kv.js";
import { Runtime } from "./lifecycle.js";
import { serveGateway } from "./loopback.js";
import type { HostOptions, KongVersion } from "./types.js";

export class KongWasmHost implements Gateway {
  readonly kv: SharedKV;
  readonly logs: LogLine[];
  readonly crashes: Array<{ worker: number; reason: string }>;
  readonly stats: { calls: Record<string, number>; nanos: Record<string, bigint> };
  /** Metrics defined through proxy_define_metric (Kong >= 3.8), shared by all workers. */
  readonly metrics: Map<number, { name: string; type: number; value: bigint }>;
  /** Root dispatches the engine would never free: one finished while another of the root was pending. */
  readonly leakedDispatches: { calls: number; bytes: number };
  readonly rootId: number;
  readonly version: KongVersion;
  private readonly rt: Runtime;
  private readonly servers = new Set<http.Server>();
  private rr = 0;
  private started = false;

  constructor(opts: HostOptions) {
    const rt = new Runtime(opts);
    this.rt = rt;
    this.kv = rt.kv;
    this.logs = rt.logs;
    this.crashes = rt.crashes;
    this.stats = rt.stats;
    this.metrics = rt.metrics;
    this.leakedDispatches = rt.leakedDispatches;
    this.rootId = rt.rootId;
    this.version = rt.version;
  }

  /** Answer dispatches in-process instead of opening sockets. */
  get dispatchHandler(): DispatchHandler | null {
    return this.rt.dispatchHandler;
  }

  set dispatchHandler(handler: DispatchHandler | null) {
    this.rt.dispatchHandler = handler;
  }

  start(): void {
    if (this.started) throw new Error("already started");
    this.rt.checkModule();
    this.started = true;
    for (const w of this.rt.workers) {
      const err = this.rt.boot(w);
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
    const wi = worker ?? this.rr++ % this.rt.workers.length;
    const w = this.rt.workers[wi];
    if (!w) throw new Error(`no worker ${wi}`);
    return serve(this.rt, w, req, upstream);
  }

  async advance(ms: number): Promise<void> {
    const clock = this.rt.clock;
    if (clock instanceof VirtualClock) {
      await clock.advance(ms, () => quiesce(this.rt));
      await quiesce(this.rt);
    } else {
      await new Promise((r) => setTimeout(r, ms));
    }
  }

  async settle(): Promise<void> {
    const cap = this.rt.clock.virtual ? (this.rt.opts.settleTimeoutMs ?? 5000) : Infinity;
    const deadline = Date.now() + cap;
    for (let i = 0; i < 10_000; i++) {
      const all = this.rt.workers.flatMap((w) => [...w.calls].map((c) => c.done));
      if (all.length === 0) return;
      const left = deadline - Date.now();
      if (left <= 0) return;
      await Promise.race([
        Promise.all(all),
        new Promise((r) => setTimeout(r, Math.min(left, 2_147_483_647)).unref()),
      ]);
    }
  }

  /** A real gateway on 127.0.0.1:`port` (0 = any free one) serving every request through the filter. */
  async listen(port: number, upstream: Upstream): Promise<http.Server> {
    const server = await serveGateway(port, (req) => this.request(req, upstream));
    this.servers.add(server);
    return server;
  }

  async stop(): Promise<void> {
    this.rt.stopped = true;
    this.rt.clock.stop();
    for (const w of this.rt.workers) {
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
    const w = this.rt.workers[worker];
    return w?.ex ? w.ex.memory.buffer.byteLength : 0;
  }

  recycle(worker: number): void {
    const w = this.rt.workers[worker];
    if (!w) throw new Error(`no worker ${worker}`);
    w.trapped = true;
    this.rt.ensureInstance(w);
  }

  now(): number {
    return this.rt.clock.now();
  }
}
