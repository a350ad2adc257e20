// Local Moesif-compatible collector (SPEC §9): accepts event batches like api.moesif.net,
// serves /v1/config and /v1/rules from JSON files (re-read when they change on disk),
// and shows what it received in a live viewer page. Also the collector used by tests,
// with fault injection (failNext) and a way to wait for events.
import { createHash } from "node:crypto";
import { readFileSync, statSync, type Stats } from "node:fs";
import http, { type IncomingMessage, type ServerResponse } from "node:http";
import type { Socket } from "node:net";
import { fileURLToPath, pathToFileURL } from "node:url";
import zlib from "node:zlib";

export interface CollectorOptions {
  port?: number; // 0 = ephemeral
  host?: string; // listen address; 127.0.0.1 unless run in a container (docker-compose.yml)
  configFile?: string;
  rulesFile?: string;
  applicationId?: string; // if set, requests with another X-Moesif-Application-Id get 401
  quiet?: boolean;
}

export interface ReceivedBatch {
  at: number;
  headers: Record<string, string>;
  events: unknown[];
  rawBytes: number;
  encoding: string | null;
}

export interface FaultMode {
  status?: number;
  delayMs?: number;
  reset?: boolean;
  body?: string;
}

export const DEFAULT_CONFIG_FILE = fileURLToPath(new URL("./config/app-config.json", import.meta.url));
export const DEFAULT_RULES_FILE = fileURLToPath(new URL("./config/rules.json", import.meta.url));
const VIEWER_FILE = fileURLToPath(new URL("./viewer.html", import.meta.url));

// Used when a config/rules file does not exist: what Moesif serves for a fresh app.
export const BUILTIN_CONFIG = {
  sample_rate: 100,
  user_sample_rate: {},
  company_sample_rate: {},
  regex_config: [],
  user_rules: {},
  company_rules: {},
};
const BUILTIN_RULES: unknown[] = [];

// Moesif's documented maximum batch size; also caps the inflated size (decompression bombs).
const MAX_BODY_BYTES = 50 * 1024 * 1024;
// A viewer that (re)connects without Last-Event-ID gets at most this many past events.
const SSE_REPLAY_LIMIT = 1000;
const SSE_KEEPALIVE_MS = 15_000;

class HttpError extends Error {
  constructor(readonly status: number, message: string) {
    super(message);
  }
}

// One served JSON document (config or rules): its bytes and tag, reloaded from its file
// when the file's stat changes; setConfig/setRules override it until the file changes again.
class JsonSource {
  private body = "";
  private tag = "";
  private stamp = "unread";

  constructor(
    private readonly file: string,
    private readonly builtin: unknown,
    private readonly label: string,
    private readonly warn: (msg: string) => void,
  ) {
    this.refresh();
  }

  current(): { body: string; tag: string } {
    this.refresh();
    return { body: this.body, tag: this.tag };
  }

  set(value: unknown): void {
    const body = JSON.stringify(value);
    if (body === undefined) throw new TypeError(`${this.label}: value is not JSON-serializable`);
    this.use(body);
  }

  private use(body: string): void {
    this.body = body;
    this.tag = createHash("sha1").update(body).digest("hex");
  }

  private refresh(): void {
    let st: Stats | undefined;
    try {
      st = statSync(this.file);
    } catch {
      st = undefined;
    }
    const stamp = st ? `${st.ino}:${st.size}:${st.mtimeMs}:${st.ctimeMs}` : "missing";
    if (stamp === this.stamp) return;
    this.stamp = stamp;
    if (!st) {
      this.warn(`${this.label}: ${this.file} not found, serving the built-in default`);
      this.use(JSON.stringify(this.builtin));
      return;
    }
    try {
      // Re-serialized so whitespace-only edits keep the tag.
      this.use(JSON.stringify(JSON.parse(readFileSync(this.file, "utf8"))));
    } catch (err) {
      // A half-saved file while the user edits it: keep serving the last good copy.
      const keep = this.body === "" ? "the built-in default" : "the previous content";
      this.warn(`${this.label}: ${this.file} is not valid JSON (${(err as Error).message}); serving ${keep}`);
      if (this.body === "") this.use(JSON.stringify(this.builtin));
    }
  }
}

interface Waiter {
  count: number;
  resolve: (events: unknown[]) => void;
  reject: (err: Error) => void;
  timer: NodeJS.Timeout;
}

export class Collector {
  readonly events: unknown[] = [];
  readonly batches: ReceivedBatch[] = [];

