// How many host calls (proxy_http_call) a root keeps in flight, and how long one may take.
//
// One at a time. ngx_wasm_module (Kong 3.9's pin 9136e46; its main branch of 2025-04 has the
// same code) finalizes the fake request behind a tick dispatch only when no other dispatch
// of the same root context is pending (ngx_http_proxy_wasm_dispatch_resume_handler: "more
// http dispatch calls pending" → NGX_AGAIN, no resume). Every call that finishes while
// another is in flight keeps, for the worker's life, its fake connection (one of
// worker_connections), its pool and its copy of the request body: measured in the engine,
// ~265 KB of RssAnon per overlapped 256 KiB batch, until worker_connections run out; then
// the worker can no longer connect upstream (500s) nor dispatch (BENCHMARKS.md, "Worker
// memory in the engine").

/** Dispatches (batches and config/rules fetches together) one root has in flight at most. */
export const MAX_DISPATCHES: i32 = 1;

/** The engine's default `resolver_timeout` (wasm{}), spent before connecting to a host name. */
const RESOLVER_MS: i64 = 30000;

/** Where the host calls back on every outcome, a call is given up after this many timeouts. */
const CALLBACK_WAIT_TIMEOUTS: i64 = 10;

/**
 * How long after dispatching a call with `timeoutMs` to give up waiting for its callback.
 * Where the host calls back on every outcome (`callsBack`: Kong 3.9, plain ngx_wasm_module)
 * the callback is what ends a call, and a call may last well past its timeout: the engine's
 * connect, send and read timeouts are inactivity timeouts (a slow collector that keeps reading
 * or answering a little at a time extends them), plus the resolver for a host name. Giving up
 * early would overlap the next call with a live one (the leak above): the wait is long, 10
 * timeouts. Elsewhere (Kong <= 3.8 never calls back on connection errors) the deadline is
 * what reports the failure, so it stays short.
 */
export function callSpanMs(timeoutMs: i32, callsBack: bool, target: string): i64 {
  const t = <i64>timeoutMs;
  if (!callsBack) return t + 1000;
  return CALLBACK_WAIT_TIMEOUTS * t + 1000 + (isIpLiteral(target) ? 0 : RESOLVER_MS);
}

/** Whether a dispatch target ("host:port") names an IP address (no resolver involved). */
export function isIpLiteral(target: string): bool {
  if (target.startsWith("[")) return true;
  const colon = target.lastIndexOf(":");
  const host = colon >= 0 ? target.substring(0, colon) : target;
  if (host.length == 0) return false;
  for (let i = 0; i < host.length; i++) {
    const c = host.charCodeAt(i);
    if (c != 46 && (c < 48 || c > 57)) return false;
  }
  return true;
}
