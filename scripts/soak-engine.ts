// Soak in Kong's engine (`npm run soak:engine`, not part of npm test; needs KONG_WASM_ENGINE).
// 4 workers, keep-alive clients with several requests in flight, varied request shapes; the
// collector cycles through up, down (port closed), 503 and 429 bursts and connection resets;
// a random worker is SIGKILLed every ~30 s. At the end, with the collector up, the queue drains
// and the run prints: requests, events sent (filter summaries), delivered, duplicated, missing,
// dropped by reason, traps, failed proxied requests, worker RSS over time.
// Options: --seconds N (load phase, default 300), --connections N (default 24), --min-requests N (default 200000).
import http from "node:http";
import { connect, type Socket, type AddressInfo } from "node:net";
import { chmodSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { execFileSync } from "node:child_process";
import { renderNginxConf } from "../engine/conf.ts";
import { NginxProcess, sleep, until } from "../engine/nginx.ts";
import { freePort } from "../engine/ports.ts";
import { engineBinary, engineSkipReason } from "../engine/locate.ts";
import { RELEASE_WASM_PATH } from "../engine/gateway.ts";
import { DEFAULT_CONFIG_FILE, DEFAULT_RULES_FILE } from "../local/collector.ts";

function arg(name: string, def: number): number {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 ? Number(process.argv[i + 1]) : def;
}
const LOAD_S = arg("seconds", 300);
const CONNECTIONS = arg("connections", 24);
const MIN_REQUESTS = arg("min-requests", 200_000);
const HARD_STOP_S = 8 * 60 - 75; // the load phase never outlasts this (drain and report follow)
const KILL_EVERY_MS = 30_000;
const WORKERS = 4;

// ---- collector: a fault schedule over a 40 s cycle

type Mode = "up" | "down" | "503" | "429" | "reset";
function modeAt(ms: number): Mode {
  const t = (ms / 1000) % 40;
  if (t < 12) return "up";
  if (t < 18) return "down";
  if (t < 24) return "up";
  if (t < 28) return "503";
  if (t < 32) return "429";
  if (t < 36) return "reset";
  return "up";
}

const deliveries = new Map<string, number>();
const collectorStats = { batches: 0, accepted: 0, refused5xx: 0, refused429: 0, resets: 0 };
let forcedMode: Mode | null = null;
let started = 0;
const appConfig = readFileSync(DEFAULT_CONFIG_FILE);
const rules = readFileSync(DEFAULT_RULES_FILE);

const collector = http.createServer((req, res) => {
  const chunks: Buffer[] = [];
  req.on("data", (c: Buffer) => chunks.push(c));
  req.on("end", () => {
    const url = req.url ?? "";
    if (url.startsWith("/v1/config")) return void res.writeHead(200, { "content-type": "application/json" }).end(appConfig);
    if (url.startsWith("/v1/rules")) return void res.writeHead(200, { "content-type": "application/json" }).end(rules);
    collectorStats.batches++;
    const mode = forcedMode ?? modeAt(Date.now() - started);
    if (mode === "reset" || mode === "down") {
      collectorStats.resets++;
      return void req.socket.destroy();
    }
    if (mode === "503" || mode === "429") {
      if (mode === "503") collectorStats.refused5xx++;
      else collectorStats.refused429++;
      return void res.writeHead(Number(mode)).end();
    }
    let events: Array<{ transaction_id?: string }>;
    try {
      events = JSON.parse(Buffer.concat(chunks).toString("utf8"));
    } catch {
      return void res.writeHead(400).end();
    }
    collectorStats.accepted++;
    for (const e of events) {
      const id = e.transaction_id ?? "?";
      deliveries.set(id, (deliveries.get(id) ?? 0) + 1);
    }
    res.writeHead(202).end();
  });
});
let collectorPort = 0;
let collectorListening = false;
async function setCollectorListening(on: boolean): Promise<void> {
  if (on === collectorListening) return;
  collectorListening = on;
  if (on) await new Promise<void>((r) => collector.listen(collectorPort, "127.0.0.1", () => r()));
  else await new Promise<void>((r) => { collector.close(() => r()); collector.closeAllConnections(); });
}

// ---- request shapes (the upstream is an nginx server block in the same engine)

interface Shape { method: string; path: (n: number) => string; body: (n: number) => string; status: number; headers?: Array<[string, string]> }
const pad = (n: number) => "x".repeat(n);
const SHAPES: Shape[] = [
  { method: "GET", path: (n) => `/json/items/${n}?page=${n % 7}&q=a%20b`, body: () => "", status: 200 },
  { method: "POST", path: () => "/json/orders", body: (n) => JSON.stringify({ id: n, qty: n % 5, note: pad(n % 200) }), status: 200, headers: [["Content-Type", "application/json"]] },
  { method: "POST", path: () => "/json/bulk", body: (n) => JSON.stringify({ id: n, blob: pad(6000 + (n % 3000)) }), status: 200, headers: [["Content-Type", "application/json"]] },
  { method: "PUT", path: (n) => `/text/doc/${n}`, body: () => pad(1024), status: 200, headers: [["Content-Type", "text/plain"]] },
  { method: "GET", path: () => "/big", body: () => "", status: 200 },
  { method: "GET", path: (n) => `/empty/${n}`, body: () => "", status: 204 },
  { method: "POST", path: () => "/err", body: (n) => `{"n":${n}}`, status: 500, headers: [["Content-Type", "application/json"]] },
  { method: "DELETE", path: (n) => `/json/items/${n}`, body: () => "", status: 200, headers: [["Authorization", "Bearer eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJ1c2VyLTQyIn0.c2ln"], ["X-User-Id", "user-42"]] },
];

function encode(n: number): { buf: Buffer; status: number; id: string } {
  const s = SHAPES[n % SHAPES.length];
  const id = `s-${n}`;
  const body = s.body(n);
  let head = `${s.method} ${s.path(n)} HTTP/1.1\r\nHost: api.soak.example\r\nX-Moesif-Transaction-Id: ${id}\r\nUser-Agent: soak/${n % 3}\r\n`;
  for (const [k, v] of s.headers ?? []) head += `${k}: ${v}\r\n`;
  if (body.length || s.method === "POST" || s.method === "PUT") head += `Content-Length: ${Buffer.byteLength(body)}\r\n`;
  return { buf: Buffer.concat([Buffer.from(head + "\r\n"), Buffer.from(body)]), status: s.status, id };
}

// ---- keep-alive client: one request at a time per connection, CONNECTIONS in parallel

const results = { ok: 0, failed: 0, failedNearKill: 0, wrongStatus: 0 };
const answered = new Set<number>();
const answeredAt = new Map<number, number>();
const wrongBy = new Map<string, number>();
const servedBy = new Map<number, number>();
let next = 0;
let lastKill = 0;
let loadRunning = true;

/** Bytes of one HTTP/1.1 response at the start of `buf`, or 0 when incomplete. */
function responseLength(buf: Buffer): { len: number; status: number; close: boolean; worker: number } | null {
  const end = buf.indexOf("\r\n\r\n");
  if (end < 0) return null;
  const head = buf.subarray(0, end).toString("latin1");
  const status = Number(head.slice(9, 12));
  const close = /\r\nconnection: close/i.test(head);
  const worker = Number(/\r\nx-worker: *(\d+)/i.exec(head)?.[1] ?? 0);
  const cl = /\r\ncontent-length: *(\d+)/i.exec(head);
  if (cl) return buf.length >= end + 4 + Number(cl[1]) ? { len: end + 4 + Number(cl[1]), status, close, worker } : null;
  if (/\r\ntransfer-encoding: *chunked/i.test(head)) {
    let p = end + 4;
    for (;;) {
      const lineEnd = buf.indexOf("\r\n", p);
      if (lineEnd < 0) return null;
      const size = parseInt(buf.subarray(p, lineEnd).toString("latin1"), 16);
      p = lineEnd + 2 + size + 2;
      if (p > buf.length) return null;
      if (size === 0) return { len: p, status, close, worker };
    }
  }
  return { len: end + 4, status, close, worker }; // 204 and friends
}

function runConnection(port: number): Promise<void> {
  return new Promise((resolve) => {
    let sock: Socket;
    let buf: Buffer = Buffer.alloc(0);
    let current: { n: number; status: number } | null = null;
    const sendNext = () => {
      if (!loadRunning) {
        sock.end();
        return resolve();
      }
      const n = next++;
      const r = encode(n);
      current = { n, status: r.status };
      sock.write(r.buf);
    };
    const open = () => {
      buf = Buffer.alloc(0);
      sock = connect({ host: "127.0.0.1", port }, sendNext);
      sock.setNoDelay(true);
      sock.on("data", (d: Buffer) => {
        buf = buf.length ? Buffer.concat([buf, d]) : d;
        const r = responseLength(buf);
        if (!r || !current) return;
        buf = buf.subarray(r.len);
        answered.add(current.n);
        answeredAt.set(current.n, Date.now() - started);
        servedBy.set(current.n, r.worker);
        if (r.status === current.status) results.ok++;
        else {
          results.wrongStatus++;
          const key = `${SHAPES[current.n % SHAPES.length].method} ${SHAPES[current.n % SHAPES.length].path(0)} → ${r.status}`;
          wrongBy.set(key, (wrongBy.get(key) ?? 0) + 1);
        }
        current = null;
        if (r.close) {
          sock.destroy();
          open();
        } else sendNext();
      });
      sock.on("error", () => undefined);
      sock.on("close", () => {
        if (current) {
          results.failed++;
          if (Date.now() - lastKill < 2000) results.failedNearKill++;
          current = null;
          if (loadRunning) setTimeout(open, 10);
          else resolve();
        }
      });
    };
    open();
  });
}

// ---- workers: pids, RSS, kills

/** VmRSS/RssAnon in KiB: VmRSS counts the zone's shared pages a worker touched, RssAnon its own memory (Wasm included). */
function rssKiB(pid: number): string {
  try {
    const status = readFileSync(`/proc/${pid}/status`, "utf8");
    return `${/VmRSS:\s+(\d+) kB/.exec(status)?.[1]}/${/RssAnon:\s+(\d+) kB/.exec(status)?.[1]}`;
  } catch {
    return "gone";
  }
}

function parseSummaries(log: string): Map<number, { queued: number; sent: number; dropped: Map<string, number>; backlog: number }> {
  const out = new Map<number, { queued: number; sent: number; dropped: Map<string, number>; backlog: number }>();
  const re = /\] (\d+)#\d+: .*moesif: summary: queued (\d+), sent (\d+) in \d+ batches, retried batches \d+, dropped(?:: ([^(]*?)| 0) \(this worker\); backlog (\d+)/g;
  for (const m of log.matchAll(re)) {
    const dropped = new Map<string, number>();
    for (const part of (m[4] ?? "").split(", ").filter(Boolean)) {
      const [reason, n] = part.trim().split(" ");
      dropped.set(reason, Number(n));
    }
    out.set(Number(m[1]), { queued: Number(m[2]), sent: Number(m[3]), dropped, backlog: Number(m[5]) });
  }
  return out;
}

