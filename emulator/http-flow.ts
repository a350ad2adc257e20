// The request path: a client request through the filter's phases (context create, request
// headers/body with Pause and dispatch waits, the upstream, response headers/body in chunks,
// done/log/delete), local responses, the paused-forever request, and nginx's error pages.

import { atLeast } from "./abi.js";
import { concat, EMPTY, splitChunk } from "./bytes.js";
import type { ProxyRequest, ProxyResult, Upstream, UpstreamResponse } from "./gateway.js";
import { findHeader, removeHeader, setHeader, type Pairs } from "./headers.js";
import { HttpCtx } from "./http-context.js";
import type { Runtime } from "./lifecycle.js";
import { sendRequest } from "./loopback.js";
import type { CallOutcome, Frame, OnExport, Phase, WorkerState } from "./worker.js";

/** The Pause action of on_request_headers/body and on_response_headers. */
export const PAUSE = 1;
const enc = new TextEncoder();

// nginx 1.22's status lines (ngx_http_status_lines): codes it has no text for get an empty reason.
export const REASONS: Record<number, string> = {
  200: "OK",
  201: "Created",
  202: "Accepted",
  204: "No Content",
  206: "Partial Content",
  301: "Moved Permanently",
  302: "Moved Temporarily",
  303: "See Other",
  304: "Not Modified",
  307: "Temporary Redirect",
  308: "Permanent Redirect",
  400: "Bad Request",
  401: "Unauthorized",
  402: "Payment Required",
  403: "Forbidden",
  404: "Not Found",
  405: "Not Allowed",
  406: "Not Acceptable",
  408: "Request Time-out",
  409: "Conflict",
  410: "Gone",
  411: "Length Required",
  412: "Precondition Failed",
  413: "Request Entity Too Large",
  414: "Request-URI Too Large",
  415: "Unsupported Media Type",
  416: "Requested Range Not Satisfiable",
  421: "Misdirected Request",
  429: "Too Many Requests",
  500: "Internal Server Error",
  501: "Not Implemented",
  502: "Bad Gateway",
  503: "Service Temporarily Unavailable",
  504: "Gateway Time-out",
  505: "HTTP Version Not Supported",
  507: "Insufficient Storage",
};

/** Serves one client request in worker `w` through the filter's phases. */
export async function serve(rt: Runtime, w: WorkerState, req: ProxyRequest, upstream: Upstream): Promise<ProxyResult> {
  const life = w.life;
  const crashed = (ctx: HttpCtx | null): ProxyResult => ({
    status: 0,
    reason: "empty reply (worker crashed)",
    headers: [],
    body: EMPTY,
    trapped: false,
    local: false,
    upstreamCalled: false,
    crashed: true,
    worker: w.index,
    contextId: ctx ? ctx.id : 0,
  });
  if (w.dead) return crashed(null);
  if (!rt.ensureInstance(w, "request")) return w.dead ? crashed(null) : errorPage(rt, w, 500, 0, false, undefined);
  const ctx = new HttpCtx(++w.ctxCounter, w, req, rt.clock.now(), rt.opts.clientBodyBufferSize ?? 8192);
  if (!ctx.bodyReadable) {
    rt.hostLog(
      w,
      "warn",
      ctx.id,
      `a client request body is buffered to a temporary file /usr/local/kong/client_body_temp/${String(ctx.id).padStart(10, "0")}`,
    );
  }
  const frame = (phase: Phase): Frame => ({ phase, ctx, call: null });
  const fail = (r: CallOutcome & { ok: false }): ProxyResult => {
    ctx.finish();
    return r.kind === "crash" ? crashed(ctx) : errorPage(rt, w, 500, ctx.id, false, undefined);
  };

  let r = rt.invoke(w, "proxy_on_context_create", [ctx.id, rt.rootId], frame("context_create"));
  if (!r.ok) return fail(r);

  // Request steps: headers, then the body (once, whole, only when non-empty).
  const steps: Array<[OnExport, number[], Phase]> = [
    [
      "proxy_on_request_headers",
      [ctx.id, ctx.reqHeaders.length, atLeast(rt.version, "3.7") ? 0 : 1],
      "request_headers",
    ],
  ];
  if (ctx.reqBody.length > 0) steps.push(["proxy_on_request_body", [ctx.id, ctx.reqBody.length, 1], "request_body"]);
  for (const [fn, args, phase] of steps) {
    r = rt.invoke(w, fn, args, frame(phase));
    if (!r.ok) return fail(r);
    const next = await afterRequestStep(rt, w, ctx, r.value, fn);
    if (w.life !== life) return crashed(ctx);
    if (next === "trap") {
      ctx.finish();
      return errorPage(rt, w, 500, ctx.id, false, undefined);
    }
    if (next === "local") return localResponse(rt, w, ctx);
    if (next === "hang") return hang(rt, w, ctx);
  }

  // Upstream.
  const upReq: ProxyRequest = {
    method: ctx.method,
    path: ctx.path,
    headers: ctx.reqHeaders.map(([k, v]) => [k, v] as [string, string]),
    body: ctx.reqBody.length ? ctx.reqBody : undefined,
    remoteAddr: ctx.remoteAddr,
  };
  const t0 = rt.clock.now();
  const up = await callUpstream(upstream, upReq);
  if (w.life !== life) return crashed(ctx);
  ctx.upstream = { address: "127.0.0.1", port: up.port, status: up.res.status, timeMs: rt.clock.now() - t0 };
  return respond(rt, w, ctx, up.res, up.contentLength, true, upReq);
}

