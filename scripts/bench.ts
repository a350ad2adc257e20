// `npm run bench`: the SPEC §11 measurements in one run — per-request filter time against a
// no-op and a read-only filter built with the same toolchain, the Lua anchors, tick/flush
// cost, delivery throughput, linear memory over many requests, module size and payload
// compression. Prints Markdown; `--write` also puts it into BENCHMARKS.md.
// Flags: --quick (smaller counts, 100,000 requests for memory), --write, --rebuild.
import { statSync } from "node:fs";
import { runCompression } from "./bench/compression.ts";
import { runScenario, type Scenario, type ScenarioResult } from "./bench/cpu.ts";
import { runDelivery } from "./bench/delivery.ts";
import {
  benchConfig, gzipJsonBody, gzipResponse, jsonBody, jsonResponse, referenceRequest,
} from "./bench/fixtures.ts";
import { runMemory } from "./bench/memory.ts";
import { ensureModules } from "./bench/modules.ts";
import { machine, render, writeResults, type Report } from "./bench/report.ts";

const args = new Set(process.argv.slice(2));
for (const a of args) {
  if (!["--quick", "--write", "--rebuild"].includes(a)) {
    console.error(`unknown option ${a}; usage: tsx scripts/bench.ts [--quick] [--write] [--rebuild]`);
    process.exit(2);
  }
}
const quick = args.has("--quick");

const COUNTS = quick
  ? { refWarm: 1000, ref: 5000, bigWarm: 100, big: 500, delivery: 5000, memory: 100_000 }
  : { refWarm: 2000, ref: 20_000, bigWarm: 200, big: 2000, delivery: 20_000, memory: 1_000_000 };

let lastProgress = 0;
function progress(line: string): void {
  const now = Date.now();
  if (now - lastProgress < 2000) return;
  lastProgress = now;
  process.stderr.write(`  ${line}\n`);
}
const say = (line: string): void => void process.stderr.write(`${line}\n`);
const bytes = (n: number): string => `${n.toLocaleString("en-US")} B`;

const t0 = performance.now();
const mods = await ensureModules(args.has("--rebuild"), say);

// A pool of distinct requests (users, paths, ids), built once: the loop should cost the
// emulator as little as possible.
const POOL = 1000;
const withJwt = Array.from({ length: POOL }, (_, i) => referenceRequest(i, true));
const noJwt = Array.from({ length: POOL }, (_, i) => referenceRequest(i, false));
const refRequest = (i: number) => withJwt[i % POOL];
const refResponse = jsonResponse(jsonBody(1024, 2));
const big = jsonResponse(jsonBody(100_000, 3));
const gz = gzipJsonBody(10 * 1024, 4);

const config = benchConfig("http://collector.test:80");
const moesif = { name: "moesif", wasm: mods.moesif };
const readonly = { name: "readonly", wasm: mods.readonly };
const noop = { name: "noop", wasm: mods.noop };
const moesifNoJwt = { name: "moesif, no JWT", wasm: mods.moesif, request: (i: number) => noJwt[i % POOL] };
const moesifAndFloor = [moesif, readonly];
const scenarios: Scenario[] = [
  { name: "reference", request: refRequest, response: refResponse, filters: [moesif, moesifNoJwt, readonly, noop], config, warmup: COUNTS.refWarm, measured: COUNTS.ref, block: 1000, perTick: 100 },
  { name: "100 KB JSON response", request: refRequest, response: big, filters: moesifAndFloor, config, warmup: COUNTS.bigWarm, measured: COUNTS.big, block: 250, perTick: 5 },
  { name: "10 KB gzip JSON response", request: refRequest, response: gzipResponse(gz.gz), filters: moesifAndFloor, config, warmup: COUNTS.bigWarm, measured: COUNTS.big, block: 250, perTick: 5 },
];

const warnings: string[] = [];
const results: ScenarioResult[] = [];
for (const s of scenarios) {
  say(`per-request time: ${s.name} (${s.filters.map((f) => f.name).join(", ")}; ${s.warmup} warm-up + ${s.measured} measured)`);
  const r = await runScenario(s, progress);
  results.push(r);
  for (const f of r.filters) {
    if (f.delivered !== null && f.delivered !== f.sent) warnings.push(`${s.name}/${f.filter}: ${f.delivered} of ${f.sent} events delivered`);
    for (const p of new Set(f.problems)) warnings.push(`${s.name}/${f.filter}: ${p}`);
  }
}

say(`delivery throughput: ${COUNTS.delivery} events`);
const delivery = await runDelivery(COUNTS.delivery, refRequest, refResponse, mods.moesif, say);
for (const p of new Set(delivery.problems)) warnings.push(`delivery: ${p}`);

say(`linear memory: ${COUNTS.memory} requests`);
const memory = await runMemory(COUNTS.memory, refRequest, refResponse, mods.moesif, progress);
for (const p of new Set(memory.problems)) warnings.push(`memory: ${p}`);

say("payload compression");
const compression = await runCompression(mods.moesif);
for (const p of new Set(compression.problems)) warnings.push(`compression: ${p}`);

const report: Report = {
  machine: machine(),
  command: `npm run bench${args.size ? ` -- ${[...args].join(" ")}` : ""}`,
  seconds: (performance.now() - t0) / 1000,
  scenarios: results,
  bodies: `Bodies: reference ${bytes(refResponse.body!.length)} of JSON each way; 100 KB: a ${bytes(big.body!.length)} JSON response; `
    + `10 KB gzip: ${bytes(gz.gz.length)} on the wire, ${bytes(gz.raw)} of JSON inflated.`,
  delivery,
  memory,
  sizes: [
    { name: "moesif", path: mods.moesif, bytes: statSync(mods.moesif).size },
    { name: "readonly", path: mods.readonly, bytes: statSync(mods.readonly).size },
    { name: "noop", path: mods.noop, bytes: statSync(mods.noop).size },
  ],
  compression,
  warnings,
};
const markdown = render(report);
console.log(markdown);
if (args.has("--write")) {
  writeResults("BENCHMARKS.md", markdown);
  say("results written to BENCHMARKS.md");
}
