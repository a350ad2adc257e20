// Host functions of the request path: header maps (get, set, add, replace, remove), body
// buffers, properties, continue and local responses — with the phase rules of the engine.

import { BufferType, MapType, Result } from "./abi.js";
import { concat, EMPTY } from "./bytes.js";
import { bad, WorkerCrash } from "./errors.js";
import type { Guest } from "./guest.js";
import { findHeader, marshalInto, marshalSize, removeHeader, setHeader, unmarshal, type Pairs } from "./headers.js";
import type { HttpCtx } from "./http-context.js";
import { REASONS } from "./http-flow.js";
import type { Runtime } from "./lifecycle.js";
import { requestProperty, rootProperty } from "./properties.js";
import type { WorkerState } from "./worker.js";

const MAX_MAP_PAIRS = 100;
const LF = new Uint8Array([10]);

/** SDKs join path segments with NULs (and may end with one); the engine reads them as dots. */
function propertyPath(raw: string): string {
  if (raw.indexOf("\0") < 0) return raw;
  return raw.replace(/\0/g, ".").replace(/\.$/, "");
}

function mutate(p: Pairs, op: "add" | "set" | "remove", key: string, value: string): void {
  if (op === "add") p.push([key, value]);
  else if (op === "set") setHeader(p, key, value);
  else removeHeader(p, key);
}

