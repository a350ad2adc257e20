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
    this.reqHeaders = req.headers.map(([k, v]) => [k, v] as [string, string]);
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
    const chunked = /chunked/i.test(findHeader(this.reqHeaders, "transfer-encoding") ?? "");
    // nginx keeps a body in memory up to 1.25 x client_body_buffer_size (+ preread) for
    // Content-Length requests; chunked bodies have a lower cut-off (engine-verified §6a).
    const limit = chunked
      ? bodyLimit + HEADER_BUFFER
      : Math.floor(bodyLimit * 1.25) + Math.max(0, HEADER_BUFFER - this.headerBytes);
    this.bodyReadable = this.reqBody.length <= limit;
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
