// `npm run bench:engine`: the SPEC §11 figures in Kong's engine (nginx + ngx_wasm_module +
// Wasmtime, KONG_WASM_ENGINE). One nginx with one server per variant (nginx alone, the no-op
// filter, the read-only floor, moesif and its variants), its single worker pinned to core 0;
// the load generator (wrk), the upstream (a second nginx serving static files over keep-alive)
// and the collector on core 1. Interleaved rounds: every variant runs for a few seconds back
// to back, ratios are taken within a round, then the median and spread over rounds.
// Then: 4 workers (throughput), end-to-end delivery with worker RSS and linear memory over
// many requests, and (--profile) perf profiles of the worker.
// Flags: --quick (2 short rounds, 100,000 requests for memory), --write (results into
// BENCHMARKS.md), --rebuild, --profile (only the profiles), --ticks (only on_tick durations, by
// uprobes on the engine's tick handler). Needs wrk: `apt-get install -y wrk`.
import { spawn, spawnSync } from "node:child_process";
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { cpus, loadavg, tmpdir } from "node:os";
import { connect } from "node:net";
import { join, resolve } from "node:path";
import { engineBinary, ENGINE_ENV } from "../engine/locate.ts";
import { sleep } from "../engine/nginx.ts";
import type { NginxProcess } from "../engine/nginx.ts";
import { asc } from "./asc.ts";
import { benchConfig } from "./bench/fixtures.ts";
import { ensureModules } from "./bench/modules.ts";
import { rawReferenceRequests, responseBodies } from "./bench/engine-fixtures.ts";
import { shareJitMap, summarise } from "./bench/engine-profile.ts";
import {
  assignPorts, cpuNs, haveWrk, LOAD_CORE, linearMemories, mainConf, rssBytes, runWrk, startCollector, startNginx,
  upstreamConf, WORKER_CORE, WRK_INSTALL, writeWrkScript, type Body, type Collector, type Variant, type WrkResult,
} from "./bench/engine-setup.ts";

const args = new Set(process.argv.slice(2));
for (const a of args) {
  if (!["--quick", "--write", "--rebuild", "--profile", "--ticks"].includes(a)) {
    console.error(`unknown option ${a}; usage: tsx scripts/bench-engine.ts [--quick] [--write] [--rebuild] [--profile] [--ticks]`);
    process.exit(2);
  }
}
const quick = args.has("--quick");
const C = quick
  ? { rounds: 2, seconds: 2, warm: 1, connections: 16, wideRounds: 2, memory: 100_000, chunk: 5, profileSeconds: 8 }
  : { rounds: 5, seconds: 3, warm: 1, connections: 16, wideRounds: 3, memory: 1_000_000, chunk: 10, profileSeconds: 15 };

const say = (line: string): void => void process.stderr.write(`${line}\n`);
const binary = engineBinary();
if (!binary) {
  console.error(`${ENGINE_ENV} must name Kong's engine nginx binary (e.g. export ${ENGINE_ENV}=/path/to/engine/bin/nginx)`);
  process.exit(2);
}
if (!haveWrk()) {
  console.error(WRK_INSTALL);
  process.exit(2);
}
if (spawnSync("taskset", ["-c", "0", "true"]).status !== 0 || cpus().length < 2) {
  console.error("needs taskset (util-linux) and at least 2 cores: the worker and the load generator get one each");
  process.exit(2);
}

const t0 = performance.now();
const mods = await ensureModules(args.has("--rebuild"), say);
const NAMES_WASM = "build/bench/moesif.names.wasm";
const abs = (p: string) => resolve(p);

const dir = mkdtempSync(join(tmpdir(), "kwm-bench-engine-"));
chmodSync(dir, 0o755); // nginx workers started by root run as nobody: the upstream must read the bodies
const bodies = responseBodies();
const files: Record<Body, string> = { ref: join(dir, "ref.json"), big: join(dir, "big.json"), gz: join(dir, "gz.json") };
writeFileSync(files.ref, bodies.ref);
writeFileSync(files.big, bodies.big);
writeFileSync(files.gz, bodies.gz);
const wrkScript = writeWrkScript(dir, rawReferenceRequests(100));