  private readonly opts: CollectorOptions;
  private readonly config: JsonSource;
  private readonly rules: JsonSource;
  private server: http.Server | null = null;
  private port = 0;
  private faults: FaultMode[] = [];
  private waiters: Waiter[] = [];
  private streams = new Set<ServerResponse>();
  private timers = new Set<NodeJS.Timeout>();
  private keepalive: NodeJS.Timeout | null = null;
  // Sequence number of events[0]; SSE ids stay unique across clear().
  private firstSeq = 0;

  constructor(opts: CollectorOptions = {}) {
    this.opts = opts;
    const warn = (msg: string) => {
      if (!opts.quiet) console.error(`[collector] ${msg}`);
    };
    this.config = new JsonSource(opts.configFile ?? DEFAULT_CONFIG_FILE, BUILTIN_CONFIG, "config", warn);
    this.rules = new JsonSource(opts.rulesFile ?? DEFAULT_RULES_FILE, BUILTIN_RULES, "rules", warn);
  }

  get url(): string {
    if (!this.server) throw new Error("collector not started");
    return `http://127.0.0.1:${this.port}`;
  }

  start(): Promise<number> {
    if (this.server) return Promise.reject(new Error("collector already started"));
    const server = http.createServer((req, res) => this.route(req, res));
    this.server = server;
    return new Promise((resolve, reject) => {
      server.once("error", (err) => {
        this.server = null;
        reject(err);
      });
      server.listen(this.opts.port ?? 0, this.opts.host ?? "127.0.0.1", () => {
        this.port = (server.address() as { port: number }).port;
        this.keepalive = setInterval(() => this.broadcast(": keepalive\n\n"), SSE_KEEPALIVE_MS);
        this.keepalive.unref();
        resolve(this.port);
      });
    });
  }

  stop(): Promise<void> {
    const server = this.server;
    if (!server) return Promise.resolve();
    this.server = null;
    if (this.keepalive) clearInterval(this.keepalive);
    this.keepalive = null;
    for (const t of this.timers) clearTimeout(t);
    this.timers.clear();
    for (const s of this.streams) s.end();
    this.streams.clear();
    for (const w of this.waiters.splice(0)) {
      clearTimeout(w.timer);
      w.reject(new Error(`collector stopped while waiting for ${w.count} events (got ${this.events.length})`));
    }
    return new Promise((resolve) => {
      server.close(() => resolve());
      server.closeAllConnections();
    });
  }

  failNext(n: number, mode: FaultMode): void {
    if (!Number.isInteger(n) || n < 0) throw new RangeError(`failNext: n must be a non-negative integer, got ${n}`);
    for (let i = 0; i < n; i++) this.faults.push({ ...mode });
  }

  setConfig(obj: unknown): void {
    this.config.set(obj);
  }

  setRules(obj: unknown): void {
    this.rules.set(obj);
  }

  waitForEvents(count: number, timeoutMs: number): Promise<unknown[]> {
    if (this.events.length >= count) return Promise.resolve(this.events.slice());
    return new Promise((resolve, reject) => {
      const waiter: Waiter = {
        count,
        resolve,
        reject,
        timer: setTimeout(() => {
          this.waiters = this.waiters.filter((w) => w !== waiter);
          reject(new Error(`timed out after ${timeoutMs} ms waiting for ${count} events (got ${this.events.length})`));
        }, timeoutMs),
      };
      this.waiters.push(waiter);
    });
  }

  // Forgets received events and batches (pending failNext faults stay); open viewers are told to clear.
  clear(): void {
    this.firstSeq += this.events.length;
    this.events.length = 0;
    this.batches.length = 0;
    this.broadcast("event: clear\ndata: {}\n\n");
  }

  // ---- HTTP ----

