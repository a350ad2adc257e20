// A raw HTTP/1.1 client for the gateway: it writes exactly the request a test describes (its
// headers, in order and case, repeated ones kept; chunked or Content-Length bodies) and reads
// one response. Node's http client would add headers of its own, which the filter would log.
import { connect, type Socket } from "node:net";
import type { ProxyRequest } from "../emulator/types.ts";

export interface RawResponse {
  status: number;
  reason: string;
  headers: Array<[string, string]>;
  body: Uint8Array;
  /** Local port of the connection (what nginx sees as $remote_port). */
  localPort: number;
}

const CRLF = "\r\n";

function hasHeader(headers: Array<[string, string]>, name: string): string | undefined {
  return headers.find(([k]) => k.toLowerCase() === name)?.[1];
}

/** The request's bytes. A `Transfer-Encoding: chunked` request sends its body as chunks of `chunkSize`. */
export function encodeRequest(req: ProxyRequest, extra: Array<[string, string]> = [], chunkSize = 4096): Buffer {
  const headers = [...req.headers, ...extra];
  const body = req.body ?? new Uint8Array();
  const chunked = /chunked/i.test(hasHeader(headers, "transfer-encoding") ?? "");
  if (!chunked && body.length > 0 && hasHeader(headers, "content-length") === undefined) {
    headers.push(["Content-Length", String(body.length)]);
  }
  const head = `${req.method} ${req.path} HTTP/1.1${CRLF}${headers.map(([k, v]) => `${k}: ${v}${CRLF}`).join("")}${CRLF}`;
  // UTF-8, as the emulator hands header strings to the filter (latin1 would turn é into an invalid byte).
  const parts: Buffer[] = [Buffer.from(head, "utf8")];
  if (chunked) {
    for (let i = 0; i < body.length; i += chunkSize) {
      const c = body.subarray(i, i + chunkSize);
      parts.push(Buffer.from(`${c.length.toString(16)}${CRLF}`), Buffer.from(c), Buffer.from(CRLF));
    }
    parts.push(Buffer.from(`0${CRLF}${CRLF}`));
  } else {
    parts.push(Buffer.from(body));
  }
  return Buffer.concat(parts);
}

interface Head {
  status: number;
  reason: string;
  headers: Array<[string, string]>;
  end: number;
}

function parseHead(buf: Buffer): Head | null {
  const end = buf.indexOf("\r\n\r\n");
  if (end < 0) return null;
  const lines = buf.subarray(0, end).toString("latin1").split(CRLF);
  const m = /^HTTP\/1\.[01] (\d{3})(?: (.*))?$/.exec(lines[0]);
  if (!m) throw new Error(`bad status line: ${lines[0]}`);
  const headers: Array<[string, string]> = [];
  for (const l of lines.slice(1)) {
    const i = l.indexOf(":");
    if (i > 0) headers.push([l.slice(0, i), l.slice(i + 1).trim()]);
  }
  return { status: Number(m[1]), reason: m[2] ?? "", headers, end: end + 4 };
}

/** Decodes a complete chunked body, or returns null while it is incomplete. */
function dechunk(buf: Buffer): Buffer | null {
  const out: Buffer[] = [];
  let at = 0;
  for (;;) {
    const eol = buf.indexOf(CRLF, at);
    if (eol < 0) return null;
    const size = parseInt(buf.subarray(at, eol).toString("latin1"), 16);
    if (Number.isNaN(size)) throw new Error("bad chunk size");
    if (size === 0) return buf.indexOf(CRLF + CRLF, eol) >= 0 || buf.length >= eol + 4 ? Buffer.concat(out) : null;
    if (buf.length < eol + 2 + size + 2) return null;
    out.push(buf.subarray(eol + 2, eol + 2 + size));
    at = eol + 2 + size + 2;
  }
}

/** Sends one request on a new connection to 127.0.0.1:`port` and reads the response. */
export function sendRequest(
  port: number,
  req: ProxyRequest,
  opts: { extraHeaders?: Array<[string, string]>; localAddress?: string; timeoutMs?: number; onConnect?: (localPort: number) => void } = {},
): Promise<RawResponse> {
  return new Promise((resolve, reject) => {
    const sock: Socket = connect({ host: "127.0.0.1", port, localAddress: opts.localAddress });
    let buf = Buffer.alloc(0);
    let head: Head | null = null;
    let localPort = 0;
    let done = false;
    const finish = (err: Error | null, body?: Buffer) => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      sock.destroy();
      if (err || !head) reject(err ?? new Error(`connection closed before a response (${buf.length} bytes read)`));
      else resolve({ status: head.status, reason: head.reason, headers: head.headers, body: new Uint8Array(body ?? Buffer.alloc(0)), localPort });
    };
    const timer = setTimeout(() => finish(new Error(`no response within ${opts.timeoutMs ?? 30_000} ms`)), opts.timeoutMs ?? 30_000);
    const tryComplete = (closed: boolean) => {
      if (!head) head = parseHead(buf);
      if (!head) return closed ? finish(null) : undefined;
      const rest = buf.subarray(head.end);
      const noBody = req.method === "HEAD" || head.status === 204 || head.status === 304 || (head.status >= 100 && head.status < 200);
      if (noBody) return finish(null, Buffer.alloc(0));
      if (/chunked/i.test(hasHeader(head.headers, "transfer-encoding") ?? "")) {
        const b = dechunk(rest);
        if (b) return finish(null, b);
      } else {
        const cl = hasHeader(head.headers, "content-length");
        if (cl !== undefined && rest.length >= Number(cl)) return finish(null, rest.subarray(0, Number(cl)));
      }
      if (closed) finish(null, rest);
    };
    sock.on("connect", () => {
      localPort = sock.localPort ?? 0;
      opts.onConnect?.(localPort);
      sock.write(encodeRequest(req, opts.extraHeaders));
    });
    sock.on("data", (d: Buffer) => {
      buf = Buffer.concat([buf, d]);
      tryComplete(false);
    });
    sock.on("end", () => tryComplete(true));
    sock.on("close", () => tryComplete(true));
    sock.on("error", (e) => finish(head ? null : e));
  });
}