async function main(): Promise<void> {
  const bin = engineBinary();
  if (!bin) {
    console.error(engineSkipReason());
    process.exit(2);
  }
  const nginx = new NginxProcess(bin);
  collectorPort = await freePort();
  await setCollectorListening(true);
  const port = await freePort();
  const upstreamPort = await freePort();
  const config = {
    application_id: "soak", api_endpoint: `http://127.0.0.1:${collectorPort}`, flush_interval_ms: 500, batch_size: 200,
    log_summary_interval_ms: 100, queue_max_bytes: 400 << 20, event_queue_size: 400000,
  };
  nginx.writeConf(renderNginxConf({
    workers: WORKERS,
    modules: [{ name: "moesif", path: RELEASE_WASM_PATH }],
    zones: [{ name: "*", size: 1024 << 20 }], // at least twice queue_max_bytes (docs/install.md)
    listenPort: port,
    chain: [{ name: "moesif", config: JSON.stringify(config) }],
    upstreamPort,
    upstreamKeepalive: 64,
    clientHeader: "x-soak-client",
    clientBodyBufferSize: 65536,
    httpExtra: ["add_header X-Worker $pid always;", "keepalive_requests 100000;"], // X-Worker: which worker served a request
  }));
  // The upstream is a separate nginx (no filter), so killing a gateway worker never cuts an
  // upstream leg served by that worker.
  const upstream = new NginxProcess(bin);
  chmodSync(upstream.prefix, 0o755); // its workers run as another user: they read big.json
  const big = join(upstream.prefix, "big.json");
  writeFileSync(big, JSON.stringify({ items: Array.from({ length: 600 }, (_, i) => ({ id: i, name: `item-${i}`, tags: ["a", "b"] })) }));
  upstream.writeConf(`daemon off;
worker_processes 1;
pid logs/nginx.pid;
error_log logs/error.log warn;
events { worker_connections 1024; }
http {
    access_log off;
    client_body_temp_path temp/client_body;
    client_max_body_size 64m;
    server {
        listen 127.0.0.1:${upstreamPort};
        keepalive_requests 100000;
        location /json { default_type application/json; return 200 '{"ok":true,"items":[1,2,3]}'; }
        location /text { default_type text/plain; return 200 'plain text response'; }
        location /big { default_type application/json; alias ${big}; }
        location /empty { return 204; }
        location /err { default_type application/json; return 500 '{"error":"boom"}'; }
    }
}
`);
  const kills: number[] = [];
  const killTimes: number[] = [];
  const rssSamples: Array<{ t: number; rss: Array<[number, string]> }> = [];
  try {
    await upstream.start(upstreamPort);
    await nginx.start(port);
    await until("the workers to load the filter", () => (nginx.errorLog().match(/successfully loaded "moesif" module/g)?.length ?? 0) >= WORKERS);
    started = Date.now();
    const sample = () => rssSamples.push({ t: Math.round((Date.now() - started) / 1000), rss: nginx.workerPids().map((p) => [p, rssKiB(p)] as [number, string]) });
    sample();

    // Collector schedule, kills, RSS samples, progress.
    const loadEnd = started + LOAD_S * 1000;
    const clients = Array.from({ length: CONNECTIONS }, () => runConnection(port));
    let lastKillAt = started;
    while (loadRunning) {
      await sleep(250);
      const now = Date.now();
      await setCollectorListening(modeAt(now - started) !== "down");
      if (now - lastKillAt >= KILL_EVERY_MS) {
        lastKillAt = now;
        sample();
        const pids = nginx.workerPids();
        const victim = pids[Math.floor(Math.random() * pids.length)];
        if (victim) {
          lastKill = now;
          kills.push(victim);
          killTimes.push(now - started);
          process.kill(victim, "SIGKILL");
        }
      }
      if ((now - started) % 30_000 < 250) {
        console.log(`t=${Math.round((now - started) / 1000)}s requests ${answered.size} (${Math.round(answered.size / ((now - started) / 1000))}/s) delivered ${deliveries.size} collector ${modeAt(now - started)}`);
      }
      const enough = now >= loadEnd && answered.size >= MIN_REQUESTS;
      if (enough || now - started > HARD_STOP_S * 1000) loadRunning = false;
    }
    await Promise.all(clients);
    const loadSeconds = (Date.now() - started) / 1000;

    // Drain: collector up for good; wait until nothing more arrives for 20 s.
    forcedMode = "up";
    await setCollectorListening(true);
    let last = -1;
    let quietSince = Date.now();
    const drainStart = Date.now();
    while (Date.now() - quietSince < 20_000 && Date.now() - drainStart < 120_000) {
      await sleep(1000);
      const total = [...deliveries.values()].reduce((a, b) => a + b, 0);
      if (total !== last) {
        last = total;
        quietSince = Date.now();
      }
    }
    await sleep(1500); // one more summary interval
    sample();

    // ---- report
    const log = nginx.errorLog();
    const summaries = parseSummaries(log);
    const dropped = new Map<string, number>();
    let sent = 0;
    let queued = 0;
    for (const s of summaries.values()) {
      sent += s.sent;
      queued += s.queued;
      for (const [k, v] of s.dropped) dropped.set(k, (dropped.get(k) ?? 0) + v);
    }
    const ids = [...answered].map((n) => `s-${n}`);
    let delivered = 0;
    let duplicated = 0;
    let missing = 0;
    for (const id of ids) {
      const k = deliveries.get(id) ?? 0;
      if (k >= 1) delivered++;
      if (k > 1) duplicated += k - 1;
      if (k === 0) missing++;
    }
    // Missing events by the worker that served them: one SIGKILLed within a second after
    // serving it takes its drop counts since its last summary line (≤ 100 ms) along.
    let missingNearKill = 0;
    for (const n of answered) {
      if (deliveries.has(`s-${n}`)) continue;
      const pid = servedBy.get(n) ?? 0;
      const k = kills.indexOf(pid);
      const at = answeredAt.get(n) ?? 0;
      if (k >= 0 && killTimes[k] - at >= 0 && killTimes[k] - at < 1000) missingNearKill++;
    }
    const unanswered = [...deliveries.keys()].filter((id) => !answered.has(Number(id.slice(2)))).length;
    const traps = (log.match(/error while executing/g) ?? []).length;
    const exits = [...log.matchAll(/worker process (\d+) exited (on signal \d+|with (?:fatal )?code \d+)/g)].map((m) => ({ pid: Number(m[1]), how: m[2] }));
    const unexpectedExits = exits.filter((e) => !(kills.includes(e.pid) && e.how === "on signal 9") && e.how !== "with code 0");
    const droppedLost = [...dropped].filter(([k]) => k !== "sampled").reduce((a, [, v]) => a + v, 0);
    console.log("\n==== soak:engine ====");
    console.log(`load: ${loadSeconds.toFixed(0)} s, ${WORKERS} workers, ${CONNECTIONS} keep-alive connections; ${answered.size} requests answered (${(answered.size / loadSeconds).toFixed(0)}/s), ${SHAPES.length} shapes`);
    console.log(`failed proxied requests: ${results.failed} (connection lost; ${results.failedNearKill} within 2 s of a SIGKILL), wrong status: ${results.wrongStatus} ${wrongBy.size ? JSON.stringify([...wrongBy]) : ""}`);
    console.log(`worker SIGKILLs: ${kills.length}; unexpected worker exits: ${unexpectedExits.length} ${unexpectedExits.length ? JSON.stringify(unexpectedExits) : ""}`);
    console.log(`collector: ${collectorStats.batches} batch posts, ${collectorStats.accepted} accepted, ${collectorStats.refused5xx} answered 503, ${collectorStats.refused429} answered 429, ${collectorStats.resets} reset/refused while down`);
    console.log(`filter summaries (last line per worker pid, ${summaries.size} pids; a killed worker's last line is up to 100 ms old): queued ${queued}, sent ${sent}`);
    console.log(`dropped by reason: ${dropped.size ? [...dropped].map(([k, v]) => `${k} ${v}`).join(", ") : "none"}`);
    console.log(`events: delivered ${delivered} of ${ids.length} answered requests, duplicated ${duplicated}, missing ${missing} (dropped and counted: ${droppedLost}; unaccounted: ${Math.max(0, missing - droppedLost)}, of which at most ${missingNearKill} served by a worker in the second before its SIGKILL); events of requests whose client saw no answer: ${unanswered} delivered`);
    console.log(`traps: ${traps}`);
    const first = rssSamples[0];
    const lastS = rssSamples[rssSamples.length - 1];
    console.log(`worker RSS (pid:VmRSS/RssAnon KiB) at t=${first.t}s: ${first.rss.map(([p, r]) => `${p}:${r}`).join(" ")}`);
    for (const s of rssSamples.slice(1, -1)) console.log(`  t=${s.t}s: ${s.rss.map(([p, r]) => `${p}:${r}`).join(" ")}`);
    console.log(`worker RSS at end t=${lastS.t}s: ${lastS.rss.map(([p, r]) => `${p}:${r}`).join(" ")}`);
  } finally {
    await nginx.stop();
    await upstream.stop();
    await setCollectorListening(false);
    nginx.cleanup();
    upstream.cleanup();
  }
}

await main();