const reference = JSON.parse(benchConfig("http://x")) as Record<string, unknown>;
delete reference.api_endpoint;
/** One kv zone per moesif variant (kv_namespace), so each variant's root drains only its own queue. */
const moesif = (key: string, extra: Record<string, unknown> = {}) => ({ ...reference, batch_size: 1000, kv_namespace: key.replace(/[^a-z0-9_-]/g, "_"), ...extra });
// The bare engine has no kong.version property, so the filter keeps Kong < 3.7's single
// dispatch in flight: one batch per 100 ms tick per worker, batch_size × 10 events/s (2,000 at
// the default 200). Every measured event must reach the collector (else its send-path cost is
// missing and the queue drops), so the 1 KB and gzip variants use batches of 1,000
// (10,000 events/s); 100 KB events keep 200 (20 MB batches). The large events need a queue that
// holds one tick period's events at full speed.
const BIG_QUEUE = 48 * 1024 * 1024;
const ZONE_BYTES = 2 * BIG_QUEUE + 4096 * 16;

const VARIANTS: Variant[] = [
  { key: "ref-none", label: "nginx alone", body: "ref", module: null, events: false },
  { key: "ref-noop", label: "no-op filter", body: "ref", module: "noop", events: false },
  { key: "ref-floor", label: "read-only floor", body: "ref", module: "readonly", events: false },
  { key: "ref-moesif", label: "moesif", body: "ref", module: "moesif", config: moesif("ref-moesif"), events: true },
  { key: "s0-ref", label: "moesif, capture only (sample_rate 0)", body: "ref", module: "moesif", config: moesif("s0-ref"), events: false },
  { key: "ref-deflate", label: "moesif, enable_compression", body: "ref", module: "moesif", config: moesif("ref-deflate", { enable_compression: true }), events: true },
  { key: "big-none", label: "nginx alone", body: "big", module: null, events: false },
  { key: "big-floor", label: "read-only floor", body: "big", module: "readonly", events: false },
  { key: "big-moesif", label: "moesif", body: "big", module: "moesif", config: moesif("big-moesif", { queue_max_bytes: BIG_QUEUE, batch_size: 200 }), events: true },
  { key: "gz-none", label: "nginx alone", body: "gz", module: null, events: false },
  { key: "gz-floor", label: "read-only floor", body: "gz", module: "readonly", events: false },
  { key: "gz-moesif", label: "moesif", body: "gz", module: "moesif", config: moesif("gz-moesif", { queue_max_bytes: BIG_QUEUE }), events: true },
];
const BODY_LABEL: Record<Body, string> = {
  ref: `reference request (1 KB JSON each way)`,
  big: `100 KB JSON response (${bodies.big.length.toLocaleString("en-US")} B)`,
  gz: `10 KB gzip JSON response (${bodies.gz.length.toLocaleString("en-US")} B, ${bodies.gzInflated.toLocaleString("en-US")} B inflated)`,
};

const started: NginxProcess[] = [];
let collector: Collector | null = null;
async function cleanup(): Promise<void> {
  for (const n of started.splice(0)) {
    await n.stop();
    n.cleanup();
  }
  collector?.stop();
  rmSync(dir, { recursive: true, force: true });
}
process.once("SIGINT", () => void cleanup().then(() => process.exit(130)));

interface Sample {
  wrk: WrkResult;
  /** Worker CPU (ns) over the window, the flush of its events included. */
  cpu: number;
  delivered: number | null;
}

