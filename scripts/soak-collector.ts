// The soak's collector (scripts/soak-engine.ts forks it): a process of its own, so that parsing
// batches never waits behind the load generator's event loop (and the times it records are
// when batches arrived). It follows the fault schedule itself from the start time it is given,
// keeps every delivery (transaction id → times), and answers the parent over IPC:
//   {start: epochMs} → begins the schedule; {up: true} → up for good (drain);
//   {stats: true} → {stats}; {dump: true} → {dump} (deliveries, unconfirmed ids, loop delay).
import http from "node:http";
import { monitorEventLoopDelay } from "node:perf_hooks";
import { readFileSync } from "node:fs";
import { DEFAULT_CONFIG_FILE, DEFAULT_RULES_FILE } from "../local/collector.ts";
import { modeAt, type CollectorDump, type CollectorStats, type Mode } from "./soak-faults.ts";

const port = Number(process.argv[2]);
const sendTimeoutMs = Number(process.argv[3]);
if (!port || !process.send) throw new Error("scripts/soak-collector.ts is forked by scripts/soak-engine.ts");

const deliveries = new Map<string, number[]>();
const unconfirmed = new Set<string>();
/** Ids of accepted batches answered send_timeout or more after their connection opened. */
const late = new Set<string>();
const stats: CollectorStats = { batches: 0, accepted: 0, refused5xx: 0, refused429: 0, resets: 0, unanswered: 0, unconfirmed: 0, late: 0, events: 0 };
const appConfig = readFileSync(DEFAULT_CONFIG_FILE);
const rules = readFileSync(DEFAULT_RULES_FILE);
const delay = monitorEventLoopDelay({ resolution: 10 });
let started = 0;
let forcedUp = false;
const mode = (): Mode => (forcedUp || !started ? "up" : modeAt(Date.now() - started));

const server = http.createServer((req, res) => {
  const chunks: Buffer[] = [];
  req.on("data", (c: Buffer) => chunks.push(c));
  req.on("end", () => {
    const url = req.url ?? "";
    if (url.startsWith("/v1/config")) return void res.writeHead(200, { "content-type": "application/json" }).end(appConfig);
    if (url.startsWith("/v1/rules")) return void res.writeHead(200, { "content-type": "application/json" }).end(rules);
    stats.batches++;
    const m = mode();
    if (m === "reset" || m === "down") {
      stats.resets++;
      return void req.socket.destroy();
    }
    if (m === "timeout") {
      stats.unanswered++;
      return void setTimeout(() => req.socket.destroy(), sendTimeoutMs + 1000);
    }
    if (m === "503" || m === "429") {
      if (m === "503") stats.refused5xx++;
      else stats.refused429++;
      return void res.writeHead(Number(m)).end();
    }
    let events: Array<{ transaction_id?: string }>;
    try {
      events = JSON.parse(Buffer.concat(chunks).toString("utf8"));
    } catch {
      return void res.writeHead(400).end();
    }
    stats.accepted++;
    stats.events += events.length;
    const now = Date.now();
    const at = now - started;
    // The engine gives up after send_timeout (connect, send and read each): an answer this late
    // may find the filter retrying already.
    const openedAt = (req.socket as { openedAt?: number }).openedAt ?? now;
    const isLate = now - openedAt >= sendTimeoutMs;
    if (isLate) stats.late++;
    const ids = events.map((e) => e.transaction_id ?? "?");
    for (const id of ids) {
      const d = deliveries.get(id);
      if (d) d.push(at);
      else deliveries.set(id, [at]);
      if (isLate) late.add(id);
    }
    let finished = false;
    res.on("finish", () => (finished = true));
    res.on("close", () => {
      if (finished) return;
      stats.unconfirmed++;
      for (const id of ids) unconfirmed.add(id);
    });
    res.writeHead(202).end();
  });
});

server.on("connection", (socket) => {
  (socket as { openedAt?: number }).openedAt = Date.now();
});

let listening = false;
async function listen(on: boolean): Promise<void> {
  if (on === listening) return;
  listening = on;
  if (on) await new Promise<void>((r) => server.listen(port, "127.0.0.1", () => r()));
  else await new Promise<void>((r) => { server.close(() => r()); server.closeAllConnections(); });
}

process.on("message", (msg: { start?: number; up?: boolean; stats?: boolean; dump?: boolean }) => {
  if (msg.start) {
    started = msg.start;
    delay.enable();
  }
  if (msg.up) forcedUp = true;
  if (msg.stats) process.send!({ stats: { ...stats, delivered: deliveries.size } });
  if (msg.dump) {
    const dump: CollectorDump = {
      stats,
      deliveries: [...deliveries].map(([id, at]) => `${id} ${at.join(" ")}`),
      unconfirmed: [...unconfirmed],
      late: [...late],
      loopDelay: { p99: delay.percentile(99) / 1e6, max: delay.max / 1e6 },
    };
    process.send!({ dump });
  }
});
process.on("disconnect", () => process.exit(0));

await listen(true);
setInterval(() => void listen(mode() !== "down"), 100);
process.send({ ready: true });
