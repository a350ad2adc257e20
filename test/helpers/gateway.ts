// The gateway a suite runs on: the emulator (default; virtual time, in-process dispatches) or
// Kong's engine (TEST_GATEWAY=engine; real nginx + ngx_wasm_module, real time, a loopback
// collector). Suites written against `Gateway` run on both; what only the emulator can do
// (virtual clock, KV inspection, Kong versions and kong.* properties) stays emulator-only.
import { readFileSync, existsSync } from "node:fs";
import { KongWasmHost, type DispatchHandler, type Gateway, type HostOptions } from "../../emulator/index.ts";

export type { Gateway };
import { EngineGateway, RELEASE_WASM_PATH, type EngineGatewayOptions } from "../../engine/gateway.ts";
import { engineSkipReason } from "../../engine/locate.ts";
import { until } from "../../engine/nginx.ts";

export type GatewayKind = "emulator" | "engine";

/** Which gateway this test process runs its suites on. */
export const GATEWAY: GatewayKind = process.env.TEST_GATEWAY === "engine" ? "engine" : "emulator";
export const ON_ENGINE = GATEWAY === "engine";

export type GatewayOptions = Omit<HostOptions, "module" | "config"> & {
  /** Engine-only settings (extra conf, chain, module path). */
  engine?: Partial<EngineGatewayOptions>;
  /** The gateway to use instead of this process's (engine-only test files). */
  on?: GatewayKind;
};

/** Options the engine cannot honour, as a skip reason (null when the test can run there). */
export function engineCannot(opts: GatewayOptions): string | null {
  if (opts.kongVersion && opts.kongVersion !== "3.9") return `Kong ${opts.kongVersion} behaviour is emulator-only (the engine is Kong 3.9's pin)`;
  if (opts.properties && Object.keys(opts.properties).some((k) => k.startsWith("kong."))) return "kong.* properties need Kong's Lua layer";
  if (opts.startTime !== undefined) return "a chosen start time needs the virtual clock";
  if (opts.queues) return "shm_queue zones are not set up by the engine gateway";
  return null;
}

let moduleCache: WebAssembly.Module | null = null;

async function filterModule(): Promise<WebAssembly.Module> {
  if (moduleCache) return moduleCache;
  if (!existsSync(RELEASE_WASM_PATH)) {
    const { buildFilter } = await import("../../scripts/build.ts"); // the compiler is slow to import
    await buildFilter(["release"]);
  }
  moduleCache = new WebAssembly.Module(new Uint8Array(readFileSync(RELEASE_WASM_PATH)));
  return moduleCache;
}

/** Starts the filter with `config` on this process's gateway. `handler` answers dispatches. */
export async function openGateway(config: string, opts: GatewayOptions = {}, handler: DispatchHandler | null = null): Promise<Gateway> {
  if ((opts.on ?? GATEWAY) === "engine") {
    const skip = engineSkipReason() ?? engineCannot(opts);
    if (skip) throw new Error(skip);
    const gw = new EngineGateway({
      config,
      workers: opts.workers,
      kv: opts.kv,
      clientBodyBufferSize: opts.clientBodyBufferSize,
      serverName: opts.serverName,
      filterName: opts.filterName,
      ...opts.engine,
    });
    gw.dispatchHandler = handler;
    try {
      await gw.start();
    } catch (e) {
      await gw.stop();
      throw e;
    }
    return gw;
  }
  const { engine: _engine, on: _on, ...hostOpts } = opts;
  const host = new KongWasmHost({ module: await filterModule(), config, ...hostOpts });
  host.dispatchHandler = handler;
  host.start();
  return host;
}

/**
 * Lets queued events reach the collector: on the emulator, `virtualMs` of virtual time; on the
 * engine, polls `done` in real time (deadline `realTimeoutMs`), then waits `graceMs` more so
 * that events beyond the expected ones would show up too.
 */
export async function flush(gw: Gateway, done: () => boolean, virtualMs = 2500, realTimeoutMs = 20_000, graceMs = 300): Promise<void> {
  if (!ON_ENGINE) {
    await gw.advance(virtualMs);
    return;
  }
  await until("events at the collector", done, realTimeoutMs).catch(() => undefined);
  await gw.advance(graceMs);
}

/** The skip option for `test(name, { skip }, …)`: emulator-only tests skip on the engine. */
export const emulatorOnly = (why: string): string | false => (ON_ENGINE ? `emulator-only: ${why}` : false);

/** The skip option for engine-only tests. */
export const engineOnly = (): string | false => engineSkipReason() ?? false;

/** The `todo` option for a test the engine does not pass because the emulator models it
 *  differently (a recorded difference, fixed elsewhere): it still runs on the engine and its
 *  failure is shown, not counted. */