/** One measured window: wrk on the variant's port, then (moesif) until the collector has its events. */
async function measure(v: Variant, pids: number[], seconds: number, connections: number, threads = 1, core: number | null = LOAD_CORE): Promise<Sample> {
  const before = v.events ? ((await collector!.counts()).events[v.key] ?? 0) : 0;
  const cpu0 = pids.reduce((s, p) => s + cpuNs(p), 0);
  const wrk = await runWrk(wrkScript, v.port!, seconds, connections, threads, core);
  let delivered: number | null = null;
  if (v.events) {
    // The tail goes out after flush_interval_ms (1 s) or with the next full batch: wait for
    // every event, or until nothing has arrived for 2 s (events dropped), at most 15 s.
    const start = Date.now();
    let last = -1;
    let lastChange = Date.now();
    for (;;) {
      const n = ((await collector!.counts()).events[v.key] ?? 0) - before;
      if (n !== last) {
        last = n;
        lastChange = Date.now();
      }
      if (n >= wrk.requests || Date.now() - lastChange > 2000 || Date.now() - start > 15_000) break;
      await sleep(50);
    }
    delivered = last;
  }
  const cpu = pids.reduce((s, p) => s + cpuNs(p), 0) - cpu0;
  return { wrk, cpu, delivered };
}

const median = (xs: number[]): number => {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
};
const fmt = (x: number, digits = 3): string => (Math.abs(x) >= 100 ? x.toFixed(0) : Number(x.toPrecision(digits)).toString());
const spread = (xs: number[], unit = ""): string => `${fmt(median(xs))}${unit} (${fmt(Math.min(...xs))}–${fmt(Math.max(...xs))})`;
const int = (n: number): string => Math.round(n).toLocaleString("en-US");
const mib = (b: number): string => `${(b / 1048576).toFixed(2)} MiB`;

async function upstreamUp(): Promise<Record<Body, number>> {
  const ports = await assignPorts(VARIANTS);
  const up = await startNginx(binary!, upstreamConf(ports, files), ports.ref, 1, 0);
  started.push(up);
  return ports;
}

/** One request per variant: each must answer 200 with its upstream's body, byte for byte. */
async function checkVariants(vs: Variant[]): Promise<void> {
  const raw = Buffer.from(rawReferenceRequests(1)[0], "latin1");
  for (const v of vs) {
    const res = await new Promise<Buffer>((resolve, reject) => {
      const chunks: Buffer[] = [];
      const sock = connect({ host: "127.0.0.1", port: v.port! }, () => sock.write(Buffer.concat([raw.subarray(0, raw.indexOf("Connection: keep-alive")), Buffer.from("Connection: close\r\n\r\n"), raw.subarray(raw.indexOf("\r\n\r\n") + 4)])));
      sock.on("data", (c: Buffer) => chunks.push(c));
      sock.on("end", () => resolve(Buffer.concat(chunks)));
      sock.on("error", reject);
    });
    const at = res.indexOf("\r\n\r\n");
    const status = res.subarray(0, 12).toString();
    const got = res.subarray(at + 4);
    const want = readFileSync(files[v.body]);
    if (!status.endsWith(" 200") || !got.equals(want)) throw new Error(`${v.key}: ${status}, ${got.length} B (want 200, ${want.length} B)`);
  }
}

const out: string[] = [];
const md = (line = ""): void => void out.push(line);
const warnings: string[] = [];

// ---------------------------------------------------------------- interleaved rounds, one worker

const results: {
  single?: Map<string, Sample[]>;
  wide?: Map<string, Sample[]>;
  memory?: MemoryResult;
} = {};

