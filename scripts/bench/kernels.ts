// `tsx scripts/bench/kernels.ts [--base FILE]... [--ms N] [--engine] [--only json|gunzip|crc32]`: throughput (MB/s, best of several
// rounds, CPU time) of the body pipeline's kernels — JSON validation/masked copy and gunzip —
// on the benchmark's bodies and on other realistic shapes, in Node's V8 (or with --engine in
// the engine's Wasmtime). bench/kernels.ts
// is built with the filter's release options (bench/asconfig.json). Prints one line per kernel and input;
// with --base (a kernels.wasm built earlier, e.g. from main) the modules take turns and
// the ratio of this build to the first base is shown.
import { spawnSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { setFlagsFromString } from "node:v8";
import { gzipSync } from "node:zlib";
import { asc } from "../asc.ts";
import { mulberry32 } from "../prng.ts";
import { gzipJson } from "./engine-fixtures.ts";
import { gzipJsonBody, jsonBody } from "./fixtures.ts";

const args = process.argv.slice(2);
const opt = (name: string): string[] => args.flatMap((a, i) => (a === name ? [args[i + 1]] : []));
const budgetMs = Number(opt("--ms")[0] ?? "300");
const KERNELS_WASM = "build/bench/kernels.wasm";
asc(["bench/kernels.ts", "--config", "bench/asconfig.json", "--outFile", KERNELS_WASM]);
const wasmPaths = [...opt("--base"), KERNELS_WASM];
// --engine: time under the engine's Wasmtime (Cranelift) instead of V8, through
// scripts/bench/wasmkern.c built with the system's C compiler against its libwasmtime.so.
const engine = args.includes("--engine") ? (process.env.KONG_WASM_ENGINE ?? "") : "";
if (args.includes("--engine") && !engine) throw new Error("--engine needs KONG_WASM_ENGINE (the engine's bin/nginx)");
const work = mkdtempSync(join(tmpdir(), "kernels-"));
process.on("exit", () => rmSync(work, { recursive: true, force: true }));
let harness = "";
if (engine) {
  const lib = join(dirname(dirname(engine)), "lib");
  harness = join(work, "wasmkern");
  const cc = spawnSync("cc", ["-O2", "-o", harness, "scripts/bench/wasmkern.c", `-L${lib}`, "-lwasmtime", `-Wl,-rpath,${lib}`], { encoding: "utf8" });
  if (cc.status !== 0) throw new Error(`building the Wasmtime harness failed:\n${cc.stderr}`);
}
// Optimised code from the start: Liftoff's baseline code and the tier-up would time V8's
// compiler rather than the module (the engine compiles everything with Cranelift up front).
setFlagsFromString("--no-liftoff");

const enc = new TextEncoder();
const r = mulberry32(7);
const pick = <T>(a: T[]): T => a[Math.floor(r() * a.length)];
const WORDS = ["alpha", "bravo", "charlie", "delta", "echo", "foxtrot", "golf", "hotel", "Zürich", "naïve", "東京"];

/** A GitHub-like list response: nested objects, URLs, nulls, booleans, ids, longer text. */
function apiList(n: number): unknown[] {
  return Array.from({ length: n }, (_, i) => ({
    id: 1_000_000 + i * 7919,
    node_id: `MDEwOlJlcG9zaXRvcnkx${i.toString(36)}`,
    name: `${pick(WORDS)}-${pick(WORDS)}`,
    full_name: `octo/${pick(WORDS)}`,
    private: r() > 0.8,
    owner: { login: "octo", id: 583231, avatar_url: "https://avatars.example.com/u/583231?v=4", type: "User", site_admin: false },
    html_url: `https://example.com/octo/repo-${i}`,
    description: r() > 0.3 ? `${pick(WORDS)} ${pick(WORDS)} service for the \"${pick(WORDS)}\" team — handles ${pick(WORDS)}\n` : null,
    fork: false,
    created_at: "2024-03-01T12:00:00Z",
    stargazers_count: Math.floor(r() * 5000),
    score: Math.round(r() * 1e6) / 1e3,
    topics: [pick(WORDS), pick(WORDS), pick(WORDS)],
    license: r() > 0.5 ? { key: "mit", name: "MIT License", spdx_id: "MIT" } : null,
  }));
}

/** Time series: arrays of numbers (floats, negatives, exponents). */
function series(n: number): unknown {
  return {
    metric: "latency_ms",
    points: Array.from({ length: n }, (_, i) => [1767225600 + i * 60, Math.round(r() * 1e5) / 1e3, -r() * 10, r() * 1e-7]),
  };
}

const bodies: Array<[string, Uint8Array]> = [
  ["fixture 100 KB", jsonBody(100_000, 3)],
  ["api list, compact", enc.encode(JSON.stringify(apiList(200)))],
  ["api list, indented", enc.encode(JSON.stringify(apiList(200), null, 2))],
  ["number series", enc.encode(JSON.stringify(series(2000)))],
];
const gz = gzipJsonBody(10 * 1024, 4);
const egz = gzipJson(10 * 1024, 4);
const gzips: Array<[string, Uint8Array, number]> = [
  ["fixture 10 KB gzip", gz.gz, gz.raw],
  ["engine 10 KB gzip", new Uint8Array(egz.gz), egz.raw],
  ["api list gzip", new Uint8Array(gzipSync(bodies[1][1])), bodies[1][1].length],
  ["indented gzip", new Uint8Array(gzipSync(bodies[2][1])), bodies[2][1].length],
  ["2 KB JSON gzip", new Uint8Array(gzipSync(jsonBody(2048, 5))), 2048],
];

type Kernels = Record<string, (...a: number[]) => number> & { memory: WebAssembly.Memory };
const modules = wasmPaths.map((path) => {
  const k = new WebAssembly.Instance(new WebAssembly.Module(readFileSync(path)), {}).exports as unknown as Kernels;
  k._initialize();
  return k;
});

function load(k: Kernels, bytes: Uint8Array): void {
  const p = k.inputBuffer(bytes.length);
  new Uint8Array(k.memory.buffer, p, bytes.length).set(bytes);
}

/** CPU time of this process in ms: on a shared machine, time off the CPU is not the kernel's. */
const cpuMs = (): number => {
  const u = process.cpuUsage();
  return (u.user + u.system) / 1e3;
};

/**
 * Best MB/s (of `bytes` per rep) of each module over rounds of about 5 ms CPU within the
 * time budget; the modules take turns, so they see the same machine.
 */
function measure(bytes: number, run: (k: Kernels, reps: number) => void): number[] {
  let reps = 1;
  for (;;) {
    const t = cpuMs();
    run(modules[0], reps);
    if (cpuMs() - t > 5) break;
    reps *= 2;
  }
  const best = modules.map(() => Infinity);
  const stop = performance.now() + budgetMs * modules.length;
  while (performance.now() < stop) {
    modules.forEach((k, i) => {
      const t = cpuMs();
      run(k, reps);
      best[i] = Math.min(best[i], (cpuMs() - t) / reps);
    });
  }
  return best.map((b) => bytes / 1e6 / (b / 1e3));
}

/** Best MB/s of each module under Wasmtime (the harness takes turns the same way). */
function measureEngine(kernel: string, input: Uint8Array, bytes: number): number[] {
  const file = join(work, "input");
  writeFileSync(file, input);
  const r = spawnSync(harness, [String(budgetMs), kernel, file, ...wasmPaths], { encoding: "utf8" });
  if (r.status !== 0) throw new Error(`wasmkern ${kernel}: ${r.stderr}`);
  return r.stdout.trim().split(" ").map((ns) => bytes / 1e6 / (Number(ns) / 1e9));
}

const only = opt("--only")[0];
const line = (kernel: string, name: string, bytes: number, mbs: number[]): void => {
  const cols = mbs.map((m) => `${m.toFixed(0).padStart(6)} MB/s ${(1e3 / m).toFixed(2).padStart(5)} ns/B`);
  const ratio = mbs.length > 1 ? `  x${(mbs[mbs.length - 1] / mbs[0]).toFixed(2)}` : "";
  console.log(`${kernel.padEnd(12)} ${name.padEnd(20)} ${String(bytes).padStart(7)} B ${cols.join("  ")}${ratio}`);
};

console.log(`modules: ${wasmPaths.join(", ")}${wasmPaths.length > 1 ? " (ratio: last/first)" : ""}; ${engine ? "Wasmtime" : "V8"}`);
for (const [name, body] of only && only !== "json" ? [] : bodies) {
  for (const k of modules) {
    load(k, body);
    if (k.json(body.length, 1, 0) !== body.length) throw new Error(`${name}: not copied whole`);
    if (k.json(body.length, 1, 1) < 0) throw new Error(`${name}: invalid`);
  }
  if (engine) {
    for (const kernel of ["validate", "copy", "masked"]) line(kernel, name, body.length, measureEngine(kernel, body, body.length));
    continue;
  }
  line("validate", name, body.length, measure(body.length, (k, n) => k.validate(body.length, n)));
  line("copy", name, body.length, measure(body.length, (k, n) => k.json(body.length, n, 0)));
  line("masked", name, body.length, measure(body.length, (k, n) => k.json(body.length, n, 1)));
}
for (const [name, body, raw] of only && only !== "gunzip" ? [] : gzips) {
  for (const k of modules) {
    load(k, body);
    if (k.gunzip(body.length, 1) !== raw) throw new Error(`${name}: gunzip failed`);
  }
  line("gunzip", name, raw, engine ? measureEngine("gunzip", body, raw) : measure(raw, (k, n) => k.gunzip(body.length, n)));
}
const [crcName, crcBody] = bodies[0];
for (const k of modules) load(k, crcBody);
if (!only || only === "crc32") line("crc32", crcName, crcBody.length, engine ? measureEngine("crc", crcBody, crcBody.length) : measure(crcBody.length, (k, n) => k.crc(crcBody.length, n)));
