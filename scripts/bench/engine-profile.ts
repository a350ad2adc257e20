// Summaries of `perf record -g` profiles of the measured worker (`npm run bench:engine --
// --profile`). Wasmtime writes its JIT symbols to /tmp/perf-<pid>.map of the process that
// compiled the module: the nginx master, before it forks the worker. Self time is grouped
// by what the code does; the filter's exports get inclusive (children) time over Wasm frames
// only, since nginx is built without frame pointers: time inside host functions (shared data,
// header maps, dispatch) is counted in the host groups, not under the export that called them.
import { copyFileSync, existsSync } from "node:fs";
import { spawnSync } from "node:child_process";

/** Makes the master's JIT map visible under the worker's pid (perf looks up /tmp/perf-<pid>.map). */
export function shareJitMap(masterPid: number, workerPid: number): string | null {
  const from = `/tmp/perf-${masterPid}.map`;
  const to = `/tmp/perf-${workerPid}.map`;
  if (!existsSync(from)) return null;
  copyFileSync(from, to);
  return to;
}

const GROUPS: Array<[string, (dso: string, sym: string) => boolean]> = [
  ["filter Wasm: JSON scan/validate/write (bodies, headers, event)", (d, s) => d.startsWith("[JIT]") && /\/json\//.test(s)],
  ["filter Wasm: header maps (index, lookups, JSON of headers)", (d, s) => d.startsWith("[JIT]") && /headermap|\/headers\//.test(s)],
  ["filter Wasm: event assembly (event.ts, uri, identity/JWT, base64, bytes)", (d, s) => d.startsWith("[JIT]") && /moesif\/(event|uri|identity|clientip|body)|lib\/(bytes|base64)/.test(s)],
  ["filter Wasm: shm queue (keys, slots, cas)", (d, s) => d.startsWith("[JIT]") && /moesif\/queue/.test(s)],
  ["filter Wasm: sender/batching", (d, s) => d.startsWith("[JIT]") && /filter\/sender/.test(s)],
  ["filter Wasm: inflate + CRC-32", (d, s) => d.startsWith("[JIT]") && /lib\/(inflate|checksum)/.test(s)],
  ["filter Wasm: deflate", (d, s) => d.startsWith("[JIT]") && /lib\/deflate/.test(s)],
  ["filter Wasm: allocator + GC (~lib/rt)", (d, s) => d.startsWith("[JIT]") && /~lib\/rt\//.test(s)],
  ["filter Wasm: other", (d) => d.startsWith("[JIT]")],
  ["host: shm KV + slab + locks", (d, s) => d === "nginx" && /ngx_wa_shm|ngx_slab|ngx_shmtx|ngx_rwlock/.test(s)],
  ["host: proxy-wasm/wavm glue in nginx", (d, s) => d === "nginx" && /ngx_(proxy_wasm|wavm|wasm|http_wasm|wa_|wrt)/.test(s)],
  ["host: Wasmtime runtime (calls, trampolines, export lookup)", (d) => d.startsWith("libwasmtime")],
  ["nginx (HTTP, proxy, pools, logging)", (d) => d === "nginx"],
  ["libc (memcpy/memset, malloc/free)", (d) => d.startsWith("libc")],
  ["kernel (TCP, epoll, syscalls)", (d) => d.startsWith("[kernel")],
  ["other", () => true],
];

const EXPORTS = /proxy_on_(context_create|request_headers|request_body|response_headers|response_body|log|done|delete|tick|http_call_response)$/;
const INNER = /(writeEvent|SharedQueue#(enqueue|claim|read|release|finish)|Sender#(tick|settle)|inflate(Gzip|Zlib)|deflate\w*|crc32|collectGarbage|__collect)$/;

function report(data: string, extra: string[]): string[] {
  const r = spawnSync("perf", ["report", "-i", data, "--stdio", "-g", "none", "--percent-limit", "0", ...extra], { encoding: "utf8", maxBuffer: 256 << 20 });
  return r.stdout.split("\n").filter((l) => l.trim() && !l.startsWith("#"));
}

/** Markdown lines: self time by group and Wasm-inclusive time of the exports, in % and µs per request. */
export function summarise(data: string, usPerRequest: number): string[] {
  const groups = new Map<string, number>(GROUPS.map(([g]) => [g, 0]));
  for (const l of report(data, ["--no-children", "--sort", "dso,sym"])) {
    const m = /^\s*([\d.]+)%\s+(\S+(?: tid \d+)?)\s+\[.\]\s+(.*)$/.exec(l);
    if (!m) continue;
    const [, pct, dso, sym] = m;
    const g = GROUPS.find(([, f]) => f(dso, sym.trim()))![0];
    groups.set(g, groups.get(g)! + Number(pct));
  }
  const out = ["| group (self time) | share | µs/req |", "|---|---:|---:|"];
  for (const [g, p] of groups) if (p >= 0.05) out.push(`| ${g} | ${p.toFixed(1)} % | ${((p / 100) * usPerRequest).toFixed(1)} |`);
  out.push("", "| filter function (inclusive over Wasm frames) | share | µs/req |", "|---|---:|---:|");
  for (const l of report(data, ["--children", "--sort", "sym"])) {
    const m = /^\s*([\d.]+)%\s+([\d.]+)%\s+\[.\]\s+(.*)$/.exec(l);
    if (!m) continue;
    const name = m[3].trim();
    if (!EXPORTS.test(name) && !INNER.test(name)) continue;
    const p = Number(m[1]);
    if (p < 0.05) continue;
    out.push(`| ${name.replace(/^.*\//, "")} | ${p.toFixed(1)} % | ${((p / 100) * usPerRequest).toFixed(1)} |`);
  }
  return out;
}