async function rounds(upstreamPorts: Record<Body, number>): Promise<void> {
  const zones = VARIANTS.filter((v) => v.module === "moesif").map((v) => v.config!.kv_namespace as string);
  const conf = mainConf({
    workers: 1, pinned: true, modules: { moesif: abs(mods.moesif), noop: abs(mods.noop), readonly: abs(mods.readonly) },
    zones, zoneBytes: ZONE_BYTES, upstreamPorts, variants: VARIANTS, collectorPort: collector!.port,
  });
  const n = await startNginx(binary!, conf, VARIANTS[0].port!, 1, 3);
  started.push(n);
  const pid = n.workerPids()[0];
  await checkVariants(VARIANTS);
  say(`one worker (pid ${pid}, core ${WORKER_CORE}); load generator, upstream, collector on core ${LOAD_CORE}`);
  for (const v of VARIANTS) await measure(v, [pid], C.warm, C.connections);
  const samples = new Map<string, Sample[]>(VARIANTS.map((v) => [v.key, []]));
  for (let r = 0; r < C.rounds; r++) {
    // Rotate the order so that no variant always runs first or right after the heaviest one.
    const order = VARIANTS.map((_, i) => VARIANTS[(i + r * 5) % VARIANTS.length]);
    for (const v of order) {
      const logAt = n.errorLog().length;
      samples.get(v.key)!.push(await measure(v, [pid], C.seconds, C.connections));
      for (const l of n.errorLog().slice(logAt).split("\n")) {
        const m = /\[(emerg|alert|crit|error)\] \d+#\d+: (?:\*\d+ )?(.{0,160})/.exec(l);
        if (m) warnings.push(`${v.key}: [${m[1]}] ${m[2].replace(/, client: .*$/, "")}`);
      }
    }
    say(`  round ${r + 1}/${C.rounds} done (${((performance.now() - t0) / 1000).toFixed(0)} s)`);
  }
  results.single = samples;
  await n.stop();
  n.cleanup();
  started.splice(started.indexOf(n), 1);
}


// ---------------------------------------------------------------- 4 workers

const WIDE = ["ref-none", "ref-floor", "ref-moesif"];

async function wide(upstreamPorts: Record<Body, number>): Promise<void> {
  const vs = VARIANTS.filter((v) => WIDE.includes(v.key));
  const conf = mainConf({
    workers: 4, pinned: false, modules: { moesif: abs(mods.moesif), readonly: abs(mods.readonly) },
    zones: ["ref-moesif"], zoneBytes: ZONE_BYTES, upstreamPorts, variants: vs, collectorPort: collector!.port,
  });
  const n = await startNginx(binary!, conf, vs[0].port!, 4, 2);
  started.push(n);
  const pids = n.workerPids();
  await checkVariants(vs);
  say(`4 workers (${pids.join(", ")}), everything unpinned`);
  for (const v of vs) await measure(v, pids, C.warm, 64, 2, null);
  const samples = new Map<string, Sample[]>(vs.map((v) => [v.key, []]));
  for (let r = 0; r < C.wideRounds; r++) {
    for (const v of vs.map((_, i) => vs[(i + r) % vs.length])) samples.get(v.key)!.push(await measure(v, pids, C.seconds, 64, 2, null));
  }
  results.wide = samples;
  await n.stop();
  n.cleanup();
  started.splice(started.indexOf(n), 1);
}

// ---------------------------------------------------------------- delivery, RSS and linear memory

interface Checkpoint {
  requests: number;
  rss: number;
  linear: number;
  delivered: number;
}
interface MemoryResult {
  checkpoints: Checkpoint[];
  served: number;
  seconds: number;
  delivered: number;
  summary: string;
}

async function memoryRun(upstreamPorts: Record<Body, number>): Promise<void> {
  const v: Variant = { ...VARIANTS.find((x) => x.key === "ref-moesif")!, key: "mem-moesif", config: moesif("mem", { log_summary_interval_ms: 5000 }) };
  await assignPorts([v]);
  const conf = mainConf({
    workers: 1, pinned: true, modules: { moesif: abs(mods.moesif) }, zones: ["mem"], zoneBytes: ZONE_BYTES,
    upstreamPorts, variants: [v], collectorPort: collector!.port,
  });
  const n = await startNginx(binary!, conf, v.port!, 1, 1);
  started.push(n);
  const pid = n.workerPids()[0];
  await checkVariants([v]);
  say(`delivery and memory: ${int(C.memory)} requests to moesif, one worker`);
  const checkpoints: Checkpoint[] = [];
  const delivered = async () => (await collector!.counts()).events[v.key] ?? 0;
  const point = async (requests: number) => {
    const lin = linearMemories(pid);
    checkpoints.push({ requests, rss: rssBytes(pid), linear: lin.length === 1 ? lin[0] : NaN, delivered: await delivered() });
  };
  // Warm-up to about 10,000 requests, then chunks until the count is reached.
  let served = 0;
  let seconds = 0;
  const w0 = await runWrk(wrkScript, v.port!, 2, C.connections);
  served += w0.requests;
  await point(served);
  while (served < C.memory) {
    const w = await runWrk(wrkScript, v.port!, C.chunk, C.connections);
    served += w.requests;
    seconds += w.seconds;
    await point(served);
    say(`  ${int(served)} requests, ${int(w.rps)}/s, RSS ${mib(rssBytes(pid))}`);
  }
  const firstMeasured = checkpoints[0].delivered;
  const deadline = Date.now() + 15_000;
  while ((await delivered()) < served && Date.now() < deadline) await sleep(100);
  await point(served);
  const summaries = n.errorLog().split("\n").filter((l) => l.includes("moesif: summary:"));
  results.memory = {
    checkpoints, served: served - w0.requests, seconds, delivered: (await delivered()) - firstMeasured,
    summary: summaries.at(-1)?.replace(/^.*moesif: summary: /, "").replace(/, client:.*$/, "") ?? "(no summary line)",
  };
  await n.stop();
  n.cleanup();
  started.splice(started.indexOf(n), 1);
}

