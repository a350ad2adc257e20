// Soak in Kong's engine (`npm run soak:engine`, not part of npm test; needs KONG_WASM_ENGINE).
// 4 workers, keep-alive clients, varied request shapes; the collector cycles through up, down
// (port closed), 503 and 429 bursts, connection resets and unanswered requests (the filter's
// timeout); a random worker is SIGKILLed every ~30 s. At the end, with the collector up, the
// queue drains and the run accounts for every request and event, attributes what SIGKILL
// explains, and prints PASS or FAIL against the goal stated in GOAL below.
// Options: --seconds N (load phase, default 300), --connections N (default 24),
// --min-requests N (default 200000), --port-base N (collector, gateway and upstream on the
// first free ports from N; default: free ports from the OS), --batch-max-bytes N (the filter's; default its own).
import { fork, type ChildProcess } from "node:child_process";
import { monitorEventLoopDelay } from "node:perf_hooks";
import { connect, createServer, type Socket } from "node:net";
import { fileURLToPath } from "node:url";
import { chmodSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { renderNginxConf } from "../engine/conf.ts";
import { NginxProcess, sleep, until } from "../engine/nginx.ts";
import { freePort } from "../engine/ports.ts";
import { engineBinary, engineSkipReason } from "../engine/locate.ts";
import { RELEASE_WASM_PATH } from "../engine/gateway.ts";
import { modeAt, type CollectorDump, type CollectorStats } from "./soak-faults.ts";

function arg(name: string, def: number): number {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 ? Number(process.argv[i + 1]) : def;
}
const LOAD_S = arg("seconds", 300);
const CONNECTIONS = arg("connections", 24);
const MIN_REQUESTS = arg("min-requests", 200_000);
const PORT_BASE = arg("port-base", 0);
/** The filter's batch_max_bytes (default: the filter's own default, 256 KiB). */
const BATCH_MAX_BYTES = arg("batch-max-bytes", 0);
const HARD_STOP_S = 8 * 60 - 75; // the load phase never outlasts this (drain and report follow)
const KILL_EVERY_MS = 30_000;
const WORKERS = 4;
const BATCH_SIZE = 200;
const SEND_TIMEOUT_MS = 2000;

// What SIGKILL explains, and the windows used to attribute it (ms).
/** A request answered by a worker at most this long before its SIGKILL: its event may have died
 *  with the worker (held for the next tick, or on_log not run yet: nginx answers before logging). */
const KILL_EVENT_WINDOW = 1000;
/** A batch the collector accepted up to this long before a SIGKILL, or up to this long plus the
 *  collector's largest event-loop delay after it, may have been sent by the killed worker and
 *  not settled: the callback had not run yet, or the request reached the collector whole after
 *  its sender died. Its lease then expires and another worker sends it again (duplicates), at
 *  most LEASE_MS after the kill (plus the same delays). */
const KILL_BATCH_WINDOW = 1000;
/** A batch's lease in this soak: the dispatch's span (10 × send_timeout + 1 s for an IP
 *  collector, assembly/filter/calls.ts) + 4 s (LEASE_MARGIN_MS, sender.ts). */
const LEASE_MS = 10 * SEND_TIMEOUT_MS + 1000 + 4000;
/** A client connection lost this close to a SIGKILL of its worker was reset by the kill. */
const KILL_CONN_WINDOW = 2000;
const GOAL = {
  /** Per kill, on average: events lost with the worker (held for its next tick, requests not yet logged). */
  lostPerKill: BATCH_SIZE,
  /** Per kill: one batch in flight per worker (one dispatch at a time), re-sent once. */
  duplicatedPerKill: BATCH_SIZE,
  /** Per kill: the worker's client connections. */
  resetsPerKill: CONNECTIONS,
  /** RssAnon growth of a worker from 60 s of age to its last sample, and its peak. */
  rssWarmUpS: 60,
  rssGrowthKiB: 8 * 1024,
  rssPeakKiB: 64 * 1024,
};

// ---- collector: a process of its own (scripts/soak-collector.ts) following the fault schedule

/** Transaction id → when batches holding it arrived (ms since the start). */
const deliveries = new Map<string, number[]>();
/** Events of batches the collector accepted but whose answer did not complete (connection gone). */
const unconfirmed = new Set<string>();
let collectorStats: CollectorStats = { batches: 0, accepted: 0, refused5xx: 0, refused429: 0, resets: 0, unanswered: 0, unconfirmed: 0, late: 0, events: 0 };
/** Events of batches the collector answered send_timeout or more after their connection opened. */
const late = new Set<string>();
let loopDelay = { p99: 0, max: 0 };
/** This process's own event-loop delay (clients notice closed connections this late at most). */
const clientDelay = monitorEventLoopDelay({ resolution: 10 });
let started = 0;
let collectorProc: ChildProcess | null = null;

function startCollector(port: number): Promise<void> {
  const child = fork(fileURLToPath(new URL("./soak-collector.ts", import.meta.url)), [String(port), String(SEND_TIMEOUT_MS)], { execArgv: process.execArgv });
  collectorProc = child;
  return new Promise((resolve, reject) => {
    child.once("error", reject);
    child.once("exit", (code) => reject(new Error(`the soak collector exited (${code})`)));
    const ready = (m: { ready?: boolean }) => {
      if (!m.ready) return;
      child.off("message", ready);
      child.removeAllListeners("exit");
      resolve();
    };
    child.on("message", ready);
  });
}

function toCollector(msg: object): void {
  collectorProc?.send(msg);
}

/** The collector's counts now (`delivered`: distinct ids; `events`: all, duplicates included). */
function collectorNow(): Promise<CollectorStats & { delivered: number }> {
  const child = collectorProc!;
  return new Promise((resolve) => {
    const got = (m: { stats?: CollectorStats & { delivered: number } }) => {
      if (!m.stats) return;
      child.off("message", got);
      resolve(m.stats);
    };
    child.on("message", got);
    child.send({ stats: true });
  });
}

function dumpCollector(): Promise<void> {
  const child = collectorProc;
  if (!child) return Promise.resolve();
  return new Promise((resolve) => {
    const got = (m: { dump?: CollectorDump }) => {
      if (!m.dump) return;
      child.off("message", got);
      collectorStats = m.dump.stats;
      loopDelay = m.dump.loopDelay;
      for (const line of m.dump.deliveries) {
        const [id, ...at] = line.split(" ");
        deliveries.set(id, at.map(Number));
      }
      for (const id of m.dump.unconfirmed) unconfirmed.add(id);
      for (const id of m.dump.late) late.add(id);
      resolve();
    };
    child.on("message", got);
    child.send({ dump: true });
  });
}

// ---- request shapes (the upstream is a separate nginx)

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
const shapeName = (n: number) => `${SHAPES[n % SHAPES.length].method} ${SHAPES[n % SHAPES.length].path(0)}`;

function encode(n: number): { buf: Buffer; status: number } {
  const s = SHAPES[n % SHAPES.length];
  const body = s.body(n);
  let head = `${s.method} ${s.path(n)} HTTP/1.1\r\nHost: api.soak.example\r\nX-Moesif-Transaction-Id: s-${n}\r\nUser-Agent: soak/${n % 3}\r\n`;
  for (const [k, v] of s.headers ?? []) head += `${k}: ${v}\r\n`;
  if (body.length || s.method === "POST" || s.method === "PUT") head += `Content-Length: ${Buffer.byteLength(body)}\r\n`;
  return { buf: Buffer.concat([Buffer.from(head + "\r\n"), Buffer.from(body)]), status: s.status };
}

// ---- keep-alive clients: one request at a time per connection, CONNECTIONS in parallel

/** Per request: answered at (ms), status, the worker that answered (X-Worker: $pid). */
const answeredAt = new Map<number, number>();
const servedBy = new Map<number, number>();
interface Failure { n: number; at: number; worker: number; status?: number }
/** Requests whose connection was lost before the answer; `worker`: the connection's worker (0 = unknown). */
const lost: Failure[] = [];
/** Answers with another status than the shape's. */
const wrong: Failure[] = [];
let next = 0;
let loadRunning = true;

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
    let connWorker = 0; // a keep-alive connection stays with the worker that accepted it
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
      connWorker = 0;
      sock = connect({ host: "127.0.0.1", port }, sendNext);
      sock.setNoDelay(true);
      sock.on("data", (d: Buffer) => {
        buf = buf.length ? Buffer.concat([buf, d]) : d;
        const r = responseLength(buf);
        if (!r || !current) return;
        buf = buf.subarray(r.len);
        const at = Date.now() - started;
        answeredAt.set(current.n, at);
        servedBy.set(current.n, r.worker);
        connWorker = r.worker;
        if (r.status !== current.status) wrong.push({ n: current.n, at, worker: r.worker, status: r.status });
        current = null;
        if (r.close) {
          sock.destroy();
          open();
        } else sendNext();
      });
      sock.on("error", () => undefined);
      sock.on("close", () => {
        if (current) {
          lost.push({ n: current.n, at: Date.now() - started, worker: connWorker });
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

function rssAnonKiB(pid: number): number | null {
  try {
    const m = /RssAnon:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, "utf8"));
    return m ? Number(m[1]) : null;
  } catch {
    return null;
  }
}

interface Summary { queued: number; sent: number; dropped: Map<string, number> }
function parseSummaries(log: string): Map<number, Summary> {
  const out = new Map<number, Summary>();
  const re = /^\S+ \S+ \[\w+\] (\d+)#\d+: .*moesif: summary: queued (\d+), sent (\d+) in \d+ batches, retried batches \d+, dropped(?:: ([^(]*?)| 0) \(this worker\)/gm;
  for (const m of log.matchAll(re)) {
    const dropped = new Map<string, number>();
    for (const part of (m[4] ?? "").split(", ").filter(Boolean)) {
      const [reason, n] = part.trim().split(" ");
      dropped.set(reason, Number(n));
    }
    out.set(Number(m[1]), { queued: Number(m[2]), sent: Number(m[3]), dropped });
  }
  return out;
}

/** The queue's backlog (newest summary line) and the drops counted so far (all workers). */
function progress(log: string): string {
  const backlog = [...log.matchAll(/backlog (\d+) events/g)].at(-1)?.[1] ?? "?";
  const dropped = new Map<string, number>();
  for (const s of parseSummaries(log).values()) for (const [k, v] of s.dropped) dropped.set(k, (dropped.get(k) ?? 0) + v);
  return `backlog ${backlog}, dropped ${dropped.size ? [...dropped].map(([k, v]) => `${k} ${fmt(v)}`).join(" ") : "0"}`;
}

/** An error-log time ("2026/12/02 16:21:39", local, second resolution) in ms since the start. */
function logTime(text: string): number {
  return new Date(text.replace(/\//g, "-").replace(" ", "T")).getTime() - started;
}

/** The filter's batch lines (failures, retries, late acceptances) between two times (ms since the start). */
function filterLinesBetween(log: string, from: number, to: number): string[] {
  const out: string[] = [];
  for (const m of log.matchAll(/^(\d{4}\/\d\d\/\d\d \d\d:\d\d:\d\d) \[\w+\] .*moesif: (?:batch of|a batch of|dropping a batch|no callback).*$/gm)) {
    const t = new Date(m[1].replace(/\//g, "-").replace(" ", "T")).getTime() - started;
    if (t >= from - 1000 && t <= to) out.push(m[0].replace(/, client: .*$/, ""));
  }
  return out;
}

/** The engine's error-log lines of `pid` at level error or worse within ±`ms` of `at` (ms since start). */
function errorLinesNear(log: string, pid: number, at: number, ms: number): string[] {
  const out: string[] = [];
  const re = new RegExp(`^(\\d{4}/\\d\\d/\\d\\d \\d\\d:\\d\\d:\\d\\d) \\[(error|crit|alert|emerg)\\] ${pid}#.*$`, "gm");
  for (const m of log.matchAll(re)) {
    const t = new Date(m[1].replace(/\//g, "-").replace(" ", "T")).getTime() - started;
    if (Math.abs(t - at) <= ms + 1000 && !m[0].includes("moesif:")) out.push(m[0]);
  }
  return out;
}

const fmt = (n: number) => n.toLocaleString("en-US");

/** The first port from `base` (within 100) that is not in `taken` and can be listened on now:
 *  the range may overlap the machine's ephemeral ports, held by other processes' connections. */
async function portFrom(base: number, taken: Set<number>): Promise<number> {
  for (let p = base; p < base + 100; p++) {
    if (taken.has(p)) continue;
    const ok = await new Promise<boolean>((resolve) => {
      const srv = createServer();
      srv.once("error", () => resolve(false));
      srv.listen(p, "127.0.0.1", () => srv.close(() => resolve(true)));
    });
    if (ok) return p;
  }
  throw new Error(`no free port in ${base}–${base + 99}`);
}

async function main(): Promise<void> {
  const bin = engineBinary();
  if (!bin) {
    console.error(engineSkipReason());
    process.exit(2);
  }
  const nginx = new NginxProcess(bin);
  const taken = new Set<number>();
  const pick = async () => {
    const p = PORT_BASE ? await portFrom(PORT_BASE, taken) : await freePort();
    taken.add(p);
    return p;
  };
  const collectorPort = await pick();
  await startCollector(collectorPort);
  const port = await pick();
  const upstreamPort = await pick();
  const config = {
    application_id: "soak", api_endpoint: `http://127.0.0.1:${collectorPort}`, flush_interval_ms: 500, batch_size: BATCH_SIZE,
    send_timeout: SEND_TIMEOUT_MS, log_summary_interval_ms: 100, debug: true, queue_max_bytes: 400 << 20, event_queue_size: 400000,
    ...(BATCH_MAX_BYTES ? { batch_max_bytes: BATCH_MAX_BYTES } : {}),
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
    errorLogLevel: "info",
    // X-Worker: which worker answered; X-Gw-Worker: which one proxied (the upstream logs it, for
    // requests whose client saw no answer).
    httpExtra: ["add_header X-Worker $pid always;", "keepalive_requests 100000;", "proxy_set_header X-Gw-Worker $pid;"],
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
    log_format soak '$http_x_moesif_transaction_id $http_x_gw_worker';
    access_log logs/soak.log soak buffer=256k flush=1s;
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
  const kills: Array<{ pid: number; at: number }> = [];
  const rss = new Map<number, Array<{ t: number; kib: number }>>(); // per worker pid
  const born = new Map<number, number>();
  try {
    await upstream.start(upstreamPort);
    await nginx.start(port);
    await until("the workers to load the filter", () => (nginx.errorLog().match(/successfully loaded "moesif" module/g)?.length ?? 0) >= WORKERS);
    started = Date.now();
    toCollector({ start: started });
    clientDelay.enable();
    const sample = () => {
      const t = Date.now() - started;
      for (const p of nginx.workerPids()) {
        if (!born.has(p)) born.set(p, t);
        const kib = rssAnonKiB(p);
        if (kib === null) continue;
        const s = rss.get(p) ?? [];
        s.push({ t, kib });
        rss.set(p, s);
      }
    };
    sample();

    const loadEnd = started + LOAD_S * 1000;
    const clients = Array.from({ length: CONNECTIONS }, () => runConnection(port));
    let lastKillAt = started;
    let lastSample = started;
    let lastProgress = started;
    while (loadRunning) {
      await sleep(250);
      const now = Date.now();
      if (now - lastSample >= 5000) {
        lastSample = now;
        sample();
      }
      if (now - lastKillAt >= KILL_EVERY_MS) {
        lastKillAt = now;
        sample();
        const pids = nginx.workerPids();
        const victim = pids[Math.floor(Math.random() * pids.length)];
        if (victim) {
          kills.push({ pid: victim, at: now - started });
          process.kill(victim, "SIGKILL");
        }
      }
      if (now - lastProgress >= 10_000) {
        lastProgress = now;
        const c = await collectorNow();
        console.log(`t=${Math.round((now - started) / 1000)}s requests ${fmt(answeredAt.size)} (${Math.round(answeredAt.size / ((now - started) / 1000))}/s), events delivered ${fmt(c.delivered)}, ${progress(nginx.errorLog())}, collector ${modeAt(now - started)}`);
      }
      const enough = now >= loadEnd && answeredAt.size >= MIN_REQUESTS;
      if (enough || now - started > HARD_STOP_S * 1000) loadRunning = false;
    }
    await Promise.all(clients);
    const loadSeconds = (Date.now() - started) / 1000;

    // Drain: collector up for good; wait until nothing more arrives for longer than a lease (a
    // killed worker's batch is re-sent when its lease expires).
    toCollector({ up: true });
    let last = -1;
    let quietSince = Date.now();
    const drainStart = Date.now();
    while (Date.now() - quietSince < LEASE_MS + 5000 && Date.now() - drainStart < 240_000) {
      await sleep(1000);
      if ((Date.now() - drainStart) % 10_000 < 1000) sample();
      const total = (await collectorNow()).events;
      if (total !== last) {
        last = total;
        quietSince = Date.now();
      }
    }
    await sleep(1500); // one more summary interval
    sample();
    const drainSeconds = (Date.now() - drainStart) / 1000;
    await dumpCollector();
    report(nginx.errorLog(), upstream, kills, rss, born, loadSeconds, drainSeconds);
  } finally {
    await nginx.stop();
    await upstream.stop();
    collectorProc?.disconnect();
    nginx.cleanup();
    upstream.cleanup();
  }
}

function report(
  log: string,
  upstream: NginxProcess,
  kills: Array<{ pid: number; at: number }>,
  rss: Map<number, Array<{ t: number; kib: number }>>,
  born: Map<number, number>,
  loadSeconds: number,
  drainSeconds: number,
): void {
  const killOf = new Map(kills.map((k) => [k.pid, k.at]));
  const out: string[] = [];
  const say = (s: string) => out.push(s);
  const verdict: Array<[string, boolean]> = [];

  // -- the filter's own counts (last summary line per worker pid)
  const summaries = parseSummaries(log);
  const dropped = new Map<string, number>();
  let sent = 0;
  let queued = 0;
  for (const s of summaries.values()) {
    sent += s.sent;
    queued += s.queued;
    for (const [k, v] of s.dropped) dropped.set(k, (dropped.get(k) ?? 0) + v);
  }
  const droppedCounted = [...dropped].filter(([k]) => k !== "sampled").reduce((a, [, v]) => a + v, 0);
  const traps = (log.match(/error while executing/g) ?? []).length;
  const exits = [...log.matchAll(/worker process (\d+) exited (on signal \d+|with (?:fatal )?code \d+)/g)].map((m) => ({ pid: Number(m[1]), how: m[2] }));
  const unexpectedExits = exits.filter((e) => !(killOf.has(e.pid) && e.how === "on signal 9") && e.how !== "with code 0");
  const exhausted = (log.match(/worker_connections are not enough/g) ?? []).length;

  // -- which worker proxied each request (upstream access log: transaction id, gateway pid)
  const proxiedBy = new Map<number, number>();
  try {
    for (const line of readFileSync(join(upstream.prefix, "logs", "soak.log"), "latin1").split("\n")) {
      const m = /^s-(\d+) (\d+)$/.exec(line);
      if (m) proxiedBy.set(Number(m[1]), Number(m[2]));
    }
  } catch {
    /* no log: proxiedBy stays empty */
  }

  // -- client requests
  const answered = answeredAt.size;
  const nearKill = (pid: number, at: number, before: number, after: number) => {
    const k = killOf.get(pid);
    return k !== undefined && k - at <= before && at - k <= after;
  };
  // What each SIGKILL explains (reset connections, duplicated events).
  const perKill = kills.map(() => ({ resets: 0, duplicated: 0 }));
  // A killed worker's connections close when the kernel has torn the process down (its memory
  // first, then its files), which on a loaded machine can be seconds after the signal: the
  // master logs the exit (second resolution) when it reaps it.
  const exitAt = new Map<number, number>();
  for (const m of log.matchAll(/^(\S+ \S+) \[\w+\] \d+#\d+: worker process (\d+) exited on signal 9/gm)) {
    exitAt.set(Number(m[2]), logTime(m[1]) + 1000);
  }
  const clientLag = clientDelay.max / 1e6;
  const connWindowEnd = (k: { pid: number; at: number }) => Math.max(k.at + KILL_CONN_WINDOW, exitAt.get(k.pid) ?? 0) + clientLag;
  let lostKill = 0;
  let lostKillUnknownWorker = 0;
  const lostUnexplained: Failure[] = [];
  for (const f of lost) {
    const worker = f.worker || proxiedBy.get(f.n) || 0;
    const near = (k: { pid: number; at: number }) => f.at >= k.at - 200 && f.at <= connWindowEnd(k);
    const own = kills.findIndex((k) => k.pid === worker && near(k));
    const unknownNear = kills.findIndex(near);
    if (worker && own >= 0) {
      lostKill++;
      perKill[own].resets++;
    } else if (!worker && unknownNear >= 0) {
      lostKillUnknownWorker++;
      perKill[unknownNear].resets++;
    } else lostUnexplained.push({ ...f, worker });
  }
  const wrongExplained: Array<Failure & { why: string }> = [];
  const wrongUnexplained: Array<Failure & { lines: string[] }> = [];
  for (const f of wrong) {
    const lines = errorLinesNear(log, f.worker, f.at, 1000);
    if (lines.some((l) => /worker_connections are not enough/.test(l))) wrongExplained.push({ ...f, why: "the worker ran out of connections" });
    else wrongUnexplained.push({ ...f, lines });
  }

  // -- events
  // The filter's debug lines for calls it gave up on (the engine's timeout, or no callback in
  // time): a batch the collector still accepted then arrives again.
  const gaveUp: Array<{ at: number; events: number }> = [];
  for (const m of log.matchAll(/^(\S+ \S+) \[\w+\] .*moesif: batch of (\d+) events failed \((?:timeout|no callback in time)\)/gm)) {
    gaveUp.push({ at: logTime(m[1]), events: Number(m[2]) });
  }
  let delivered = 0;
  let duplicates = 0;
  let dupKill = 0;
  let dupUnconfirmed = 0;
  let dupLate = 0;
  let dupGaveUp = 0;
  const dupGaps: number[] = [];
  // Events delivered at the same times were in the same batches: classify batch by batch.
  const dupGroups = new Map<string, { at: number[]; ids: string[] }>();
  for (const [id, at] of deliveries) {
    if (id.startsWith("s-") && answeredAt.has(Number(id.slice(2)))) delivered++;
    if (at.length < 2) continue;
    duplicates += at.length - 1;
    const key = at.join(",");
    const g = dupGroups.get(key) ?? { at, ids: [] };
    g.ids.push(id);
    dupGroups.set(key, g);
  }
  const dupUnexplained: Array<{ at: number[]; ids: string[] }> = [];
  for (const g of dupGroups.values()) {
    const [t1, t2] = g.at;
    const extra = g.ids.length * (g.at.length - 1);
    const k = kills.findIndex((k) => t1 - k.at >= -KILL_BATCH_WINDOW && t1 - k.at <= KILL_BATCH_WINDOW + loopDelay.max &&
      t2 >= k.at && t2 - k.at <= LEASE_MS + KILL_BATCH_WINDOW + loopDelay.max);
    // The filter's own line for a failed call is direct evidence; a kill nearby is circumstantial.
    if (g.ids.some((id) => unconfirmed.has(id))) dupUnconfirmed += extra;
    else if (g.ids.some((id) => late.has(id)) ||
      gaveUp.some((f) => f.events >= g.ids.length && f.at >= t1 - 3000 - loopDelay.max && f.at <= t2 + 1000)) dupGaveUp += extra;
    else if (k >= 0) {
      dupKill += extra;
      perKill[k].duplicated += extra;
      dupGaps.push(t2 - t1);
    } else dupUnexplained.push(g);
  }
  // Drops are counted per worker, not per event: the missing events beyond the counted drops
  // must be ones SIGKILL can explain (answered by a worker shortly before its kill).
  let missing = 0;
  let killCandidates = 0;
  for (const [n, at] of answeredAt) {
    if (deliveries.has(`s-${n}`)) continue;
    missing++;
    if (nearKill(servedBy.get(n) ?? 0, at, KILL_EVENT_WINDOW, clientLag)) killCandidates++;
  }
  const beyondDrops = missing - droppedCounted;
  const missingKill = Math.min(Math.max(0, beyondDrops), killCandidates);
  // Counted drops may exceed the missing events by the events of requests whose client saw
  // no answer (they are not among the missing); more would mean events both dropped and delivered.
  const unaccounted = Math.max(0, beyondDrops - missingKill) + Math.max(0, -beyondDrops - lost.length);
  const deliveredUnanswered = [...deliveries.keys()].filter((id) => !answeredAt.has(Number(id.slice(2)))).length;

  say("\n==== soak:engine ====");
  say(`load: ${loadSeconds.toFixed(0)} s (then ${drainSeconds.toFixed(0)} s of drain), ${WORKERS} workers, ${CONNECTIONS} keep-alive connections, ${SHAPES.length} request shapes, batch_max_bytes ${BATCH_MAX_BYTES || "default"}; ${fmt(answered)} requests answered (${(answered / loadSeconds).toFixed(0)}/s)`);
  say(`collector (a process of its own; event-loop delay p99 ${loopDelay.p99.toFixed(0)} ms, max ${loopDelay.max.toFixed(0)} ms): ${fmt(collectorStats.batches)} batch posts: ${fmt(collectorStats.accepted)} accepted (${collectorStats.unconfirmed} of them with the answer cut off, ${fmt(collectorStats.late)} answered ≥ send_timeout after their connection opened), ${fmt(collectorStats.refused5xx)} answered 503, ${fmt(collectorStats.refused429)} answered 429, ${fmt(collectorStats.resets)} reset after reading (connections refused while it is down never reach it), ${fmt(collectorStats.unanswered)} left unanswered (the filter's timeout)`);
  say(`worker SIGKILLs: ${kills.length} (pid@s: reset connections/duplicated events: ${kills.map((k, i) => `${k.pid}@${(k.at / 1000).toFixed(1)}: ${perKill[i].resets}/${perKill[i].duplicated}`).join(", ")}); unexpected worker exits: ${unexpectedExits.length}${unexpectedExits.length ? " " + JSON.stringify(unexpectedExits) : ""}; traps: ${traps}; "worker_connections are not enough": ${exhausted}`);
  say("");
  say("client requests:");
  say(`  answered with the expected status: ${fmt(answered - wrong.length)}`);
  say(`  connection lost before the answer: ${lost.length}: ${lostKill} on a SIGKILLed worker, from the kill to ${KILL_CONN_WINDOW / 1000} s after it or to its logged exit (+ ${(clientLag / 1000).toFixed(1)} s, the clients' event-loop delay), ${lostKillUnknownWorker} in such a window of some kill (worker unknown: the connection's first request, not proxied), ${lostUnexplained.length} unexplained`);
  for (const f of lostUnexplained.slice(0, 10)) say(`    unexplained: s-${f.n} (${shapeName(f.n)}) at ${(f.at / 1000).toFixed(1)} s, worker ${f.worker || "unknown"}`);
  say(`  unexpected status: ${wrong.length}: ${wrongExplained.length} explained, ${wrongUnexplained.length} unexplained`);
  for (const f of wrongExplained.slice(0, 5)) say(`    s-${f.n} (${shapeName(f.n)}) → ${f.status} from worker ${f.worker} at ${(f.at / 1000).toFixed(1)} s: ${f.why}`);
  for (const f of wrongUnexplained.slice(0, 10)) {
    say(`    unexplained: s-${f.n} (${shapeName(f.n)}) → ${f.status} from worker ${f.worker} at ${(f.at / 1000).toFixed(1)} s; its error log then: ${f.lines.length ? "" : "nothing"}`);
    for (const l of f.lines.slice(0, 5)) say(`      ${l}`);
  }
  say("");
  say("events (one per answered request):");
  say(`  filter summaries (last line per worker pid, ${summaries.size} pids; a killed worker's last line is ≤ 100 ms old): queued ${fmt(queued)}, sent ${fmt(sent)}, dropped: ${dropped.size ? [...dropped].map(([k, v]) => `${k} ${fmt(v)}`).join(", ") : "none"}`);
  say(`  delivered: ${fmt(delivered)} of ${fmt(answered)}; also ${fmt(deliveredUnanswered)} events of requests whose client saw no answer`);
  const gaps = dupGaps.length ? ` (delivered again ${(Math.min(...dupGaps) / 1000).toFixed(1)}–${(Math.max(...dupGaps) / 1000).toFixed(1)} s later: the lease)` : "";
  say(`  duplicated: ${fmt(duplicates)}: ${fmt(dupKill)} first delivered from ${KILL_BATCH_WINDOW / 1000} s before to ${((KILL_BATCH_WINDOW + loopDelay.max) / 1000).toFixed(1)} s after a SIGKILL and again within ${((LEASE_MS + KILL_BATCH_WINDOW + loopDelay.max) / 1000).toFixed(1)} s of it (a batch its killed sender had not settled, re-sent once its lease expired${gaps}), ` +
    `${fmt(dupGaveUp)} in batches the filter gave up on while the collector accepted them (its debug line "batch of ≥ N events failed (timeout|no callback in time)" around the first delivery, or accepted ≥ send_timeout after the connection opened), ${fmt(dupUnconfirmed)} in batches whose answer the collector cut off, ${fmt(dupUnexplained.reduce((a, g) => a + g.ids.length * (g.at.length - 1), 0))} unexplained`);
  for (const g of dupUnexplained.slice(0, 5)) {
    say(`    unexplained: ${g.ids.length} events (${g.ids.slice(0, 3).join(", ")}${g.ids.length > 3 ? ", …" : ""}) delivered at ${g.at.map((t) => (t / 1000).toFixed(1) + " s").join(", ")}; the filter's lines then:`);
    for (const l of filterLinesBetween(log, g.at[0] - 3000, g.at[g.at.length - 1] + 500).slice(0, 8)) say(`      ${l}`);
  }
  say(`  missing: ${fmt(missing)} (${(100 * missing / Math.max(1, answered)).toFixed(1)} %) against ${fmt(droppedCounted)} dropped and counted by reason (${beyondDrops >= 0 ? `${fmt(beyondDrops)} fewer` : `${fmt(-beyondDrops)} more: events of requests whose client saw no answer, at most ${lost.length}`}); ` +
    `${fmt(missingKill)} died with a SIGKILLed worker (of ${fmt(killCandidates)} missing events answered by a worker ≤ ${KILL_EVENT_WINDOW / 1000} s before its kill: held for its next tick, or not yet logged); ${fmt(unaccounted)} unaccounted`);

  say("");
  say(`worker RssAnon (KiB) by pid, sampled every 5 s (age = s since the worker's first sample):`);
  let rssOk = true;
  for (const [pid, s] of rss) {
    const b = born.get(pid) ?? 0;
    const warm = s.find((x) => x.t - b >= GOAL.rssWarmUpS * 1000);
    const peak = Math.max(...s.map((x) => x.kib));
    const lastS = s[s.length - 1];
    const growth = warm ? lastS.kib - warm.kib : null;
    if (peak > GOAL.rssPeakKiB || (growth !== null && growth > GOAL.rssGrowthKiB)) rssOk = false;
    const fate = killOf.has(pid) ? `SIGKILLed at ${Math.round((killOf.get(pid) ?? 0) / 1000)} s` : "alive at the end";
    say(`  ${pid} (${fate}; ${s.length} samples from ${Math.round(s[0].t / 1000)} s): first ${fmt(s[0].kib)}, at ${GOAL.rssWarmUpS} s of age ${warm ? fmt(warm.kib) : "-"}, last ${fmt(lastS.kib)}, peak ${fmt(peak)}; growth after warm-up ${growth === null ? "- (died young)" : fmt(growth)}`);
  }

  const k = Math.max(1, kills.length);
  verdict.push(["0 traps", traps === 0]);
  verdict.push(["0 unexpected worker exits", unexpectedExits.length === 0]);
  verdict.push(["0 unexplained failed requests (lost connections and unexpected statuses)", lostUnexplained.length === 0 && wrongUnexplained.length === 0]);
  verdict.push(["0 unexplained duplicates", dupUnexplained.length === 0]);
  verdict.push(["0 unaccounted missing events", unaccounted === 0]);
  const most = (f: (p: { resets: number; duplicated: number }) => number) => Math.max(0, ...perKill.map(f));
  verdict.push([`SIGKILL-attributed: lost events ≤ ${GOAL.lostPerKill} per kill (${(missingKill / k).toFixed(1)} on average), duplicates ≤ ${GOAL.duplicatedPerKill} for each kill (at most ${most((p) => p.duplicated)}), reset connections ≤ ${GOAL.resetsPerKill} for each kill (at most ${most((p) => p.resets)})`,
    missingKill <= GOAL.lostPerKill * k && most((p) => p.duplicated) <= GOAL.duplicatedPerKill && most((p) => p.resets) <= GOAL.resetsPerKill]);
  verdict.push([`RssAnon flat: every worker grows ≤ ${GOAL.rssGrowthKiB / 1024} MiB from ${GOAL.rssWarmUpS} s of age to its last sample, and peaks ≤ ${GOAL.rssPeakKiB / 1024} MiB`, rssOk]);
  verdict.push([`≥ ${fmt(MIN_REQUESTS)} requests (${fmt(answered)})`, answered >= MIN_REQUESTS]);
  say("");
  say("goal: every event delivered exactly once or counted as dropped with its reason; what SIGKILL explains is counted and bounded:");
  for (const [what, ok] of verdict) say(`  ${ok ? "ok  " : "FAIL"} ${what}`);
  const pass = verdict.every(([, ok]) => ok);
  say(`\nsoak:engine ${pass ? "PASS" : "FAIL"}`);
  console.log(out.join("\n"));
  process.exitCode = pass ? 0 : 1;
}

await main();
