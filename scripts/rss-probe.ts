// Worker memory under one collector fault (a dev tool for the soak's RSS question, not part of
// npm test): the engine with the filter, wrk load, a collector that answers one way, and each
// worker's RssAnon from /proc/<pid>/status every few seconds.
//   npx tsx scripts/rss-probe.ts --fault reset --seconds 60 --workers 1
// Options: --fault up|refuse|reset|503|429|timeout|slow|cycle, --seconds, --workers, --connections,
// --body (request body bytes: the event's size), --batch-max-bytes, --batch-size, --module (a
// .wasm built with other constants), --env NAME=VALUE (nginx `env` directive; repeatable),
// --port-base (three ports from it; default free ports), --no-filter.
import http from "node:http";
import { spawn } from "node:child_process";
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { renderNginxConf } from "../engine/conf.ts";
import { NginxProcess, sleep, until } from "../engine/nginx.ts";
import { freePort } from "../engine/ports.ts";
import { engineBinary, engineSkipReason } from "../engine/locate.ts";
import { RELEASE_WASM_PATH } from "../engine/gateway.ts";

function opt(name: string, def: string): string {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 ? process.argv[i + 1] : def;
}
function opts(name: string): string[] {
  const out: string[] = [];
  process.argv.forEach((a, i) => { if (a === `--${name}`) out.push(process.argv[i + 1]); });
  return out;
}
const FAULT = opt("fault", "reset");
const SECONDS = Number(opt("seconds", "60"));
const WORKERS = Number(opt("workers", "1"));
const CONNECTIONS = Number(opt("connections", "16"));
const BODY = Number(opt("body", "1024"));
const PORT_BASE = Number(opt("port-base", "0"));
const MODULE = opt("module", RELEASE_WASM_PATH);
const NO_FILTER = process.argv.includes("--no-filter");
/** One nginx process (master_process off), started through `--wrap` (e.g. a heaptrack script). */
const SINGLE = process.argv.includes("--single");
const WRAP = opt("wrap", "");
const extraConfig: Record<string, unknown> = {};
if (process.argv.includes("--batch-max-bytes")) extraConfig.batch_max_bytes = Number(opt("batch-max-bytes", "0"));
if (process.argv.includes("--batch-size")) extraConfig.batch_size = Number(opt("batch-size", "0"));

type Mode = "up" | "refuse" | "reset" | "503" | "429" | "timeout" | "slow";
function modeAt(ms: number): Mode {
  if (FAULT !== "cycle") return FAULT as Mode;
  const t = (ms / 1000) % 40; // the soak's cycle
  if (t < 12) return "up";
  if (t < 18) return "refuse";
  if (t < 24) return "up";
  if (t < 28) return "503";
  if (t < 32) return "429";
  if (t < 36) return "reset";
  return "up";
}

let started = Date.now();
const stats = { posts: 0, events: 0 };
const collector = http.createServer((req, res) => {
  const chunks: Buffer[] = [];
  req.on("data", (c: Buffer) => chunks.push(c));
  req.on("end", () => {
    const url = req.url ?? "";
    if (url.startsWith("/v1/config") || url.startsWith("/v1/rules")) return void res.writeHead(200, { "content-type": "application/json" }).end("{}");
    stats.posts++;
    const mode = modeAt(Date.now() - started);
    if (mode === "reset" || mode === "refuse") return void req.socket.destroy();
    if (mode === "503" || mode === "429") return void res.writeHead(Number(mode)).end();
    if (mode === "timeout") return; // never answers: the dispatch times out
    const answer = () => {
      stats.events += (Buffer.concat(chunks).toString("latin1").match(/"transaction_id"/g) ?? []).length;
      res.writeHead(202).end();
    };
    if (mode === "slow") setTimeout(answer, 1500);
    else answer();
  });
});
let listening = false;
async function listen(on: boolean, port: number): Promise<void> {
  if (on === listening) return;
  listening = on;
  if (on) await new Promise<void>((r) => collector.listen(port, "127.0.0.1", () => r()));
  else await new Promise<void>((r) => { collector.close(() => r()); collector.closeAllConnections(); });
}

function status(pid: number): Record<string, number> {
  try {
    const s = readFileSync(`/proc/${pid}/status`, "utf8");
    const kb = (k: string) => Number(new RegExp(`${k}:\\s+(\\d+) kB`).exec(s)?.[1] ?? NaN);
    return { rssAnon: kb("RssAnon"), rssShmem: kb("RssShmem"), vmData: kb("VmData") };
  } catch {
    return {};
  }
}