/** What to do after on_request_headers/on_request_body returned `action`. */
async function afterRequestStep(
  rt: Runtime,
  w: WorkerState,
  ctx: HttpCtx,
  action: number,
  fn: OnExport,
): Promise<"continue" | "local" | "trap" | "hang"> {
  if (ctx.local) return "local";
  if (action !== 0 && action !== PAUSE) {
    rt.hostLog(w, "error", ctx.id, `[proxy-wasm] NYI - proxy_wasm_action: ${action}`);
    return "trap";
  }
  if (ctx.pending.size > 0) {
    if (action !== PAUSE) {
      // The filter's Continue overrides the host's pause: the request goes on, the
      // callback never comes and the worker SIGSEGVs when the dispatch resumes.
      ctx.hazard = true;
      return "continue";
    }
    await ctx.waitPending();
    if (ctx.trapped || ctx.dispatchAborted) return "trap";
    if (ctx.local) return "local";
    return "continue";
  }
  if (action === PAUSE && !ctx.resumeForced) {
    rt.hostLog(
      w,
      "warn",
      ctx.id,
      `[emulator] ${fn} returned Pause with no pending dispatch and no local response: the engine leaves ` +
        "the request suspended until the client gives up",
    );
    return "hang";
  }
  ctx.resumeForced = false;
  return "continue";
}

/** A request left paused: the client eventually closes; nginx logs it (499) and finalizes. */
function hang(rt: Runtime, w: WorkerState, ctx: HttpCtx): ProxyResult {
  ctx.status = 499;
  finalize(rt, w, ctx);
  return {
    status: 0,
    reason: "no response (request left paused)",
    headers: [],
    body: EMPTY,
    trapped: false,
    local: false,
    upstreamCalled: false,
    worker: w.index,
    contextId: ctx.id,
  };
}

async function callUpstream(
  upstream: Upstream,
  req: ProxyRequest,
): Promise<{ res: UpstreamResponse; contentLength: boolean | null; port: number }> {
  const badGateway = {
    status: 502,
    headers: [["Content-Type", "text/html"]] as Pairs,
    body: enc.encode(nginxPage(502)),
  };
  if (typeof upstream === "function") {
    try {
      return { res: await upstream(req), contentLength: null, port: 80 };
    } catch {
      return { res: badGateway, contentLength: true, port: 80 };
    }
  }
  const got = await sendRequest(upstream.url, req);
  if (!got.ok) return { res: badGateway, contentLength: true, port: got.port };
  return { res: got.response, contentLength: got.contentLength, port: got.port };
}