  private route(req: IncomingMessage, res: ServerResponse): void {
    const path = (req.url ?? "/").split("?")[0];
    const method = req.method ?? "GET";
    const handle = async (): Promise<void> => {
      if (path === "/v1/events/batch" || path === "/v1/events") {
        if (method !== "POST") throw new HttpError(405, "use POST");
        await this.receive(req, res, path === "/v1/events/batch");
        return;
      }
      if (path === "/v1/config" || path === "/v1/rules") {
        if (method !== "GET") throw new HttpError(405, "use GET");
        this.checkAppId(req);
        const config = this.config.current();
        const rules = this.rules.current();
        const headers: Record<string, string> = { "x-moesif-rules-tag": rules.tag };
        if (path === "/v1/config") headers["x-moesif-config-etag"] = config.tag;
        send(res, 200, path === "/v1/config" ? config.body : rules.body, "application/json", headers);
        return;
      }
      if (method !== "GET" && method !== "HEAD") throw new HttpError(405, "use GET");
      if (path === "/" || path === "/index.html") {
        // Read per request so edits to the page show on reload.
        send(res, 200, readFileSync(VIEWER_FILE), "text/html; charset=utf-8", {
          "content-security-policy":
            "default-src 'none'; script-src 'unsafe-inline'; style-src 'unsafe-inline'; connect-src 'self'; img-src data:",
        });
      } else if (path === "/api/events") {
        send(res, 200, JSON.stringify(this.events), "application/json");
      } else if (path === "/api/stream") {
        this.openStream(req, res);
      } else {
        throw new HttpError(404, `no route for ${method} ${path}`);
      }
    };
    handle().catch((err: unknown) => {
      const status = err instanceof HttpError ? err.status : 500;
      if (!res.headersSent && !res.destroyed) {
        send(res, status, JSON.stringify({ error: (err as Error).message }), "application/json");
      }
    });
  }

  private checkAppId(req: IncomingMessage): void {
    const want = this.opts.applicationId;
    if (want !== undefined && req.headers["x-moesif-application-id"] !== want) {
      throw new HttpError(401, "missing or invalid X-Moesif-Application-Id");
    }
  }

  private async receive(req: IncomingMessage, res: ServerResponse, isBatch: boolean): Promise<void> {
    const raw = await readBody(req);
    const fault = this.faults.shift();
    if (fault) {
      if (fault.delayMs) {
        await this.sleep(fault.delayMs);
        // A client that gave up during the delay sees a failure, so the batch counts as not accepted.
        if (req.socket.destroyed || !this.server) return;
      }
      if (fault.reset) {
        this.log(`injected fault: connection reset`);
        resetSocket(req.socket);
        return;
      }
      if (fault.status !== undefined || fault.body !== undefined) {
        const status = fault.status ?? 500;
        this.log(`injected fault: status ${status}`);
        send(res, status, fault.body ?? JSON.stringify({ error: "injected failure" }), "application/json");
        return;
      }
    }
    this.checkAppId(req);
    const encoding = headerValue(req.headers["content-encoding"])?.toLowerCase() ?? null;
    const text = decode(raw, encoding).toString("utf8");
    let parsed: unknown;
    try {
      parsed = JSON.parse(text);
    } catch (err) {
      throw new HttpError(400, `invalid JSON: ${(err as Error).message}`);
    }
    const events = isBatch ? parsed : [parsed];
    if (!Array.isArray(events)) throw new HttpError(400, "expected a JSON array of events");
    if (!events.every((e) => e !== null && typeof e === "object" && !Array.isArray(e))) {
      throw new HttpError(400, "every event must be a JSON object");
    }
    const headers: Record<string, string> = {};
    for (const [k, v] of Object.entries(req.headers)) if (v !== undefined) headers[k] = headerValue(v) as string;
    this.batches.push({ at: Date.now(), headers, events, rawBytes: raw.length, encoding });
    const seq0 = this.firstSeq + this.events.length;
    this.events.push(...events);
    events.forEach((e, i) => this.broadcast(sseMessage(seq0 + i, e)));
    this.log(describeBatch(events, encoding, raw.length));
    send(res, 201, "", "application/json", {
      "x-moesif-config-etag": this.config.current().tag,
      "x-moesif-rules-tag": this.rules.current().tag,
    });
    this.settleWaiters();
  }

  private openStream(req: IncomingMessage, res: ServerResponse): void {
    res.writeHead(200, {
      "content-type": "text/event-stream",
      "cache-control": "no-cache",
      connection: "keep-alive",
    });
    // A reconnecting EventSource sends the last id it saw: replay only what it missed.
    const lastId = Number(headerValue(req.headers["last-event-id"]) ?? NaN);
    const from = Number.isInteger(lastId)
      ? Math.max(0, lastId + 1 - this.firstSeq)
      : Math.max(0, this.events.length - SSE_REPLAY_LIMIT);
    let out = "retry: 1000\n\n";
    for (let i = from; i < this.events.length; i++) out += sseMessage(this.firstSeq + i, this.events[i]);
    res.write(out);
    this.streams.add(res);
    res.on("close", () => this.streams.delete(res));
  }

  private broadcast(chunk: string): void {
    for (const s of this.streams) s.write(chunk);
  }

