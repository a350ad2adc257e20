// The state of one HTTP request in a worker (an HTTP context): what the filter may read and
// change in each phase, its pending dispatches and its local response.

import { randomBytes } from "node:crypto";
import { EMPTY } from "./bytes.js";
import type { ProxyRequest } from "./gateway.js";
import { findHeader, type Pairs } from "./headers.js";
import type { PropRequest } from "./properties.js";
import type { DispatchCall, WorkerState } from "./worker.js";

/** nginx's client_header_buffer_size: what arrives with the headers is "preread". */
const HEADER_BUFFER = 1024;
/** nginx's large_client_header_buffers size (heads over 1 KiB move there). */
const LARGE_HEADER_BUFFER = 8192;

/** Bytes of a chunked body on the wire when sent in chunks of CLIENT_CHUNK bytes (what
 *  engine/client.ts and most clients write): size line, data and CRLF per chunk, then `0\r\n\r\n`. */
const CLIENT_CHUNK = 4096;
function chunkedWireBytes(n: number): number {
  let wire = 5;
  for (let i = 0; i < n; i += CLIENT_CHUNK) {
    const m = Math.min(CLIENT_CHUNK, n - i);
    wire += m.toString(16).length + 2 + m + 2;
  }
  return wire;
}

/**
 * Whether nginx keeps the request body in memory (readable by the filter) rather than in a temp
 * file, as measured on the engine with client_body_buffer_size B: the body bytes read with the
 * head ("preread") count first. The head is read into a 1 KiB buffer; a longer head moves, from
 * the start of the line that crossed 1 KiB on, into an 8 KiB large header buffer, whose rest is
 * then preread. Content-Length bodies stay in memory while body − preread < 1.25 × B; chunked
 * ones while their wire bytes − preread ≤ B.
 */
function bodyFitsInMemory(req: ProxyRequest, headers: Pairs, bodyLength: number, bufferSize: number): boolean {
  const lines = [`${req.method} ${req.path} HTTP/1.1`, ...headers.map(([k, v]) => `${k}: ${v}`)];
  const head = lines.reduce((n, l) => n + l.length + 2, 2);
  let preread: number;
  if (head <= HEADER_BUFFER) preread = HEADER_BUFFER - head;
  else {
    let lineStart = 0;
    for (const l of lines) {
      if (lineStart + l.length + 2 > HEADER_BUFFER) break;
      lineStart += l.length + 2;
    }
    preread = Math.max(0, LARGE_HEADER_BUFFER - (head - lineStart));
  }
  const chunked = /chunked/i.test(findHeader(headers, "transfer-encoding") ?? "");
  if (chunked) return chunkedWireBytes(bodyLength) - preread <= bufferSize;
  return bodyLength - preread < Math.floor(bufferSize * 1.25);
}

export interface LocalResponse {
  status: number;
  reason: string;
  body: Uint8Array;
  headers: Pairs;
}

export class HttpCtx {
  method: string;
  path: string;
  readonly reqHeaders: Pairs;
  reqBody: Uint8Array;
  readonly bodyReadable: boolean;
  readonly startMs: number;
  readonly remoteAddr: string;
  readonly remotePort: number;
  private requestIdValue: string | null = null;
  /** $request_id: drawn on first use (it costs a random draw per request otherwise). */
  get requestId(): string {
    if (this.requestIdValue === null) this.requestIdValue = randomBytes(16).toString("hex");
    return this.requestIdValue;
  }
  readonly headerBytes: number;
  readonly pending = new Set<DispatchCall>();
  private waiters: Array<() => void> = [];
  private finishHooks: Array<() => void> = [];
  status = 0;
  reason = "";
  respHeaders: Pairs | null = null;
  readonly preResponseOps: Array<(p: Pairs) => void> = [];
  respChunk: Uint8Array | null = null;
  local: LocalResponse | null = null;
  override: { status: number; reason: string; body: Uint8Array } | null = null;
  resumeForced = false;
  /** A request-path dispatch was followed by Continue: the engine SIGSEGVs later. */
  hazard = false;
  trapped = false;
  dispatchAborted = false;
  finished = false;
  responseStarted = false;
  upstream: PropRequest["upstream"] = null;
  bytesSent = 0;
  bodyBytesSent = 0;
  readonly custom = new Map<string, string>();
  readonly propView: PropRequest;

  constructor(
    readonly id: number,
    readonly worker: WorkerState,
    readonly req: ProxyRequest,
    now: number,
    bodyLimit: number,
  ) {
    this.method = req.method;
    this.path = req.path;
    // nginx's parser drops the whitespace around a header value.
    this.reqHeaders = req.headers.map(([k, v]) => [k, v.replace(/^[ \t]+|[ \t]+$/g, "")] as [string, string]);
    this.reqBody = req.body ?? EMPTY;
    // A body on the wire always comes framed; add the Content-Length a client would send.
    if (
      this.reqBody.length > 0 &&
      findHeader(this.reqHeaders, "content-length") === undefined &&
      findHeader(this.reqHeaders, "transfer-encoding") === undefined
    ) {
      this.reqHeaders.push(["Content-Length", String(this.reqBody.length)]);
    }
    this.startMs = now;
    this.remoteAddr = req.remoteAddr ?? "127.0.0.1";
    this.remotePort = 40000 + ((id * 7919) % 20000);
    this.headerBytes =
      `${req.method} ${req.path} HTTP/1.1\r\n`.length +
      this.reqHeaders.reduce((n, [k, v]) => n + k.length + v.length + 4, 2);
    this.bodyReadable = bodyFitsInMemory(req, this.reqHeaders, this.reqBody.length, bodyLimit);
    const self = this;
    this.propView = {
      get method() {
        return self.req.method;
      },
      uri: req.path,
      headers: this.reqHeaders,
      remoteAddr: this.remoteAddr,
      remotePort: this.remotePort,
      startMs: this.startMs,
      get requestId() {
        return self.requestId;
      },
      bodyLength: this.reqBody.length,
      headerBytes: this.headerBytes,
      get status() {
        return self.status;
      },
      get respHeaders() {
        return self.respHeaders;
      },
      get upstream() {
        return self.upstream;
      },
      get bytesSent() {
        return self.bytesSent;
      },
      get bodyBytesSent() {
        return self.bodyBytesSent;
      },
      custom: this.custom,
    };
  }

  waitPending(): Promise<void> {
    if (this.pending.size === 0) return Promise.resolve();
    return new Promise((r) => this.waiters.push(r));
  }

  removePending(call: DispatchCall): void {
    this.pending.delete(call);
    if (this.pending.size === 0) {
      const ws = this.waiters;
      this.waiters = [];
      for (const w of ws) w();
    }
  }

  onFinish(fn: () => void): void {
    if (this.finished) fn();
    else this.finishHooks.push(fn);
  }

  finish(): void {
    this.finished = true;
    const hs = this.finishHooks;
    this.finishHooks = [];
    for (const h of hs) h();
    // Nothing will wait on the request any more; unblock a paused step if any.
    const ws = this.waiters;
    this.waiters = [];
    for (const w of ws) w();
  }
}
