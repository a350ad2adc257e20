// Dispatches (proxy_http_call): validation and the request as the engine sends it, then the
// exchange — answered in-process by `dispatchHandler` or over a real socket (wire.ts) —
// raced against its timeout on the host clock, and the callback (or the engine's failure
// behaviour, crashes included) when it ends.

import { atLeast, Result } from "./abi.js";
import { copyOf, EMPTY } from "./bytes.js";
import { bad, DispatchError } from "./errors.js";
import type { DispatchFailure, DispatchRequest } from "./gateway.js";
import type { Pairs } from "./headers.js";
import type { Runtime } from "./lifecycle.js";
import { sendWire } from "./wire.js";
import type { DispatchCall, Frame, WorkerState } from "./worker.js";

/** Reused buffers for dispatch bodies, by power-of-two size (at most 32 kept per size). */
export class BodyPool {
  private readonly free = new Map<number, Buffer[]>();

  take(src: Uint8Array): { bytes: Uint8Array; release: () => void } {
    let size = 4096;
    while (size < src.length) size *= 2;
    const list = this.free.get(size) ?? [];
    this.free.set(size, list);
    const buf = list.pop() ?? Buffer.allocUnsafeSlow(size);
    buf.set(src);
    let released = false;
    return {
      bytes: new Uint8Array(buf.buffer, buf.byteOffset, src.length),
      release: () => {
        if (released) return;
        released = true;
        if (list.length < 32) list.push(buf);
      },
    };
  }
}

/** Starts a dispatch from a host call: the token, or the result code to return. */
export function startDispatch(
  rt: Runtime,
  w: WorkerState,
  frame: Frame,
  target: string,
  pairs: Pairs,
  body: Uint8Array,
  timeout: number,
): { token: number } | { rc: number } {
  const token = w.tokenCounter++;
  const inRequest = frame.ctx !== null;
  const failSync = (msg: string): { rc: number } => {
    if (inRequest) throw bad(`dispatch failed: ${msg}`);
    rt.hostLog(w, "error", 0, `[wasm] dispatch failed: ${msg}`);
    return { rc: Result.InternalFailure };
  };
  const pseudo = (name: string): string | undefined => pairs.find(([k]) => k.toLowerCase() === name)?.[1];
  const method = pseudo(":method");
  const path = pseudo(":path");
  if (!method) return failSync("no :method");
  if (!path) return failSync("no :path");
  const authority = pseudo(":authority");
  const scheme = (pseudo(":scheme") ?? "http").toLowerCase();
  const m = /^(\[[^\]]+\]|[^:]+)(?::(\d+))?$/.exec(target);
  if (!m || (m[2] !== undefined && (Number(m[2]) < 1 || Number(m[2]) > 65535))) {
    return failSync(`tcp socket - invalid host or port "${target}"`);
  }
  const host = m[1];
  const port = m[2] ? Number(m[2]) : scheme === "https" ? 443 : 80;
  for (const [k] of pairs) {
    if (k.startsWith(":") && ![":method", ":path", ":authority", ":scheme"].includes(k.toLowerCase())) {
      rt.hostLog(w, "warn", frame.ctx?.id ?? 0, `[wasm] NYI - dispatch: unsupported pseudo-header "${k}"`);
    }
  }
  const userHeaders = pairs.filter(([k]) => !k.startsWith(":") && !/^(host|connection)$/i.test(k));
  const call: DispatchCall = {
    token,
    worker: w,
    life: w.life,
    ctx: frame.ctx,
    target,
    map: [],
    body: EMPTY,
    cancelled: false,
    timer: null,
    wire: null,
    done: Promise.resolve(),
    sentBytes: body.length,
  };
  if (frame.phase === "http_call_response" && frame.call && w.tickOrigin.has(frame.call)) {
    // Chained dispatch from a tick-originated callback: never sent, the worker dies.
    w.pendingCrash = "SIGSEGV in ngx_alloc_chain_link(pool=0x0) <- ngx_http_proxy_wasm_dispatch_request";
    return { token };
  }
  if (!inRequest) w.tickOrigin.add(call);
  const timeoutMs = timeout > 0 ? timeout : 60_000;
  // The in-process handler may keep the request: it gets its own copy. A wire request's
  // copy comes from a pool and goes back once the exchange is over (fresh large buffers
  // cost page faults on every dispatch here).
  let sent: Uint8Array;
  if (rt.dispatchHandler || body.length < 4096) {
    sent = copyOf(body);
  } else {
    const pooled = rt.bodyPool.take(body);
    sent = pooled.bytes;
    call.release = pooled.release;
  }
  const dreq: DispatchRequest = {
    target,
    method,
    path,
    authority,
    scheme,
    headers: userHeaders,
    body: sent,
    timeoutMs,
    worker: w.index,
    token,
  };
  w.calls.add(call);
  frame.ctx?.pending.add(call);
  call.done = runDispatch(rt, w, call, dreq, host, port);
  return { token };
}

