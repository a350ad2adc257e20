// Real HTTP on 127.0.0.1 around a gateway, with no dependency on the Wasm host, so that the
// emulator and the engine gateway share it: a client request read as a ProxyRequest and a
// ProxyResult written back (the server side of `listen`), a ProxyRequest sent to a real server
// (the `{url}` upstream; for the engine, the request to nginx), and an Upstream function served
// as a real loopback server (for a gateway that can only proxy to sockets).

import * as http from "node:http";
import type { AddressInfo } from "node:net";
import { concat } from "./bytes.js";
import type { DispatchFailure, ProxyRequest, ProxyResult, UpstreamResponse } from "./gateway.js";
import { findHeader, type Pairs } from "./headers.js";
import { sendWire } from "./wire.js";

const HOP_BY_HOP = /^(connection|keep-alive|transfer-encoding)$/i;

/** Reads a client's request; headers keep their order and case. */
export function readRequest(req: http.IncomingMessage): Promise<ProxyRequest> {
  return new Promise((resolve, reject) => {
    const chunks: Uint8Array[] = [];
    req.on("data", (c: Buffer) => chunks.push(new Uint8Array(c)));
    req.on("error", reject);
    req.on("end", () => {
      const headers: Pairs = [];
      for (let i = 0; i + 1 < req.rawHeaders.length; i += 2) headers.push([req.rawHeaders[i], req.rawHeaders[i + 1]]);
      const body = concat(chunks);
      resolve({
        method: req.method ?? "GET",
        path: req.url ?? "/",
        headers,
        body: body.length ? body : undefined,
        remoteAddr: req.socket.remoteAddress?.replace(/^::ffff:/, ""),
      });
    });
  });
}

/** Writes a gateway's answer to the client; status 0 (no response) drops the connection. */
export function writeResult(res: http.ServerResponse, r: ProxyResult): void {
  if (r.status === 0) {
    res.socket?.destroy();
    return;
  }
  const headers: Record<string, string[]> = {};
  const names: Record<string, string> = {};
  for (const [k, v] of r.headers) {
    const lk = k.toLowerCase();
    if (lk === "connection" || lk === "transfer-encoding" || lk === "keep-alive") continue;
    if (lk === "content-length" && Number(v) !== r.body.length) continue;
    names[lk] ??= k;
    (headers[names[lk]] ??= []).push(v);
  }
  res.writeHead(r.status, r.reason ?? "", headers);
  res.end(Buffer.from(r.body.buffer, r.body.byteOffset, r.body.byteLength));
}

/** A real HTTP server on 127.0.0.1:`port` (0 = any free one) answering every request with `serve`. */
export async function serveGateway(port: number, serve: (req: ProxyRequest) => Promise<ProxyResult>): Promise<http.Server> {
  const server = http.createServer((req, res) => {
    readRequest(req)
      .then(serve)
      .then(
        (r) => writeResult(res, r),
        () => res.destroy(),
      );
  });
  await listenLocal(server, port);
  return server;
}

/** What a real server answered (`contentLength`: it framed the body with Content-Length). */
export type Received =
  | { ok: true; port: number; response: UpstreamResponse; contentLength: boolean }
  | { ok: false; port: number; failure: DispatchFailure; message: string };

/**
 * Sends `req` to the server at `url` (http or https on 127.0.0.1; the url's path prefixes the
 * request's), one connection, hop-by-hop headers dropped both ways. Body chunks come back as
 * they arrived.
 */
export async function sendRequest(url: string, req: ProxyRequest): Promise<Received> {
  const u = new URL(url);
  if (u.hostname !== "127.0.0.1") throw new Error("upstream url must be on 127.0.0.1");
  const port = Number(u.port || (u.protocol === "https:" ? 443 : 80));
  const base = u.pathname.replace(/\/$/, "");
  const headers = req.headers.filter(([k]) => !HOP_BY_HOP.test(k));
  if (req.body && !findHeader(headers, "content-length")) headers.push(["Content-Length", String(req.body.length)]);
  const res = await sendWire({
    host: "127.0.0.1",
    port,
    tls: u.protocol === "https:",
    method: req.method,
    path: base + req.path,
    headers,
    body: req.body ?? new Uint8Array(0),
  }).result;
  if (!res.ok) return { ok: false, port, failure: res.failure, message: res.message };
  const keep = res.headers.filter(([k]) => !HOP_BY_HOP.test(k));
  return {
    ok: true,
    port,
    response: { status: res.status, headers: keep, chunks: res.chunks.length ? res.chunks : [] },
    contentLength: res.contentLength,
  };
}

export interface UpstreamServer {
  /** `http://127.0.0.1:<port>`, usable as a `{url}` upstream. */
  url: string;
  port: number;
  close(): Promise<void>;
}

/**
 * Serves an upstream function on 127.0.0.1:`port` (0 = any free one), framed as the
 * in-process upstream is read: `body` with Content-Length (unless the function set one),
 * `chunks` chunked (unless Content-Length is set). A function that throws drops the
 * connection (the gateway then answers 502).
 */
export async function serveUpstream(
  upstream: (req: ProxyRequest) => UpstreamResponse | Promise<UpstreamResponse>,
  port = 0,
): Promise<UpstreamServer> {
  const server = http.createServer((req, res) => {
    readRequest(req)
      .then(upstream)
      .then(
        (r) => {
          const flat: string[] = [];
          for (const [k, v] of r.headers) flat.push(k, v);
          const chunks = r.chunks ?? (r.body && r.body.length ? [r.body] : []);
          if (r.chunks === undefined && findHeader(r.headers, "content-length") === undefined) {
            flat.push("Content-Length", String(chunks.reduce((n, c) => n + c.length, 0)));
          }
          res.writeHead(r.status, flat);
          for (const c of chunks) res.write(c);
          res.end();
        },
        () => res.destroy(),
      );
  });
  await listenLocal(server, port);
  const bound = (server.address() as AddressInfo).port;
  return {
    url: `http://127.0.0.1:${bound}`,
    port: bound,
    close: () =>
      new Promise<void>((r) => {
        server.closeAllConnections();
        server.close(() => r());
      }),
  };
}

function listenLocal(server: http.Server, port: number): Promise<void> {
  return new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(port, "127.0.0.1", () => resolve());
  });
}