/** Response phases: headers, body chunks, then done/log/delete. */
function respond(
  rt: Runtime,
  w: WorkerState,
  ctx: HttpCtx,
  res: UpstreamResponse,
  contentLengthHint: boolean | null,
  upstreamCalled: boolean,
  upReq: ProxyRequest | undefined,
): ProxyResult {
  const life = w.life;
  const head = ctx.req.method.toUpperCase() === "HEAD";
  let chunks = res.chunks ?? (res.body && res.body.length ? [res.body] : []);
  // Proxied bodies reach the filter in buffer-sized pieces.
  chunks = chunks.flatMap((c) => splitChunk(c, 8192));
  const total = chunks.reduce((n, c) => n + c.length, 0);
  const declaredCl = findHeader(res.headers, "content-length");
  const chunked =
    /chunked/i.test(findHeader(res.headers, "transfer-encoding") ?? "") ||
    (contentLengthHint === null ? declaredCl === undefined && res.chunks !== undefined : !contentLengthHint);
  const noBody = res.status === 204 || res.status === 304 || (res.status >= 100 && res.status < 200);

  ctx.status = res.status;
  ctx.reason = REASONS[res.status] ?? "";
  ctx.responseStarted = true;
  const hdrs: Pairs = [];
  const ct = findHeader(res.headers, "content-type");
  if (ct !== undefined) hdrs.push(["Content-Type", ct]);
  if (!noBody) {
    if (chunked) hdrs.push(["Transfer-Encoding", "chunked"]);
    else hdrs.push(["Content-Length", declaredCl ?? String(total)]);
  } else if (declaredCl === undefined) {
    // The engine's shim says chunked for a 1xx/204/304 without Content-Length (the filter sees
    // it; nginx does not send it).
    hdrs.push(["Transfer-Encoding", "chunked"]);
  }
  const clientClose = /close/i.test(findHeader(ctx.reqHeaders, "connection") ?? "");
  hdrs.push(["Connection", clientClose ? "close" : "keep-alive"]);
  for (const [k, v] of res.headers) {
    if (/^(content-type|content-length|transfer-encoding|connection|keep-alive|server|date)$/i.test(k)) continue;
    hdrs.push([k, v]);
  }
  if (upstreamCalled) {
    hdrs.push(["X-Kong-Upstream-Latency", String(ctx.upstream?.timeMs ?? 0)]);
    hdrs.push(["X-Kong-Proxy-Latency", "0"]);
    hdrs.push(["Via", `1.1 kong/${rt.version}.0`]);
  }
  hdrs.push(["Server", findHeader(res.headers, "server") ?? `kong/${rt.version}.0`]);
  hdrs.push(["Date", findHeader(res.headers, "date") ?? new Date(rt.clock.now()).toUTCString()]);
  for (const op of ctx.preResponseOps) op(hdrs);
  ctx.respHeaders = hdrs;

  const bodyOut: Uint8Array[] = [];
  const result = (trapped: boolean): ProxyResult => ({
    status: ctx.status,
    reason: ctx.reason,
    headers: noBody ? (ctx.respHeaders ?? []).filter(([k]) => k.toLowerCase() !== "transfer-encoding") : ctx.respHeaders ?? [],
    body: concat(bodyOut),
    trapped,
    local: false,
    upstreamCalled,
    upstreamRequest: upReq,
    worker: w.index,
    contextId: ctx.id,
  });

  if (ctx.hazard) {
    rt.hostLog(
      w,
      "warn",
      ctx.id,
      '[proxy-wasm] "ResponseHeaders" returned "PAUSE": local response expected but none produced',
    );
  } else {
    const r = rt.invoke(w, "proxy_on_response_headers", [ctx.id, hdrs.length, 0], {
      phase: "response_headers",
      ctx,
      call: null,
    });
    if (w.life !== life) return { ...result(false), status: 0, crashed: true };
    if (!r.ok) {
      ctx.finish();
      return errorPage(rt, w, 500, ctx.id, upstreamCalled, upReq);
    }
    if (r.value === PAUSE && !ctx.override) {
      rt.hostLog(
        w,
        "warn",
        ctx.id,
        '[proxy-wasm] "ResponseHeaders" returned "PAUSE": local response expected but none produced',
      );
    }
  }
  if (ctx.override) {
    ctx.status = ctx.override.status;
    ctx.reason = ctx.override.reason;
    setHeader(ctx.respHeaders!, "Content-Length", String(ctx.override.body.length));
    removeHeader(ctx.respHeaders!, "Transfer-Encoding");
    chunks = [ctx.override.body];
  }

  // Body: eof only when one chunk is the whole Content-Length; chunked ends with (0, eof).
  if (!head) {
    const calls: Array<[Uint8Array, number]> = [];
    if (noBody) calls.push([EMPTY, 1]);
    else if (ctx.override) calls.push([chunks[0], 1]);
    else if (chunked) {
      for (const c of chunks) calls.push([c, 0]);
      calls.push([EMPTY, 1]);
    } else if (total === 0) calls.push([EMPTY, 1]);
    else for (const c of chunks) calls.push([c, c.length === total ? 1 : 0]);
    for (const [chunk, eof] of calls) {
      ctx.respChunk = chunk;
      const r = rt.invoke(w, "proxy_on_response_body", [ctx.id, chunk.length, eof], {
        phase: "response_body",
        ctx,
        call: null,
      });
      if (w.life !== life) return { ...result(false), crashed: true };
      if (!r.ok) {
        // Headers are out: the client gets a truncated body.
        ctx.finish();
        return result(true);
      }
      if (ctx.respChunk.length) bodyOut.push(ctx.respChunk);
      ctx.bodyBytesSent += ctx.respChunk.length;
    }
    ctx.respChunk = null;
  }
  ctx.bytesSent = ctx.bodyBytesSent + 17 + ctx.respHeaders!.reduce((n, [k, v]) => n + k.length + v.length + 4, 2);
  const trapped = !finalize(rt, w, ctx);
  if (w.life !== life) return { ...result(false), crashed: true };
  return result(trapped);
}