  private settleWaiters(): void {
    this.waiters = this.waiters.filter((w) => {
      if (this.events.length < w.count) return true;
      clearTimeout(w.timer);
      w.resolve(this.events.slice());
      return false;
    });
  }

  private sleep(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const t = setTimeout(() => {
        this.timers.delete(t);
        resolve();
      }, ms);
      this.timers.add(t);
    });
  }

  private log(line: string): void {
    if (!this.opts.quiet) console.log(`[collector] ${line}`);
  }
}

function headerValue(v: string | string[] | undefined): string | undefined {
  return Array.isArray(v) ? v.join(", ") : v;
}

function send(
  res: ServerResponse,
  status: number,
  body: string | Buffer,
  type: string,
  headers: Record<string, string> = {},
): void {
  const buf = typeof body === "string" ? Buffer.from(body) : body;
  res.writeHead(status, { "content-type": type, "content-length": String(buf.length), ...headers });
  res.end(buf);
}

function readBody(req: IncomingMessage): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    let tooLarge = false;
    req.on("data", (chunk: Buffer) => {
      size += chunk.length;
      // Keep draining so the client can read the 413, but stop storing.
      if (size > MAX_BODY_BYTES) tooLarge = true;
      else chunks.push(chunk);
    });
    req.on("end", () => {
      if (tooLarge) reject(new HttpError(413, `body larger than ${MAX_BODY_BYTES} bytes`));
      else resolve(Buffer.concat(chunks));
    });
    req.on("error", reject);
  });
}

function decode(raw: Buffer, encoding: string | null): Buffer {
  const limits = { maxOutputLength: MAX_BODY_BYTES };
  try {
    if (encoding === null || encoding === "identity") return raw;
    if (encoding === "gzip" || encoding === "x-gzip") return zlib.gunzipSync(raw, limits);
    if (encoding === "deflate") {
      // HTTP "deflate" is zlib-wrapped (what the Lua plugin sends); some clients send raw deflate.
      try {
        return zlib.inflateSync(raw, limits);
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code === "ERR_BUFFER_TOO_LARGE") throw err;
        return zlib.inflateRawSync(raw, limits);
      }
    }
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === "ERR_BUFFER_TOO_LARGE") {
      throw new HttpError(413, `inflated body larger than ${MAX_BODY_BYTES} bytes`);
    }
    throw new HttpError(400, `cannot decode ${encoding} body: ${(err as Error).message}`);
  }
  throw new HttpError(415, `unsupported Content-Encoding: ${encoding}`);
}

function resetSocket(socket: Socket): void {
  // resetAndDestroy sends a TCP RST (Node ≥ 16.17); a plain destroy would be a clean FIN.
  const s = socket as Socket & { resetAndDestroy?: () => void };
  if (typeof s.resetAndDestroy === "function") s.resetAndDestroy();
  else s.destroy();
}

function sseMessage(seq: number, event: unknown): string {
  // JSON.stringify escapes newlines, so one data line always suffices.
  return `id: ${seq}\ndata: ${JSON.stringify(event)}\n\n`;
}

function describeBatch(events: unknown[], encoding: string | null, rawBytes: number): string {
  const head = `batch of ${events.length} event${events.length === 1 ? "" : "s"} (${rawBytes} B${encoding ? ", " + encoding : ""})`;
  if (events.length === 0) return head;
  const e = events[0] as { request?: { verb?: unknown; uri?: unknown }; response?: { status?: unknown } };
  return `${head}: ${e.request?.verb ?? "?"} ${e.request?.uri ?? "?"} -> ${e.response?.status ?? "?"}`;
}

// `tsx local/collector.ts [--port N] [--host ADDR]` runs it standalone (default 127.0.0.1:8088;
// docker-compose.yml passes --host 0.0.0.0 so Kong's container can reach it).
if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const i = process.argv.indexOf("--port");
  const h = process.argv.indexOf("--host");
  const collector = new Collector({
    port: i > 0 ? Number(process.argv[i + 1]) : 8088,
    host: h > 0 ? process.argv[h + 1] : undefined,
  });
  collector.start().then(
    () => {
      console.log(`[collector] listening on ${collector.url}  (viewer: ${collector.url}/)`);
      console.log(`[collector] config: ${DEFAULT_CONFIG_FILE}`);
      console.log(`[collector] rules:  ${DEFAULT_RULES_FILE}`);
    },
    (err: Error) => {
      console.error(`[collector] cannot start: ${err.message}`);
      process.exit(1);
    },
  );
  process.once("SIGINT", () => void collector.stop().then(() => process.exit(0)));
}
