// Delivery throughput (SPEC §11: ≥ 20,000 events/s per worker, log phase to a loopback
// collector). One worker; real HTTP to a counting collector in a child process on
// 127.0.0.1; the virtual clock is advanced one tick period at a time, so wall time is what
// the filter, the host and the loopback take, not the tick period.
import { fork, type ChildProcess } from "node:child_process";
import { fileURLToPath } from "node:url";
import { KongWasmHost, type ProxyRequest, type UpstreamResponse } from "../../emulator/index.ts";
import { benchConfig, KONG_ROUTE } from "./fixtures.ts";
import { loadModule, TICK_MS } from "./subject.ts";

export interface DeliveryResult {
  events: number;
  /** Requests and delivery interleaved: first request to last event received. */
  endToEnd: { seconds: number; perSecond: number; ticks: number };
  /** N events queued first, then only ticks until all are received. */
  sendOnly: { seconds: number; perSecond: number; ticks: number; maxBatchesPerTick: number; filterUsPerEvent: number };
  problems: string[];
}

/** Requests between two ticks in the end-to-end run (below what one tick can send). */
const REQUESTS_PER_STEP = 1000;
const SINK = fileURLToPath(new URL("./sink.ts", import.meta.url));

class Sink {
  events = 0;
  private waiters: Array<{ want: number; resolve: (t: number) => void }> = [];

  private constructor(readonly child: ChildProcess, readonly port: number) {
    child.on("message", (m: { events?: number }) => {
      if (typeof m.events !== "number") return;
      this.events = m.events;
      const now = performance.now();
      this.waiters = this.waiters.filter((w) => {
        if (this.events < w.want) return true;
        w.resolve(now);
        return false;
      });
    });
  }

  static start(): Promise<Sink> {
    const child = fork(SINK, [], { execArgv: ["--import", "tsx"], stdio: ["ignore", "inherit", "inherit", "ipc"] });
    return new Promise((resolve, reject) => {
      child.once("error", reject);
      child.once("exit", (code) => reject(new Error(`sink exited (${code})`)));
      child.once("message", (m: { port?: number }) => resolve(new Sink(child, m.port!)));
    });
  }

  /** Resolves with performance.now() of the message that brought the count to `want`. */
  reached(want: number): Promise<number> {
    if (this.events >= want) return Promise.resolve(performance.now());
    return new Promise((resolve) => this.waiters.push({ want, resolve }));
  }

  stop(): void {
    this.child.removeAllListeners("exit");
    this.child.disconnect();
  }
}

/** ns spent so far in on_tick and on_http_call_response. */
function flushNanos(host: KongWasmHost): number {
  return Number(host.stats.nanos.proxy_on_tick + host.stats.nanos.proxy_on_http_call_response);
}

function newHost(wasm: string, port: number, events: number): KongWasmHost {
  // Room for every event at once (the send-only run queues them all before the first tick).
  const bytes = Math.max(64 << 20, events * 8192);
  const host = new KongWasmHost({
    module: loadModule(wasm),
    config: benchConfig(`http://127.0.0.1:${port}`, { queue_max_bytes: Math.min(bytes, 1 << 30), event_queue_size: events * 2 }),
    workers: 1,
    properties: KONG_ROUTE,
    kv: { size: Math.min(bytes, 1 << 30) * 2, eviction: "slru" },
  });
  host.start();
  return host;
}

/**
 * Ticks until the sink has `want` events. After each tick it waits for that tick's
 * dispatches to be answered, as they would be within a real 100 ms tick period on loopback.
 * Returns the ticks taken and the most batches one tick sent.
 */
async function tickUntil(host: KongWasmHost, sink: Sink, want: number, maxTicks: number): Promise<{ ticks: number; maxBatches: number }> {
  let ticks = 0;
  let maxBatches = 0;
  const calls = host.stats.calls;
  while (sink.events < want) {
    if (ticks >= maxTicks) throw new Error(`delivery: ${sink.events}/${want} events after ${ticks} ticks`);
    const before = calls.proxy_on_http_call_response;
    await host.advance(TICK_MS);
    await host.settle();
    maxBatches = Math.max(maxBatches, calls.proxy_on_http_call_response - before);
    ticks++;
  }
  return { ticks, maxBatches };
}

export async function runDelivery(
  events: number,
  request: (i: number) => ProxyRequest,
  response: UpstreamResponse,
  wasm: string,
  progress: (line: string) => void,
): Promise<DeliveryResult> {
  const upstream = (): UpstreamResponse => response;
  const sink = await Sink.start();
  const problems: string[] = [];
  const hosts: KongWasmHost[] = [];
  try {
    // Warm-up: compile tiers, the first config/rules fetch, sockets.
    const base0 = sink.events;
    const warm = newHost(wasm, sink.port, 2000);
    hosts.push(warm);
    for (let i = 0; i < 2000; i++) await warm.request(request(i), upstream);
    await tickUntil(warm, sink, base0 + 2000, 1000);
    await warm.stop();
    const base = sink.events;

    // End to end: requests and ticks interleaved, as they would be in a worker.
    const e2e = newHost(wasm, sink.port, events);
    hosts.push(e2e);
    await e2e.advance(TICK_MS); // first config/rules fetch, outside the timing
    await e2e.settle();
    let ticks = 0;
    const t0 = performance.now();
    for (let i = 0; i < events; i++) {
      await e2e.request(request(i), upstream);
      if ((i + 1) % REQUESTS_PER_STEP === 0) {
        await e2e.advance(TICK_MS);
        ticks++;
      }
    }
    ticks += (await tickUntil(e2e, sink, base + events, 100_000)).ticks;
    const t1 = await sink.reached(base + events);
    progress(`delivery: end to end ${events} events in ${((t1 - t0) / 1000).toFixed(2)} s`);
    problems.push(...e2e.logs.filter((l) => l.level === "warn" || l.level === "error").map((l) => l.message));
    await e2e.stop();

    // Send path only: everything queued first, then ticks. A first round on the same host
    // grows its batch buffers (16 in flight) and memory, so the measured round is steady state.
    const pre = newHost(wasm, sink.port, events);
    hosts.push(pre);
    await pre.advance(TICK_MS);
    await pre.settle();
    const warmEvents = Math.min(events, 5000);
    const base1 = sink.events;
    for (let i = 0; i < warmEvents; i++) await pre.request(request(i), upstream);
    await tickUntil(pre, sink, base1 + warmEvents, 100_000);
    const base2 = sink.events;
    for (let i = 0; i < events; i++) await pre.request(request(i), upstream);
    const n0 = flushNanos(pre);
    const s0 = performance.now();
    const send = await tickUntil(pre, sink, base2 + events, 100_000);
    const s1 = await sink.reached(base2 + events);
    progress(`delivery: send only ${events} events in ${((s1 - s0) / 1000).toFixed(2)} s`);
    problems.push(...pre.logs.filter((l) => l.level === "warn" || l.level === "error").map((l) => l.message));
    return {
      events,
      endToEnd: { seconds: (t1 - t0) / 1000, perSecond: events / ((t1 - t0) / 1000), ticks },
      sendOnly: { seconds: (s1 - s0) / 1000, perSecond: events / ((s1 - s0) / 1000), ticks: send.ticks, maxBatchesPerTick: send.maxBatches, filterUsPerEvent: (flushNanos(pre) - n0) / 1000 / events },
      problems,
    };
  } finally {
    for (const h of hosts) await h.stop();
    sink.stop();
  }
}