// ---------------------------------------------------------------- profile

async function profile(upstreamPorts: Record<Body, number>): Promise<void> {
  if (spawnSync("perf", ["--version"]).status !== 0) throw new Error("perf is not installed (Debian: apt-get install -y linux-perf)");
  if (args.has("--rebuild") || !existsSync(NAMES_WASM) || !existsSync(mods.moesif)) {
    say(`building ${NAMES_WASM} (release options, with the name section) …`);
    asc(["assembly/index.ts", "--target", "release", "--debug", "--outFile", NAMES_WASM]);
  }
  const vs = VARIANTS.filter((v) => ["ref-floor", "ref-moesif", "s0-ref", "big-moesif", "gz-moesif"].includes(v.key));
  const zones = vs.filter((v) => v.module === "moesif").map((v) => v.config!.kv_namespace as string);
  const conf = mainConf({
    workers: 1, pinned: true, modules: { moesif: abs(NAMES_WASM), readonly: abs(mods.readonly) },
    zones, zoneBytes: ZONE_BYTES, upstreamPorts, variants: vs, collectorPort: collector!.port, wasmtimeFlags: ["profiler perfmap"],
  });
  const n = await startNginx(binary!, conf, vs[0].port!, 1, 2);
  started.push(n);
  const pid = n.workerPids()[0];
  await checkVariants(vs);
  const jitMap = shareJitMap(n.masterPid!, pid);
  if (!jitMap) warnings.push("no /tmp/perf-<master pid>.map: Wasm frames show as addresses");
  const outDir = "build/bench/profile";
  mkdirSync(outDir, { recursive: true });
  console.log(`Profiles of the worker (perf record -F 2999 -g, ${C.profileSeconds - 1} s under load each; Wasm symbols from Wasmtime's perfmap of ${NAMES_WASM}, the release build with names).`);
  for (const v of vs) {
    await measure(v, [pid], 2, C.connections);
    const data = join(outDir, `${v.key}.perf.data`);
    const perf = spawn("perf", ["record", "-F", "2999", "-g", "-p", String(pid), "-o", data, "--", "sleep", String(C.profileSeconds - 1)], { stdio: "ignore" });
    // Listen now: perf may exit before the measurement (and its wait for delivery) ends.
    const perfDone = new Promise((r) => perf.once("exit", r));
    const s = await measure(v, [pid], C.profileSeconds, C.connections);
    await perfDone;
    const us = s.cpu / s.wrk.requests / 1000;
    const rep = spawnSync("perf", ["report", "-i", data, "--no-children", "--sort", "dso,sym", "--stdio", "--percent-limit", "0.3", "-g", "none"], { encoding: "utf8", maxBuffer: 64 << 20 });
    writeFileSync(join(outDir, `${v.key}.txt`), rep.stdout);
    console.log(`\n#### ${v.label}, ${BODY_LABEL[v.body]}: ${int(s.wrk.rps)} req/s, ${fmt(us)} µs worker CPU per request\n`);
    console.log(summarise(data, us).join("\n"));
  }
  if (jitMap) for (const f of [jitMap, `/tmp/perf-${n.masterPid}.map`]) rmSync(f, { force: true });
  say(`perf data and reports in ${outDir}/ (perf report -i <file> --no-children)`);
}

