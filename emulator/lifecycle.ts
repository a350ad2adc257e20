// The host's shared state and the worker lifecycle: loading and linking the module, process
// start of a worker (instance, root context, vm_start, configure), lazy recycling of a trapped
// instance, worker crashes and respawns, and every call into the filter (timed for `stats`;
// traps and crashes turned into outcomes). The other parts of the host are functions of it:
// http-flow.ts, dispatch.ts, ticks.ts, hostcalls*.ts.

import { ENV_FUNCS, WASI_FUNCS } from "./abi.js";
import { RealClock, VirtualClock, type Clock } from "./clock.js";
import { crc32 } from "./crc32.js";
import { BodyPool } from "./dispatch.js";
import { HostTrap, WasiExit, WorkerCrash, trapKind } from "./errors.js";
import type { DispatchHandler, LogLevel, LogLine } from "./gateway.js";
import { hostFunctions } from "./hostcalls.js";
import { SharedKV } from "./kv.js";
import type { PropEnv } from "./properties.js";
import type { HostOptions, KongVersion } from "./types.js";
import { encodeModule } from "./wasm-binary.js";
import { ON_EXPORTS, WorkerState, type CallOutcome, type FilterExports, type Frame, type OnExport, type Phase } from "./worker.js";

const DEFAULT_KV = { size: 16 * 1024 * 1024, eviction: "slru" as const };

/** The state every part of the host shares, and the calls into the filter. */
export class Runtime {
  readonly kv: SharedKV;
  readonly logs: LogLine[] = [];
  readonly crashes: Array<{ worker: number; reason: string }> = [];
  readonly stats: { calls: Record<string, number>; nanos: Record<string, bigint> } = { calls: {}, nanos: {} };
  /** Answer dispatches in-process instead of opening sockets. */
  dispatchHandler: DispatchHandler | null = null;
  readonly bodyPool = new BodyPool();
  /** Metrics defined through proxy_define_metric (Kong >= 3.8), shared by all workers. */
  readonly metrics = new Map<number, { name: string; type: number; value: bigint }>();
  /** Root dispatches the engine never frees (one finished while another was pending; dispatch.ts). */
  readonly leakedDispatches = { calls: 0, bytes: 0 };

  readonly rootId: number;
  readonly version: KongVersion;
  readonly filterName: string;
  readonly config: Uint8Array;
  readonly workers: WorkerState[];
  readonly clock: Clock;
  readonly opts: HostOptions;
  stopped = false;
  private readonly module: WebAssembly.Module;
  private stubModule: WebAssembly.Module | null = null;
  private importNames: Array<{ module: string; name: string }> = [];

  constructor(opts: HostOptions) {
    this.opts = opts;
    this.module = opts.module;
    this.filterName = opts.filterName ?? "moesif";
    this.config = new TextEncoder().encode(opts.config);
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

  checkModule(): void {
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
  boot(w: WorkerState): string | null {
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

  instantiate(w: WorkerState): string | null {
    const host = hostFunctions(this, w);
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
  ensureInstance(w: WorkerState, by: "request" | "tick" | "callback" = "tick"): boolean {
    if (!w.trapped) return true;
    if (w.dead) return false;
    this.hostLog(w, "info", 0, `[wasm] "${this.filterName}" filter invalidating trapped instance; creating a new one`);
    const life = w.life;
    if (this.instantiate(w)) {
      w.trapped = true;
      return false;
    }
    // Before on_configure: the chain it arms belongs to the new root.
    w.rootGen++;
    w.rootFromRequest = by === "request";
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
  crash(w: WorkerState, reason: string): void {
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


  invoke(w: WorkerState, fn: OnExport, args: number[], frame: Frame): CallOutcome {
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

  invokeRaw(w: WorkerState, f: () => number | undefined | void, frame: Frame): CallOutcome {
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

  emit(line: LogLine): void {
    this.logs.push(line);
    this.opts.onLog?.(line);
  }

  hostLog(w: WorkerState, level: LogLevel, context: number, message: string): void {
    this.emit({ level, worker: w.index, context, message, source: "host" });
  }

  private propEnvCache: PropEnv | null = null;

  /** What properties are read against; made once, the clock refreshed per read. */
  propEnv(): PropEnv {
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
}