async function runDispatch(
  rt: Runtime,
  w: WorkerState,
  call: DispatchCall,
  dreq: DispatchRequest,
  host: string,
  port: number,
): Promise<void> {
  type Outcome = { ok: true; status: number; headers: Pairs; body: Uint8Array } | { ok: false; failure: DispatchFailure; message: string };
  let timeoutResolve!: (o: Outcome) => void;
  const timedOut = new Promise<Outcome>((r) => (timeoutResolve = r));
  call.timer = rt.clock.schedule(dreq.timeoutMs, () => {
    const o: Outcome = { ok: false, failure: "timeout", message: `tcp socket - timed out reading from "${dreq.target}"` };
    call.wire?.abort("timeout", o.message);
    timeoutResolve(o);
  });
  let work: Promise<Outcome>;
  if (rt.dispatchHandler) {
    const handler = rt.dispatchHandler;
    work = (async (): Promise<Outcome> => {
      try {
        const r = await handler(dreq);
        return { ok: true, status: r.status, headers: r.headers, body: r.body ?? EMPTY };
      } catch (e) {
        if (e instanceof DispatchError) return { ok: false, failure: e.status, message: e.message };
        return { ok: false, failure: "internal failure", message: (e as Error).message };
      }
    })();
  } else if (host !== "127.0.0.1") {
    work = Promise.resolve({
      ok: false,
      failure: "resolver failure",
      message: `tcp socket - resolver error: could not resolve "${host}" (the emulator only dials 127.0.0.1)`,
    });
  } else {
    const headers: Pairs = [
      ["Host", dreq.authority ?? dreq.target],
      ["Connection", "close"],
    ];
    if (!dreq.headers.some(([k]) => k.toLowerCase() === "content-length")) {
      headers.push(["Content-Length", String(dreq.body.length)]);
    }
    headers.push(...dreq.headers);
    call.wire = sendWire({
      host,
      port,
      tls: dreq.scheme === "https",
      servername: dreq.authority?.replace(/:\d+$/, ""),
      method: dreq.method,
      path: dreq.path,
      headers,
      body: dreq.body,
    });
    work = call.wire.result.then((r): Outcome => (r.ok ? { ok: true, status: r.status, headers: r.headers, body: r.body } : r));
    // The socket is done with the body once the exchange settled (also after a timeout's abort).
    const release = call.release;
    if (release) void work.finally(release);
  }
  const out = await Promise.race([work, timedOut]);
  if (call.timer) rt.clock.cancel(call.timer);
  deliver(rt, w, call, out);
}

function deliver(
  rt: Runtime,
  w: WorkerState,
  call: DispatchCall,
  out: { ok: true; status: number; headers: Pairs; body: Uint8Array } | { ok: false; failure: DispatchFailure; message: string },
): void {
  w.calls.delete(call);
  const ctx = call.ctx;
  // ngx_wasm_module finalizes the fake request behind a root's dispatch only when no other
  // dispatch of that root is pending: this call's fake connection (one of worker_connections),
  // pool and body copy then stay for the worker's life (ngx_http_proxy_wasm_dispatch_resume_handler).
  if (!ctx && call.life === w.life && [...w.calls].some((c) => c.ctx === null && c.life === w.life)) {
    rt.leakedDispatches.calls++;
    rt.leakedDispatches.bytes += call.sentBytes;
  }
  const finish = (): void => ctx?.removePending(call);
  if (call.cancelled || call.life !== w.life || rt.stopped) return finish();
  if (ctx && ctx.hazard) {
    ctx.onFinish(() => {
      if (call.life === w.life) rt.crash(w, "SIGSEGV in ngx_http_proxy_wasm_dispatch_resume_handler");
    });
    return finish();
  }
  if (ctx && (ctx.finished || ctx.trapped)) return finish();
  const ctxId = ctx ? ctx.id : 0;
  if (!out.ok) {
    rt.hostLog(w, "error", ctxId, `[wasm] dispatch failed: ${out.message}`);
    if (!atLeast(rt.version, "3.9")) {
      // No callback before 3.9; before 3.8 the error also interrupted the request's chain.
      if (ctx && !atLeast(rt.version, "3.8")) ctx.dispatchAborted = true;
      return finish();
    }
    call.map = [[":dispatch_status", out.failure]];
    call.body = EMPTY;
  } else {
    call.map = [[":status", String(out.status)]];
    if (atLeast(rt.version, "3.9")) call.map.push([":dispatch_status", "ok"]);
    call.map.push(...out.headers);
    call.body = out.body;
  }
  if (w.trapped && !ctx && !rt.ensureInstance(w, "callback")) return finish();
  if (w.trapped && ctx) return finish();
  const nheaders = out.ok ? out.headers.length : 0;
  rt.invoke(w, "proxy_on_http_call_response", [rt.rootId, call.token, nheaders, call.body.length, 0], {
    phase: "http_call_response",
    ctx,
    call,
  });
  finish();
}

/** Lets in-flight dispatches complete, for up to 25 ms of real time. */
export async function quiesce(rt: Runtime): Promise<void> {
  const all = rt.workers.flatMap((w) => [...w.calls].map((c) => c.done));
  await new Promise((r) => setImmediate(r));
  if (all.length === 0) return;
  await Promise.race([Promise.all(all), new Promise((r) => setTimeout(r, 25).unref())]);
}
