// Formats one benchmark run as Markdown (printed, and written into BENCHMARKS.md between
// the results markers by --write).
import { readFileSync, writeFileSync } from "node:fs";
import { cpus } from "node:os";
import type { CompressionResult } from "./compression.ts";
import type { ScenarioResult, FilterTiming } from "./cpu.ts";
import type { DeliveryResult } from "./delivery.ts";
import type { MemoryResult } from "./memory.ts";
import { REQUEST_EXPORTS, FLUSH_EXPORTS } from "./subject.ts";

export const BEGIN = "<!-- bench:results:begin -->";
export const END = "<!-- bench:results:end -->";

export interface Machine {
  cpu: string;
  cores: number;
  node: string;
  date: string;
  load: string;
}

export interface Report {
  machine: Machine;
  command: string;
  seconds: number;
  scenarios: ScenarioResult[];
  /** One line describing the body sizes of the scenarios. */
  bodies: string;
  delivery: DeliveryResult;
  memory: MemoryResult;
  sizes: Array<{ name: string; path: string; bytes: number }>;
  compression: CompressionResult;
  warnings: string[];
}

export function machine(): Machine {
  let cpu = cpus()[0]?.model ?? "unknown";
  try {
    const m = /^model name\s*:\s*(.*)$/m.exec(readFileSync("/proc/cpuinfo", "utf8"));
    if (m) cpu = m[1].trim();
  } catch {
    // Not Linux: os.cpus() has the model.
  }
  let load = "";
  try {
    load = readFileSync("/proc/loadavg", "utf8").split(" ").slice(0, 3).join(" ");
  } catch {
    load = "n/a";
  }
  return { cpu, cores: cpus().length, node: process.version, date: new Date().toISOString(), load };
}

/** Lua plugin anchors (SPEC §11), µs per request, by "scenario / filter"; the target is a tenth. */
export const ANCHORS: Record<string, number> = {
  "reference / moesif": 206,
  "reference / moesif, no JWT": 35,
  "100 KB JSON response / moesif": 1000,
  "10 KB gzip JSON response / moesif": 1000,
};

const us = (n: number): string => (n >= 100 ? n.toFixed(0) : n >= 10 ? n.toFixed(1) : n.toFixed(2));
const x = (n: number): string => `${n.toFixed(2)}×`;
const kib = (n: number): string => `${(n / 1024).toFixed(1)} KiB`;
const mib = (n: number): string => `${(n / 1048576).toFixed(2)} MiB`;
const num = (n: number): string => Math.round(n).toLocaleString("en-US");
const short = (e: string): string => e.replace(/^proxy_on_/, "");

function find(r: ScenarioResult | undefined, filter: string): FilterTiming | undefined {
  return r?.filters.find((f) => f.filter === filter);
}

/** Every moesif row (variants included) with its scenario. */
function moesifRows(r: Report): Array<{ s: ScenarioResult; f: FilterTiming }> {
  return r.scenarios.flatMap((s) => s.filters.filter((f) => f.filter.startsWith("moesif")).map((f) => ({ s, f })));
}

