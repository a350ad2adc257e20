// Real sockets: dispatches (HTTP/1.1, one connection each, `Connection: close`) and the
// proxied upstream for `{url}` upstreams. 127.0.0.1 only.

import * as http from "node:http";
import * as https from "node:https";
import type { DispatchFailure } from "./gateway.js";
import type { Pairs } from "./headers.js";

export interface WireRequest {
  host: string;
  port: number;
  tls: boolean;
  servername?: string;
  method: string;
  path: string;
  /** Final header lines in wire order. */
  headers: Pairs;
  body: Uint8Array;
}

export type WireResult =
  | { ok: true; status: number; headers: Pairs; body: Uint8Array; chunks: Uint8Array[]; contentLength: boolean }
  | { ok: false; failure: DispatchFailure; message: string };

export interface WireCall {
  result: Promise<WireResult>;
  /** Stop the exchange now and settle with this failure (used for timeouts). */
  abort(failure: DispatchFailure, message: string): void;
}

function pairsOf(raw: string[]): Pairs {
  const out: Pairs = [];
  for (let i = 0; i + 1 < raw.length; i += 2) out.push([raw[i], raw[i + 1]]);
  return out;
}

function classify(err: NodeJS.ErrnoException): { failure: DispatchFailure; message: string } {
  const code = err.code ?? "";
  if (code === "ECONNREFUSED") return { failure: "broken connection", message: "tcp socket - Connection refused" };
  if (code === "ECONNRESET" || code === "EPIPE" || err.message === "socket hang up") {
    return { failure: "broken connection", message: "tcp socket - Connection reset by peer" };
  }
  if (code.startsWith("HPE_")) return { failure: "reader failure", message: `tcp socket - parser error: ${err.message}` };
  if (code.startsWith("ERR_SSL") || code === "EPROTO" || /ssl|tls/i.test(err.message)) {
    return { failure: "tls handshake failure", message: `tls handshake failed: ${err.message}` };
  }
  return { failure: "broken connection", message: `tcp socket - ${err.message}` };
}

/** Sends one request; `bodyless` responses (no Content-Length, not chunked) read as empty. */
export function sendWire(req: WireRequest): WireCall {
  let settle!: (r: WireResult) => void;
  let done = false;
  const result = new Promise<WireResult>((resolve) => {
    settle = (r) => {
      if (!done) {
        done = true;
        resolve(r);
      }
    };
  });
  const flat: string[] = req.headers.flatMap(([k, v]) => [k, v]);
  const opts: https.RequestOptions = {
    host: req.host,
    port: req.port,
    method: req.method,
    path: req.path,
    headers: flat as unknown as http.OutgoingHttpHeaders,
    setHost: false,
    agent: false,
  };
  if (req.tls) {
    opts.rejectUnauthorized = false;
    if (req.servername) opts.servername = req.servername;
  }
  const r = (req.tls ? https : http).request(opts, (res) => {
    const chunks: Uint8Array[] = [];
    const hasCl = res.headers["content-length"] !== undefined;
    const chunked = /chunked/i.test(String(res.headers["transfer-encoding"] ?? ""));
    res.on("data", (c: Buffer) => chunks.push(new Uint8Array(c)));
    res.on("error", (e: NodeJS.ErrnoException) => settle({ ok: false, ...classify(e) }));
    res.on("end", () => {
      const body = hasCl || chunked ? Buffer.concat(chunks) : new Uint8Array(0);
      settle({
        ok: true,
        status: res.statusCode ?? 0,
        headers: pairsOf(res.rawHeaders),
        body: new Uint8Array(body),
        chunks: hasCl || chunked ? chunks : [],
        contentLength: hasCl,
      });
    });
  });
  r.on("error", (e: NodeJS.ErrnoException) => settle({ ok: false, ...classify(e) }));
  r.end(Buffer.from(req.body.buffer, req.body.byteOffset, req.body.byteLength)); // a view: the body is already the host's own copy
  return {
    result,
    abort(failure, message) {
      settle({ ok: false, failure, message });
      r.destroy();
    },
  };
}