/** on_done, on_log (same step), then on_delete. A trap stops the sequence. */
function finalize(rt: Runtime, w: WorkerState, ctx: HttpCtx): boolean {
  const life = w.life;
  let ok = true;
  for (const [fn, phase] of [
    ["proxy_on_done", "done"],
    ["proxy_on_log", "log"],
    ["proxy_on_delete", "delete"],
  ] as Array<[OnExport, Phase]>) {
    const r = rt.invoke(w, fn, [ctx.id], { phase, ctx, call: null });
    if (!r.ok || w.life !== life) {
      ok = false;
      break;
    }
  }
  ctx.finish();
  return ok;
}

function localResponse(rt: Runtime, w: WorkerState, ctx: HttpCtx): ProxyResult {
  const life = w.life;
  const l = ctx.local!;
  for (const c of [...ctx.pending]) {
    c.cancelled = true;
    ctx.removePending(c);
  }
  ctx.status = l.status;
  ctx.reason = l.reason;
  ctx.responseStarted = true;
  // The engine's map order: Content-Type (nginx's default_type text/plain when the filter
  // gave none and the body is not empty), Connection, the filter's other headers,
  // Content-Length, Server, Date.
  const ct = findHeader(l.headers, "content-type") ?? (l.body.length ? "text/plain" : undefined);
  const hdrs: Pairs = [
    ...(ct === undefined ? [] : [["Content-Type", ct] as [string, string]]),
    ["Connection", "keep-alive"],
    ...l.headers.filter(([k]) => k.toLowerCase() !== "content-type"),
    ["Content-Length", String(l.body.length)],
    ["Server", `kong/${rt.version}.0`],
    ["Date", new Date(rt.clock.now()).toUTCString()],
  ];
  ctx.respHeaders = hdrs;
  const base = (): ProxyResult => ({
    status: ctx.status,
    reason: ctx.reason,
    headers: hdrs,
    body: l.body,
    trapped: false,
    local: true,
    upstreamCalled: false,
    worker: w.index,
    contextId: ctx.id,
  });
  let r = rt.invoke(w, "proxy_on_response_headers", [ctx.id, hdrs.length, 0], {
    phase: "response_headers",
    ctx,
    call: null,
  });
  if (w.life !== life) return { ...base(), status: 0, crashed: true };
  if (!r.ok) {
    ctx.finish();
    return errorPage(rt, w, 500, ctx.id, false, undefined);
  }
  ctx.respChunk = l.body;
  r = rt.invoke(w, "proxy_on_response_body", [ctx.id, l.body.length, 1], { phase: "response_body", ctx, call: null });
  if (w.life !== life) return { ...base(), crashed: true };
  if (!r.ok) {
    ctx.finish();
    return { ...base(), trapped: true };
  }
  const body = ctx.respChunk;
  ctx.respChunk = null;
  ctx.bodyBytesSent = body.length;
  ctx.bytesSent = body.length + 100;
  finalize(rt, w, ctx);
  if (w.life !== life) return { ...base(), body, crashed: true };
  return { ...base(), body };
}

function errorPage(
  rt: Runtime,
  w: WorkerState,
  status: number,
  ctxId: number,
  upstreamCalled: boolean,
  upReq: ProxyRequest | undefined,
): ProxyResult {
  const body = enc.encode(nginxPage(status));
  return {
    status,
    reason: REASONS[status],
    headers: [
      ["Content-Type", "text/html"],
      ["Content-Length", String(body.length)],
      ["Connection", "close"],
      ["Server", `kong/${rt.version}.0`],
      ["Date", new Date(rt.clock.now()).toUTCString()],
    ],
    body,
    trapped: true,
    local: false,
    upstreamCalled,
    upstreamRequest: upReq,
    worker: w.index,
    contextId: ctxId,
  };
}

export function nginxPage(status: number): string {
  const t = `${status} ${REASONS[status] ?? ""}`;
  return `<html>\r\n<head><title>${t}</title></head>\r\n<body>\r\n<center><h1>${t}</h1></center>\r\n<hr><center>openresty</center>\r\n</body>\r\n</html>\r\n`;
}