// ---------------------------------------------------------------- tick durations

/**
 * How long each on_tick holds the worker, under wrk load with the default config (only the
 * per-variant kv_namespace set): perf uprobes on entry and return of ngx_wasm_module's
 * ngx_proxy_wasm_filter_tick_handler (an exported symbol of the engine), one nginx per variant
 * so only the measured root ticks.
 */
async function ticks(upstreamPorts: Record<Body, number>): Promise<void> {
  const probe = (spec: string) => spawnSync("perf", ["probe", "-q", "-x", binary!, "-a", spec], { encoding: "utf8" });
  probe("kwm_tick_in=ngx_proxy_wasm_filter_tick_handler");
  probe("kwm_tick_out=ngx_proxy_wasm_filter_tick_handler%return");
  const events = "probe_nginx:kwm_tick_in,probe_nginx:kwm_tick_out__return";
  const outDir = "build/bench/ticks";
  mkdirSync(outDir, { recursive: true });
  console.log(`on_tick durations on the CPU (uprobes on ngx_proxy_wasm_filter_tick_handler, minus time switched out), one pinned worker, default config, wrk -c${C.connections} for ${C.profileSeconds} s:\n`);
  console.log("| response | req/s | ticks | p50 µs | p99 µs | p99.9 µs | max µs | ticks > 1 ms | events delivered |");
  console.log("|---|---:|---:|---:|---:|---:|---:|---:|---:|");
  for (const body of (process.env.TICK_BODIES ?? "ref,big").split(",") as Body[]) {
    const ns = `tick_${body}`;
    const v: Variant = { key: `tick-${body}`, label: "moesif", body, module: "moesif", config: { ...reference, kv_namespace: ns }, events: true };
    await assignPorts([v]);
    const conf = mainConf({
      workers: 1, pinned: true, modules: { moesif: abs(mods.moesif) }, zones: [ns], zoneBytes: ZONE_BYTES,
      upstreamPorts, variants: [v], collectorPort: collector!.port,
    });
    const n = await startNginx(binary!, conf, v.port!, 1, 1);
    started.push(n);
    const pid = n.workerPids()[0];
    await checkVariants([v]);
    await runWrk(wrkScript, v.port!, 1, C.connections);
    const data = join(outDir, `${v.key}.perf.data`);
    // System-wide sched_switch of the worker too: the machine may be shared, and time the
    // worker spent switched out inside a tick is not the tick's.
    const perf = spawn("perf", [
      "record", "-q", "-a", "-e", events, "-e", "sched:sched_switch", "--filter", `prev_pid == ${pid} || next_pid == ${pid}`,
      "-o", data, "--", "sleep", String(C.profileSeconds + 1),
    ], { stdio: "ignore" });
    const perfDone = new Promise((r) => perf.once("exit", r));
    await sleep(500);
    const s = await measure(v, [pid], C.profileSeconds, C.connections);
    await perfDone;
    const lines = spawnSync("perf", ["script", "-i", data, "-F", "time,event,trace"], { encoding: "utf8", maxBuffer: 256 << 20 }).stdout.split("\n");
    const d: number[] = [];
    let start = -1;
    let off = 0;
    let outAt = -1;
    for (const l of lines) {
      const m = /([\d.]+):\s+(?:probe_nginx:kwm_tick_(in|out)|sched:sched_switch:.*prev_pid=(\d+).*next_pid=(\d+))/.exec(l);
      if (!m) continue;
      const t = Number(m[1]) * 1e6;
      if (m[2] === "in") {
        start = t;
        off = 0;
      } else if (m[2] === "out") {
        if (start >= 0) d.push(t - start - off);
        start = -1;
      } else if (Number(m[3]) === pid) outAt = t;
      else if (Number(m[4]) === pid && outAt >= 0) {
        if (start >= 0) off += t - Math.max(outAt, start);
        outAt = -1;
      }
    }
    d.sort((a, b) => a - b);
    const q = (p: number) => (d.length ? d[Math.min(d.length - 1, Math.floor(p * d.length))] : NaN);
    console.log(`| ${BODY_LABEL[body]} | ${int(s.wrk.rps)} | ${int(d.length)} | ${fmt(q(0.5))} | ${fmt(q(0.99))} | ${fmt(q(0.999))} | ${fmt(d.at(-1) ?? NaN)} | ${int(d.filter((x) => x > 1000).length)} | ${s.delivered === null ? "" : `${int(s.delivered)} / ${int(s.wrk.requests)}`} |`);
    await n.stop();
    n.cleanup();
    started.splice(started.indexOf(n), 1);
  }
}