export function httpCalls(rt: Runtime, w: WorkerState, g: Guest): Record<string, (...a: number[]) => number> {
  const { frame, slice, out, u32, alloc, giveOut, text, textAt, giveTextOut, ctxId, requestCtx } = g;

  const requestMap = (c: HttpCtx): Pairs => [
    [":path", c.path],
    [":method", c.method],
    [":scheme", "http"],
    [":authority", `${rt.opts.serverName ?? "kong"}:${rt.opts.listenPort ?? 8000}`],
    ...c.reqHeaders,
  ];
  const getMap = (type: number): Pairs | null => {
    const f = frame();
    switch (type) {
      case MapType.RequestHeaders:
        return requestMap(requestCtx("request headers map read"));
      case MapType.ResponseHeaders: {
        const c = requestCtx("response headers map read");
        const status: Pairs = c.status > 0 && c.responseStarted ? [[":status", String(c.status)]] : [];
        if (c.respHeaders) return [...status, ...c.respHeaders];
        const pre: Pairs = [];
        for (const op of c.preResponseOps) op(pre);
        return [...status, ...pre];
      }
      case MapType.HttpCallResponseHeaders:
        return f.call ? f.call.map : null;
      default:
        rt.hostLog(w, "error", ctxId(), `[wasm] NYI - get_map bad map_type: ${type}`);
        return null;
    }
  };
  const checkSet = (type: number): HttpCtx | number => {
    const f = frame();
    if (type !== MapType.RequestHeaders && type !== MapType.ResponseHeaders) {
      rt.hostLog(w, "error", ctxId(), `[wasm] NYI - set_map bad map_type: ${type}`);
      return Result.BadArgument;
    }
    const c = f.ctx;
    const p = f.phase;
    if (type === MapType.RequestHeaders) {
      const ok =
        c && (p === "request_headers" || p === "request_body" || (p === "http_call_response" && !c.responseStarted));
      if (!ok) throw bad("can only set request headers before response is produced");
      return c;
    }
    const ok =
      c &&
      (p === "request_headers" ||
        p === "request_body" ||
        p === "response_headers" ||
        (p === "http_call_response" && !c.responseStarted));
    if (!ok) throw bad('can only set response headers before "on_response_body"');
    return c;
  };
  type Op = "add" | "set" | "remove";
  const applyOp = (c: HttpCtx, type: number, op: Op, key: string, value: string): void => {
    // Only pseudo headers need the lowercased name (no lowercase copy for the rest).
    const pseudo = key.charCodeAt(0) === 58;
    if (type === MapType.RequestHeaders) {
      if (pseudo) {
        const lk = key.toLowerCase();
        if (lk === ":path" && op !== "remove") c.path = value;
        if (lk === ":method" && op !== "remove") c.method = value;
        return;
      }
      mutate(c.reqHeaders, op, key, value);
      return;
    }
    if (pseudo && key.toLowerCase() === ":status") {
      if (op !== "remove" && c.respHeaders) c.status = Number(value) || c.status;
      return;
    }
    if (c.respHeaders) mutate(c.respHeaders, op, key, value);
    else c.preResponseOps.push((p) => mutate(p, op, key, value));
  };

  return {
    proxy_get_buffer_bytes: (type, _start, max, ptrPtr, lenPtr) => {
      const pp = out(ptrPtr);
      const lp = out(lenPtr);
      const f = frame();
      let data: Uint8Array;
      switch (type) {
        case BufferType.PluginConfiguration:
          data = rt.config;
          break;
        case BufferType.VmConfiguration:
          data = EMPTY;
          break;
        case BufferType.RequestBody: {
          if (!f.ctx || !(f.phase === "request_headers" || f.phase === "request_body" || f.phase === "log")) {
            throw bad('can only get request body during "on_request_body", "on_log"');
          }
          const c = f.ctx;
          if (f.phase === "request_headers" || c.reqBody.length === 0) return Result.NotFound;
          if (!c.bodyReadable) {
            rt.hostLog(
              w,
              "error",
              c.id,
              `[wasm] cannot read request body buffered to file at "/usr/local/kong/client_body_temp/${String(c.id).padStart(10, "0")}"`,
            );
            return Result.NotFound;
          }
          data = c.reqBody;
          break;
        }
        case BufferType.ResponseBody: {
          if (!f.ctx || f.phase !== "response_body") throw bad('can only get response body during "on_response_body"');
          if (!f.ctx.respChunk) return Result.NotFound;
          data = f.ctx.respChunk;
          break;
        }
        case BufferType.HttpCallResponseBody: {
          if (f.phase !== "http_call_response" && f.phase !== "log") {
            throw bad('can only get dispatch response body during "on_http_dispatch_response"');
          }
          if (!f.call) return Result.BadArgument;
          if (f.call.body.length === 0) return Result.NotFound;
          data = f.call.body;
          break;
        }
        default:
          rt.hostLog(w, "error", ctxId(), `[wasm] NYI - get_buffer bad buf_type: ${type}`);
          return Result.BadArgument;
      }
      const len = Math.min(data.length, max >>> 0);
      if (len === 0) return Result.Ok;
      return giveOut(data.subarray(0, len), pp, lp);
    },
    proxy_set_buffer_bytes: (type, start, size, ptr, len) => {
      const data = slice(ptr, len) ?? EMPTY;
      start >>>= 0;
      size >>>= 0;
      if (start > 0 && size === 0 && data.length > 0) size = data.length;
      const f = frame();
      const splice = (cur: Uint8Array): Uint8Array =>
        start === 0 && size === 0 && data.length > 0
          ? concat([data, cur])
          : concat([cur.subarray(0, Math.min(start, cur.length)), data, cur.subarray(Math.min(start + size, cur.length))]);
      if (type === BufferType.RequestBody) {
        if (!f.ctx || !(f.phase === "request_headers" || f.phase === "request_body")) {
          throw bad('can only set request body during "on_request_body"');
        }
        const next = splice(f.ctx.reqBody);
        f.ctx.reqBody = next;
        setHeader(f.ctx.reqHeaders, "Content-Length", String(next.length));
        return Result.Ok;
      }
      if (type === BufferType.ResponseBody) {
        if (!f.ctx || f.phase !== "response_body") throw bad('can only set response body during "on_response_body"');
        f.ctx.respChunk = splice(f.ctx.respChunk ?? EMPTY);
        return Result.Ok;
      }
      rt.hostLog(w, "error", ctxId(), `[wasm] NYI - set_buffer bad buf_type: ${type}`);
      return Result.BadArgument;
    },
    proxy_get_header_map_pairs: (type, ptrPtr, lenPtr) => {
      const pp = out(ptrPtr);
      const lp = out(lenPtr);
      const pairs = getMap(type);
      if (!pairs) return Result.BadArgument;
      let shown = pairs;
      if (pairs.length > MAX_MAP_PAIRS) {
        shown = pairs.slice(0, MAX_MAP_PAIRS);
        rt.hostLog(w, "warn", ctxId(), `[proxy-wasm] marshalled map truncated to ${MAX_MAP_PAIRS} elements`);
      }
      // Like the engine: sized, malloc'd in the filter's memory and written in place.
      const size = marshalSize(shown);
      const p = alloc(size);
      if (typeof p !== "number") return p.rc;
      marshalInto(shown, w.memBuf, p);
      u32(pp, p);
      u32(lp, size);
      return Result.Ok;
    },
    proxy_get_header_map_value: (type, kptr, klen, ptrPtr, lenPtr) => {
      const key = text(slice(kptr, klen));
      const pp = out(ptrPtr);
      const lp = out(lenPtr);
      const pairs = getMap(type);
      if (!pairs) return Result.NotFound;
      const v = findHeader(pairs, key);
      if (v === undefined) return Result.NotFound;
      return giveTextOut(v, pp, lp);
    },
    proxy_set_header_map_pairs: (type, ptr, len) => {
      const pairs = unmarshal(slice(ptr, len) ?? EMPTY);
      if (!pairs) return Result.InternalFailure;
      const c = checkSet(type);
      if (typeof c === "number") return c;
      if (type === MapType.RequestHeaders) c.reqHeaders.length = 0;
      else if (c.respHeaders) c.respHeaders.length = 0;
      else c.preResponseOps.push((p) => (p.length = 0));
      for (const [k, v] of pairs) applyOp(c, type, "set", k, v);
      return Result.Ok;
    },
    proxy_add_header_map_value: (type, kptr, klen, vptr, vlen) => {
      const k = textAt(kptr, klen);
      const v = textAt(vptr, vlen);
      const c = checkSet(type);
      if (typeof c === "number") return c;
      applyOp(c, type, "add", k, v);
      return Result.Ok;
    },
    proxy_replace_header_map_value: (type, kptr, klen, vptr, vlen) => {
      const k = text(slice(kptr, klen));
      const v = text(slice(vptr, vlen));
      const c = checkSet(type);
      if (typeof c === "number") return c;
      applyOp(c, type, "set", k, v);
      return Result.Ok;
    },
    proxy_remove_header_map_value: (type, kptr, klen) => {
      const k = text(slice(kptr, klen));
      const c = checkSet(type);
      if (typeof c === "number") return c;
      applyOp(c, type, "remove", k, "");
      return Result.Ok;
    },
    proxy_get_property: (pptr, plen, ptrPtr, lenPtr) => {
      const path = propertyPath(textAt(pptr, plen));
      const pp = out(ptrPtr);
      const lp = out(lenPtr);
      const f = frame();
      const r = f.ctx ? requestProperty(rt.propEnv(), f.ctx.propView, path) : rootProperty(rt.propEnv(), f.phase, path);
      switch (r.rc) {
        case "notfound":
          return Result.NotFound;
        case "error":
          rt.hostLog(w, "error", 0, `[wasm] ${r.log}`);
          return Result.InternalFailure;
        case "crash":
          throw new WorkerCrash(r.reason);
        default:
          return giveTextOut(r.value, pp, lp);
      }
    },
    proxy_set_property: (pptr, plen, vptr, vlen) => {
      const path = propertyPath(text(slice(pptr, plen)));
      const value = text(slice(vptr, vlen));
      const c = frame().ctx;
      if (!c) {
        rt.hostLog(w, "error", 0, "[wasm] cannot set scoped properties outside of a request");
        return Result.InternalFailure;
      }
      if (!path.startsWith("kong.") && !path.startsWith("wasmx.")) return Result.NotFound;
      c.custom.set(path, value);
      return Result.Ok;
    },
    proxy_continue_stream: (type) => {
      if (type !== 0 && type !== 1) {
        rt.hostLog(w, "error", ctxId(), `[wasm] NYI - continue stream type: ${type}`);
        return Result.InternalFailure;
      }
      const c = frame().ctx;
      if (c) c.resumeForced = true;
      return Result.Ok;
    },
    proxy_continue_request: () => {
      const c = frame().ctx;
      if (c) c.resumeForced = true;
      return Result.Ok;
    },
    proxy_send_local_response: (status, dptr, dlen, bptr, blen, hptr, hlen) => {
      const reason = text(slice(dptr, dlen));
      const body = slice(bptr, blen) ?? EMPTY;
      const headers = unmarshal(slice(hptr, hlen) ?? EMPTY);
      if (!headers) return Result.InternalFailure;
      const f = frame();
      const c = f.ctx;
      if (!c) throw bad("response already sent");
      const withLf = body.length ? concat([body, LF]) : EMPTY;
      if (f.phase === "response_headers") {
        c.override = { status, reason, body: withLf };
        return Result.Ok;
      }
      if (c.responseStarted || !(f.phase === "request_headers" || f.phase === "request_body" || f.phase === "http_call_response")) {
        throw bad("response already sent");
      }
      if (c.local) throw bad("local response already stashed");
      c.local = { status, reason: reason || (REASONS[status] ?? ""), body: withLf, headers };
      if (c.pending.size > 0 && f.phase !== "http_call_response") {
        rt.hostLog(w, "info", c.id, "[proxy-wasm] local response produced, cancelling pending dispatch operations");
      }
      return Result.Ok;
    },
  };
}
