// The filter's imports: every env function of ngx_wasm_module's host interface and its WASI
// set, made once per instance over the worker's memory (guest.ts). NYI and not-yet-shipped
// functions trap; the others are here (logs, time, ticks, dispatch, configuration) or in
// hostcalls-http.ts, hostcalls-shared.ts and wasi.ts.

import { atLeast, ENV_FUNCS, Result } from "./abi.js";
import { EMPTY } from "./bytes.js";
import { startDispatch } from "./dispatch.js";
import { bad, kindTrap } from "./errors.js";
import type { LogLevel } from "./gateway.js";
import { guest } from "./guest.js";
import { unmarshal } from "./headers.js";
import { httpCalls } from "./hostcalls-http.js";
import { sharedCalls } from "./hostcalls-shared.js";
import type { Runtime } from "./lifecycle.js";
import { setTickPeriod } from "./ticks.js";
import { wasiCalls } from "./wasi.js";
import type { WorkerState } from "./worker.js";

const LEVELS: LogLevel[] = ["trace", "debug", "info", "warn", "error", "critical"];

/** Import name ("env.proxy_log", "wasi_snapshot_preview1.fd_write") → host function. */
export function hostFunctions(rt: Runtime, w: WorkerState): Record<string, (...a: never[]) => unknown> {
  const g = guest(rt, w);
  const { frame, memSize, view, slice, out, u32, giveOut, text, ctxId } = g;
  const nyi =
    (name: string) =>
    (): never => {
      throw kindTrap("function not yet implemented", name);
    };

  const fns: Record<string, (...a: never[]) => unknown> = {};
  for (const [name, def] of Object.entries(ENV_FUNCS)) {
    if (def.nyi || (def.since && !atLeast(rt.version, def.since))) fns[`env.${name}`] = nyi(name);
  }

  const own: Record<string, (...a: number[]) => number> = {
    proxy_log: (level, ptr, len) => {
      const msg = text(slice(ptr, len));
      const l = LEVELS[level];
      if (l === undefined) {
        rt.hostLog(w, "error", ctxId(), `[wasm] NYI - proxy_log bad log_level: ${level}`);
        return Result.BadArgument;
      }
      rt.emit({ level: l, worker: w.index, context: ctxId(), message: msg, source: "filter" });
      return Result.Ok;
    },
    proxy_get_current_time_nanoseconds: (ptr) => {
      const p = ptr >>> 0;
      if (p === 0 || p + 8 > memSize()) throw bad("invalid slice pointer passed to host function");
      w.memView.setBigUint64(p, BigInt(Math.floor(rt.clock.now())) * 1_000_000n, true);
      return Result.Ok;
    },
    proxy_set_effective_context: () => Result.Ok,
    proxy_set_tick_period_milliseconds: (period) => setTickPeriod(rt, w, frame().ctx !== null, period >>> 0),
    proxy_http_call: (uptr, ulen, hptr, hlen, bptr, blen, _tptr, _tlen, timeout, tokenPtr) => {
      const f = frame();
      const p = f.phase;
      const allowed = p === "request_headers" || p === "request_body" || p === "tick" || p === "http_call_response";
      // A root re-created by a request reads that request's step, not the old chain's tick step.
      if (!allowed || (p === "tick" && f.staleTick)) {
        throw bad('can only send HTTP dispatch during "on_request_headers", "on_request_body", "on_dispatch_response", "on_tick"');
      }
      const target = text(slice(uptr, ulen));
      const pairs = unmarshal(slice(hptr, hlen) ?? EMPTY);
      // Copied by startDispatch (nothing here mallocs before that).
      const body = view(bptr, blen) ?? EMPTY;
      slice(_tptr, _tlen);
      const tp = out(tokenPtr);
      if (!pairs) return Result.InternalFailure;
      const r = startDispatch(rt, w, f, target, pairs, body, timeout >>> 0);
      if ("rc" in r) return r.rc;
      u32(tp, r.token);
      return Result.Ok;
    },
    proxy_get_configuration: (ptrPtr, lenPtr) => {
      const pp = out(ptrPtr);
      const lp = out(lenPtr);
      if (rt.config.length === 0) return Result.Ok;
      return giveOut(rt.config, pp, lp);
    },
  };
  const env: Record<string, (...a: never[]) => unknown> = { ...own, ...httpCalls(rt, w, g), ...sharedCalls(rt, w, g) };
  env.proxy_get_buffer = env.proxy_get_buffer_bytes;
  env.proxy_set_buffer = env.proxy_set_buffer_bytes;
  env.proxy_send_http_response = env.proxy_send_local_response;
  env.proxy_dispatch_http_call = env.proxy_http_call;
  for (const [name, fn] of Object.entries(env)) {
    if (!fns[`env.${name}`]) fns[`env.${name}`] = fn;
  }
  for (const [name, fn] of Object.entries(wasiCalls(rt, w, g))) fns[`wasi_snapshot_preview1.${name}`] = fn;
  return fns;
}