export function render(r: Report): string {
  const L: string[] = [];
  const m = r.machine;
  L.push(`Run of ${m.date} — ${m.cpu}, ${m.cores} cores, Node ${m.node}, load average at the end ${m.load}; `
    + `\`${r.command}\`, ${r.seconds.toFixed(0)} s.`);
  L.push("");
  L.push("### Per-request filter time");
  L.push("");
  L.push("µs per request inside the request-path exports (context create, request headers/body, response");
  L.push("headers/body, done, log, delete), host calls included; mean = total / requests, median and p99 over");
  L.push("per-request samples. Lua anchor: the Lua plugin's own code under LuaJIT on the reference machine.");
  L.push("");
  L.push(r.bodies);
  L.push("");
  L.push("| scenario | filter | requests | mean | median | p99 | Lua anchor | target (anchor / 10) |");
  L.push("|---|---|---:|---:|---:|---:|---:|---:|");
  for (const s of r.scenarios) {
    for (const f of s.filters) {
      const anchor = ANCHORS[`${s.scenario} / ${f.filter}`];
      const a = anchor ? `${anchor}` : "";
      const t = anchor ? `${us(anchor / 10)}` : "";
      L.push(`| ${s.scenario} | ${f.filter} | ${num(f.requests)} | ${us(f.mean)} | ${us(f.median)} | ${us(f.p99)} | ${a} | ${t} |`);
    }
  }
  L.push("");
  L.push("Ratios, same run (goal: moesif ≤ 1.5× read-only on the reference request):");
  L.push("");
  L.push("| scenario | filter | / read-only (mean) | / read-only (median) | / noop (mean) | / noop (median) |");
  L.push("|---|---|---:|---:|---:|---:|");
  for (const { s, f: mo } of moesifRows(r)) {
    const ro = find(s, "readonly");
    const no = find(s, "noop");
    const cell = (a: number, b: number | undefined): string => (b ? x(a / b) : "");
    L.push(`| ${s.scenario} | ${mo.filter} | ${cell(mo.mean, ro?.mean)} | ${cell(mo.median, ro?.median)} | ${cell(mo.mean, no?.mean)} | ${cell(mo.median, no?.median)} |`);
  }
  L.push("");

  L.push("### Per-export breakdown (µs per request: mean / median, mean share)");
  L.push("");
  const rows = moesifRows(r);
  L.push(`| export | ${rows.map(({ s, f }) => `${f.filter}: ${s.scenario}`).join(" | ")} | read-only: reference | noop: reference |`);
  L.push(`|---|${rows.map(() => "---:").join("|")}|---:|---:|`);
  const ref = r.scenarios.find((s) => s.scenario === "reference");
  for (const e of REQUEST_EXPORTS) {
    const cells = rows.map(({ f }) => {
      const p = f.perExport[e];
      const share = f.mean > 0 ? ` (${((100 * p.us) / f.mean).toFixed(0)}%)` : "";
      return `${us(p.us)} / ${us(p.median)}${share}`;
    });
    const ro = find(ref, "readonly");
    const no = find(ref, "noop");
    const cell = (f: FilterTiming | undefined): string => (f ? `${us(f.perExport[e].us)} / ${us(f.perExport[e].median)}` : "");
    L.push(`| ${short(e)} | ${cells.join(" | ")} | ${cell(ro)} | ${cell(no)} |`);
  }
  L.push("");

  L.push("### Tick / flush (reported apart from the request)");
  L.push("");
  L.push("µs per event sent, on_tick (claim a batch from shared data, dispatch it) plus on_http_call_response");
  L.push("(settle the batch), during the measured requests of each scenario; batches of up to 200 events.");
  L.push("");
  L.push("| scenario | filter | events sent | tick + callback per event | on_tick | on_http_call_response | delivered / sent |");
  L.push("|---|---|---:|---:|---:|---:|---:|");
  for (const { s, f } of rows) {
    const per = f.flushPerEvent === null ? "n/a" : us(f.flushPerEvent);
    const d = f.delivered === null ? "" : `${num(f.delivered)} / ${num(f.sent)}`;
    L.push(`| ${s.scenario} | ${f.filter} | ${num(f.eventsSent)} | ${per} | ${us(f.flushPerExport[FLUSH_EXPORTS[0]].us)} | ${us(f.flushPerExport[FLUSH_EXPORTS[1]].us)} | ${d} |`);
  }
  L.push("");

  const d = r.delivery;
  L.push("### Delivery throughput (one worker, loopback HTTP collector in a child process)");
  L.push("");
  L.push("| run | events | wall time | events/s | ticks |");
  L.push("|---|---:|---:|---:|---:|");
  L.push(`| requests + delivery (first request to last event received) | ${num(d.events)} | ${d.endToEnd.seconds.toFixed(2)} s | ${num(d.endToEnd.perSecond)} | ${num(d.endToEnd.ticks)} |`);
  L.push(`| send path only (events queued first) | ${num(d.events)} | ${d.sendOnly.seconds.toFixed(2)} s | ${num(d.sendOnly.perSecond)} | ${num(d.sendOnly.ticks)} |`);
  L.push("");
  L.push("The virtual clock runs ticks back to back (each waits for its dispatches to be answered), so these rates are what the filter, ");
  L.push("the emulated host and the loopback sustain; the requests + delivery rate includes the emulator's own per-request cost. ");
  L.push(`The filter's share of the send path (on_tick + on_http_call_response, host calls included): ${us(d.sendOnly.filterUsPerEvent)} µs per event, `);
  L.push(`i.e. at most ${num(1e6 / d.sendOnly.filterUsPerEvent)} events/s of one worker's CPU. `);
  L.push(`One tick sent at most ${d.sendOnly.maxBatchesPerTick} batches of 200 events (batch_size default): at the real 100 ms tick `);
  L.push(`period that caps one worker at ${num(d.sendOnly.maxBatchesPerTick * 200 * 10)} events/s, whatever the CPU.`);
  L.push("");

  const mem = r.memory;
  L.push("### Linear memory");
  L.push("");
  L.push(`${num(mem.requests)} reference requests (${mem.seconds.toFixed(0)} s, ${num(mem.batches)} batches delivered): `
    + `${mib(mem.afterWarmup)} after ${num(mem.checkpoints[0][0])} requests, ${mib(mem.end)} at the end; growth ${mib(mem.growth)} `
    + `(target: flat ± 1 MiB) — ${Math.abs(mem.growth) <= 1048576 ? "within target" : "OVER TARGET"}.`);
  L.push("");
  L.push(`Checkpoints: ${mem.checkpoints.map(([n, b]) => `${num(n)}: ${mib(b)}`).join(", ")}.`);
  L.push("");

  L.push("### Module size");
  L.push("");
  L.push("| module | bytes | size | target |");
  L.push("|---|---:|---:|---|");
  for (const s of r.sizes) L.push(`| ${s.name} (\`${s.path}\`) | ${num(s.bytes)} | ${kib(s.bytes)} | ${s.name === "moesif" ? (s.bytes <= 100_000 ? "≤ 100,000 B: met" : "≤ 100,000 B: NOT MET") : ""} |`);
  L.push("");

  const c = r.compression;
  L.push("### Payload compression (enable_compression)");
  L.push("");
  L.push(`One batch of ${c.events} varied events: ${num(c.rawBytes)} B raw → ${num(c.compressedBytes)} B deflated by the filter `
    + `(${(100 * c.ratio).toFixed(1)}% of raw, ${(1 / c.ratio).toFixed(1)}:1); zlib level 6 on the same text: ${num(c.zlib6Bytes)} B `
    + `(${((100 * c.zlib6Bytes) / c.rawBytes).toFixed(1)}%). Tick + callback per event: ${us(c.flushPerEventOff)} µs uncompressed, `
    + `${us(c.flushPerEventOn)} µs compressed.`);
  if (r.warnings.length > 0) {
    L.push("");
    L.push("### Warnings");
    L.push("");
    for (const w of r.warnings) L.push(`- ${w}`);
  }
  return L.join("\n");
}

/** Replaces the results section of BENCHMARKS.md (between the markers). */
export function writeResults(file: string, markdown: string): void {
  const text = readFileSync(file, "utf8");
  const a = text.indexOf(BEGIN);
  const b = text.indexOf(END);
  if (a < 0 || b < a) throw new Error(`${file}: results markers ${BEGIN} … ${END} not found`);
  writeFileSync(file, `${text.slice(0, a + BEGIN.length)}\n${markdown}\n${text.slice(b)}`);
}