async function main(): Promise<void> {
  const bin = engineBinary();
  if (!bin) throw new Error(engineSkipReason() ?? "no engine");
  const cport = PORT_BASE ? PORT_BASE : await freePort();
  const port = PORT_BASE ? PORT_BASE + 1 : await freePort();
  const uport = PORT_BASE ? PORT_BASE + 2 : await freePort();
  await listen(modeAt(0) !== "refuse", cport);
  const config = { application_id: "probe", api_endpoint: `http://127.0.0.1:${cport}`, log_summary_interval_ms: 5000, queue_max_bytes: 64 << 20, event_queue_size: 400000, ...extraConfig };
  const nginx = new NginxProcess(WRAP || bin);
  const envLines = opts("env").map((e) => `env ${e};`).join("\n");
  let conf = renderNginxConf({
    workers: WORKERS,
    modules: NO_FILTER ? [] : [{ name: "moesif", path: MODULE }],
    zones: [{ name: "*", size: 160 << 20 }],
    listenPort: port,
    chain: NO_FILTER ? [] : [{ name: "moesif", config: JSON.stringify(config) }],
    upstreamPort: uport,
    upstreamKeepalive: 32,
    clientHeader: "x-probe",
    clientBodyBufferSize: 65536,
  });
  conf = conf.replace("daemon off;\n", `daemon off;\n${envLines}\n`);
  if (SINGLE) conf = conf.replace("master_process on;", "master_process off;");
  nginx.writeConf(conf);
  const upstream = new NginxProcess(bin);
  upstream.writeConf(`daemon off;\nworker_processes 1;\npid logs/nginx.pid;\nerror_log logs/error.log warn;\nevents { worker_connections 1024; }\nhttp { access_log off; client_body_temp_path temp/cb; server { listen 127.0.0.1:${uport}; keepalive_requests 100000; location / { default_type application/json; return 200 '{"ok":true,"items":[1,2,3]}'; } } }\n`);
  const body = JSON.stringify({ note: "x".repeat(Math.max(0, BODY - 12)) });
  const lua = join(nginx.prefix, "load.lua");
  writeFileSync(lua, `local n = 0\nrequest = function()\n  n = n + 1\n  return wrk.format("POST", "/orders/" .. n, {["Content-Type"] = "application/json", ["Host"] = "api.example"}, ${JSON.stringify(body)})\nend\n`);
  const samples: string[] = [];
  try {
    await upstream.start(uport);
    await nginx.start(port);
    if (!NO_FILTER) await until("workers", () => (nginx.errorLog().match(/successfully loaded "moesif" module/g)?.length ?? 0) >= WORKERS);
    started = Date.now();
    const wrk = spawn("wrk", ["-t1", `-c${CONNECTIONS}`, `-d${SECONDS}s`, "-s", lua, `http://127.0.0.1:${port}/`], { stdio: ["ignore", "pipe", "inherit"] });
    let wrkOut = "";
    wrk.stdout.on("data", (d: Buffer) => (wrkOut += d));
    const wrkDone = new Promise<void>((r) => wrk.once("exit", () => r()));
    let running = true;
    void wrkDone.then(() => (running = false));
    let lastSample = 0;
    while (running) {
      await sleep(250);
      const t = Date.now() - started;
      await listen(modeAt(t) !== "refuse", cport);
      if (t - lastSample >= 5000) {
        lastSample = t;
        const line = (SINGLE ? [nginx.masterPid ?? 0] : nginx.workerPids()).map((p) => { const s = status(p); return `${p}:${s.rssAnon}`; }).join(" ");
        samples.push(`t=${Math.round(t / 1000)}s ${line}`);
        console.log(`t=${Math.round(t / 1000)}s RssAnon KiB ${line} posts ${stats.posts} events ${stats.events}`);
      }
    }
    await wrkDone;
    const reqs = /(\d+) requests in/.exec(wrkOut)?.[1];
    const pids = nginx.workerPids();
    console.log(`fault ${FAULT}, ${WORKERS} workers, body ${BODY} B, ${JSON.stringify(extraConfig)}, env ${opts("env").join(",") || "-"}: ${reqs} requests; collector ${stats.posts} posts, ${stats.events} events accepted`);
    console.log(`end RssAnon KiB: ${pids.map((p) => `${p}:${status(p).rssAnon}`).join(" ")}; VmData KiB: ${pids.map((p) => `${p}:${status(p).vmData}`).join(" ")}`);
    const log = nginx.errorLog();
    const count = (re: RegExp) => (log.match(re) ?? []).length;
    console.log(`error log: "worker_connections are not enough" ${count(/worker_connections are not enough/g)} (${count(/not enough while connecting to upstream/g)} while connecting to upstream), "failed creating fake connection" ${count(/failed creating fake connection/g)}, "dispatch failed" ${count(/dispatch failed/g)}, traps ${count(/error while executing/g)}; wrk: ${/Non-2xx or 3xx responses: \d+/.exec(wrkOut)?.[0] ?? "no non-2xx responses"}, ${/Socket errors: .*/.exec(wrkOut)?.[0] ?? "no socket errors"}`);
    if (process.argv.includes("--hold")) {
      console.log(`holding; worker pids ${pids.join(" ")} (Ctrl-C to stop)`);
      await sleep(Number(opt("hold", "600")) * 1000);
    }
  } finally {
    await nginx.stop();
    await upstream.stop();
    await listen(false, cport);
    nginx.cleanup();
    upstream.cleanup();
  }
}

await main();