// ---------------------------------------------------------------- report

function report(): string {
  const s = results.single!;
  const perReq = (x: Sample) => x.cpu / x.wrk.requests / 1000;
  const byRound = (key: string) => s.get(key)!;
  md(`Run of ${new Date().toISOString()} — ${cpus()[0]?.model.trim()}, ${cpus().length} cores, engine ${binary}, `
    + `load average at the end ${loadavg().map((x) => x.toFixed(2)).join(" ")}; \`npm run bench:engine${args.size ? ` -- ${[...args].join(" ")}` : ""}\`, `
    + `${((performance.now() - t0) / 1000).toFixed(0)} s. ${C.rounds} rounds of ${C.seconds} s per variant, wrk -t1 -c${C.connections}.`);
  md();
  md("### One worker: throughput, latency, worker CPU");
  md();
  md("Median over rounds (min–max in brackets). Worker µs/request: the worker's CPU time over the window (its events' delivery "
    + "included) / requests. Added: minus nginx alone with the same response, in the same round. Ratios are taken within each round, then the median.");
  for (const body of ["ref", "big", "gz"] as Body[]) {
    const vs = VARIANTS.filter((v) => v.body === body);
    const alone = byRound(`${body}-none`);
    const floor = byRound(`${body}-floor`);
    md();
    md(`**${BODY_LABEL[body]}**`);
    md();
    md("| variant | req/s | p50 ms | p99 ms | p99.9 ms | worker µs/req | added µs/req | added / floor's | req/s / nginx alone | p99 / floor's p99 | delivered |");
    md("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|");
    for (const v of vs) {
      const xs = byRound(v.key);
      const added = xs.map((x, r) => perReq(x) - perReq(alone[r]));
      const floorAdded = floor.map((x, r) => perReq(x) - perReq(alone[r]));
      const ratio = (f: (x: Sample, r: number) => number) => spread(xs.map(f), "×");
      const delivered = v.events ? `${int(xs.reduce((a, x) => a + (x.delivered ?? 0), 0))} / ${int(xs.reduce((a, x) => a + x.wrk.requests, 0))}` : "";
      if (v.events && xs.some((x) => (x.delivered ?? 0) < x.wrk.requests)) warnings.push(`${v.key}: fewer events delivered than requests served in some rounds`);
      md(`| ${v.label} | ${spread(xs.map((x) => x.wrk.rps))} | ${fmt(median(xs.map((x) => x.wrk.p50 / 1000)))} | ${spread(xs.map((x) => x.wrk.p99 / 1000))} | ${fmt(median(xs.map((x) => x.wrk.p999 / 1000)))} `
        + `| ${spread(xs.map(perReq))} | ${v.module ? spread(added) : ""} | ${v.module && v.module !== "readonly" ? ratio((_, r) => added[r] / floorAdded[r]) : ""} `
        + `| ${v.module ? ratio((x, r) => x.wrk.rps / alone[r].wrk.rps) : ""} | ${v.module && v.module !== "readonly" ? ratio((x, r) => x.wrk.p99 / floor[r].wrk.p99) : ""} | ${delivered} |`);
      for (const x of xs) if (x.wrk.errors) warnings.push(`${v.key}: ${x.wrk.errors} wrk errors in a round (${x.wrk.errorDetail})`);
    }
  }
  const w = results.wide!;
  md();
  md("### Four workers (throughput)");
  md();
  md(`nginx with 4 workers, unpinned, wrk -t2 -c64 unpinned, ${C.wideRounds} rounds of ${C.seconds} s, reference request; the 2 cores are shared by the workers, wrk, the upstream and the collector.`);
  md();
  md("| variant | req/s | req/s / nginx alone | p99 ms | CPU µs/req (all workers) | delivered |");
  md("|---|---:|---:|---:|---:|---:|");
  const wAlone = w.get("ref-none")!;
  for (const key of WIDE) {
    const v = VARIANTS.find((x) => x.key === key)!;
    const xs = w.get(key)!;
    const delivered = v.events ? `${int(xs.reduce((a, x) => a + (x.delivered ?? 0), 0))} / ${int(xs.reduce((a, x) => a + x.wrk.requests, 0))}` : "";
    md(`| ${v.label} | ${spread(xs.map((x) => x.wrk.rps))} | ${key === "ref-none" ? "" : spread(xs.map((x, r) => x.wrk.rps / wAlone[r].wrk.rps), "×")} | ${fmt(median(xs.map((x) => x.wrk.p99 / 1000)))} | ${spread(xs.map(perReq))} | ${delivered} |`);
  }
  const m = results.memory!;
  const first = m.checkpoints[0];
  const last = m.checkpoints.at(-1)!;
  md();
  md("### End-to-end delivery, worker RSS and linear memory (one worker, moesif, reference request)");
  md();
  md(`${int(m.served)} requests after a ${int(first.requests)}-request warm-up in ${m.seconds.toFixed(1)} s of load (${int(m.served / m.seconds)} req/s); `
    + `the collector received ${int(m.delivered)} of their events (${int(m.delivered / m.seconds)} events/s while serving). The filter's last summary line: ${m.summary}.`);
  md();
  md(`Worker RSS ${mib(first.rss)} after the warm-up, ${mib(last.rss)} at the end (${last.rss >= first.rss ? "+" : ""}${mib(last.rss - first.rss)}); `
    + `linear memory ${mib(first.linear)} → ${mib(last.linear)} (read from the worker's mappings: the accessible part of Wasmtime's reservation).`);
  md();
  const step = Math.max(1, Math.floor(m.checkpoints.length / 8));
  md(`Checkpoints (requests: RSS / linear): ${m.checkpoints.filter((_, i) => i % step === 0 || i === m.checkpoints.length - 1).map((c) => `${int(c.requests)}: ${mib(c.rss)} / ${mib(c.linear)}`).join(", ")}.`);
  if (warnings.length) {
    md();
    md("Warnings:");
    const counted = new Map<string, number>();
    for (const x of warnings) counted.set(x, (counted.get(x) ?? 0) + 1);
    for (const [x, k] of counted) md(`- ${x}${k > 1 ? ` (${k} times)` : ""}`);
  }
  return out.join("\n");
}

function writeResults(text: string): void {
  const path = "BENCHMARKS.md";
  const doc = readFileSync(path, "utf8");
  const begin = "<!-- bench:engine:begin -->";
  const end = "<!-- bench:engine:end -->";
  const a = doc.indexOf(begin);
  const b = doc.indexOf(end);
  if (a < 0 || b < a) throw new Error(`${path} has no ${begin} … ${end} section`);
  writeFileSync(path, `${doc.slice(0, a + begin.length)}\n${text}\n${doc.slice(b)}`);
}

// ---------------------------------------------------------------- main

try {
  collector = await startCollector();
  const upstreamPorts = await upstreamUp();

  if (args.has("--profile")) {
    await profile(upstreamPorts);
  } else if (args.has("--ticks")) {
    await ticks(upstreamPorts);
  } else {
    await rounds(upstreamPorts);
    await wide(upstreamPorts);
    await memoryRun(upstreamPorts);
    const text = report();
    console.log(text);
    if (args.has("--write")) {
      writeResults(text);
      say("results written to BENCHMARKS.md");
    }
  }
} finally {
  await cleanup();
}
