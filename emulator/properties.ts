// proxy_get_property paths as ngx_wasm_module + Kong serve them (kong-host.md §6,
// engine-verified.md §8).

import { atLeast } from "./abi.js";
import { findHeader, type Pairs } from "./headers.js";
import type { KongVersion } from "./types.js";

/** The request-side state properties read from. */
export interface PropRequest {
  method: string;
  /** Original request URI ($request_uri). */
  uri: string;
  headers: Pairs;
  remoteAddr: string;
  remotePort: number;
  startMs: number;
  requestId: string;
  bodyLength: number;
  headerBytes: number;
  status: number;
  respHeaders: Pairs | null;
  upstream: { address: string; port: number; status: number; timeMs: number } | null;
  bytesSent: number;
  bodyBytesSent: number;
  custom: Map<string, string>;
}

export interface PropEnv {
  filterName: string;
  kongVersion: KongVersion;
  hostname: string;
  serverName: string;
  listenPort: number;
  extra: Record<string, string>;
  now: number;
}

export type PropResult =
  | { rc: "ok"; value: string }
  | { rc: "notfound" }
  /** InternalFailure plus an [error] line. */
  | { rc: "error"; log: string }
  /** The worker would segfault. */
  | { rc: "crash"; reason: string };

const secs = (ms: number): string => (ms / 1000).toFixed(3);

function kongProp(env: PropEnv, req: PropRequest, name: string): string | undefined {
  const v = env.kongVersion;
  if (req.custom.has(name)) return req.custom.get(name);
  if (!atLeast(v, "3.6") && name !== "kong.route_id" && name !== "kong.service_id") return undefined;
  if (!atLeast(v, "3.9") && (name === "kong.route_name" || name === "kong.service_name")) return undefined;
  if (name === "kong.version") return env.extra[name] ?? `${v}.0`;
  if (name === "kong.client.protocol") return env.extra[name] ?? "http";
  if (name === "kong.nginx.subsystem") return "http";
  return env.extra[name];
}

function ngxVar(env: PropEnv, req: PropRequest, name: string): string | undefined {
  const q = req.uri.indexOf("?");
  if (name.startsWith("http_")) return findHeader(req.headers, name.slice(5).replace(/_/g, "-"));
  switch (name) {
    case "remote_addr":
    case "realip_remote_addr":
    case "binary_remote_addr":
      return req.remoteAddr;
    case "remote_port":
      return String(req.remotePort);
    case "request_id":
      return req.requestId;
    case "kong_request_id":
      return atLeast(env.kongVersion, "3.5") ? req.requestId : undefined;
    case "request_uri":
      return req.uri;
    case "uri":
      return q < 0 ? req.uri : req.uri.slice(0, q);
    case "args":
    case "query_string":
      return q < 0 ? undefined : req.uri.slice(q + 1);
    case "request_method":
      return req.method;
    case "scheme":
      return "http";
    case "server_protocol":
      return "HTTP/1.1";
    case "host":
      return (findHeader(req.headers, "host") ?? env.serverName).replace(/:\d+$/, "").toLowerCase();
    case "hostname":
      return env.hostname;
    case "server_name":
      return env.serverName;
    case "server_port":
      return String(env.listenPort);
    case "server_addr":
      return "127.0.0.1";
    case "status":
      return String(req.status).padStart(3, "0");
    case "request_time":
      return secs(env.now - req.startMs);
    case "request_length":
      return String(req.headerBytes + req.bodyLength);
    case "content_length":
      return findHeader(req.headers, "content-length");
    case "content_type":
      return findHeader(req.headers, "content-type");
    case "bytes_sent":
      return String(req.bytesSent);
    case "body_bytes_sent":
      return String(req.bodyBytesSent);
    case "upstream_status":
      return req.upstream ? String(req.upstream.status) : undefined;
    case "upstream_response_time":
    case "upstream_header_time":
      return req.upstream ? secs(req.upstream.timeMs) : undefined;
    case "upstream_connect_time":
      return req.upstream ? "0.000" : undefined;
    case "upstream_addr":
      return req.upstream ? `${req.upstream.address}:${req.upstream.port}` : undefined;
    default:
      return undefined;
  }
}

/** A request-context property (HTTP contexts and callbacks of their dispatches). */
// Module level: a closure made per call costs a defineProperty under tsx (keepNames).
function found(v: string | undefined): PropResult {
  return v === undefined ? { rc: "notfound" } : { rc: "ok", value: v };
}

export function requestProperty(env: PropEnv, req: PropRequest, path: string): PropResult {
  if (path.startsWith("kong.")) return found(kongProp(env, req, path));
  if (path.startsWith("request.headers.")) return found(findHeader(req.headers, path.slice(16)));
  if (path.startsWith("response.headers.")) {
    return found(req.respHeaders ? findHeader(req.respHeaders, path.slice(17)) : undefined);
  }
  if (path.startsWith("ngx.")) return found(ngxVar(env, req, path.slice(4)));
  const q = req.uri.indexOf("?");
  switch (path) {
    case "source.address":
      return found(req.remoteAddr);
    case "source.port":
      return found(String(req.remotePort));
    case "destination.address":
      return found("127.0.0.1");
    case "destination.port":
      return found(String(env.listenPort));
    case "request.path":
      return found(req.uri);
    case "request.url_path":
      return found(q < 0 ? req.uri : req.uri.slice(0, q));
    case "request.method":
      return found(req.method);
    case "request.query":
      return found(q < 0 ? undefined : req.uri.slice(q + 1));
    case "request.scheme":
      return found("http");
    case "request.protocol":
      return found("HTTP/1.1");
    case "request.host":
      return found(env.hostname);
    case "request.id":
      return found(findHeader(req.headers, "x-request-id"));
    case "request.time":
      return found(secs(req.startMs));
    case "request.duration":
      return found(secs(env.now - req.startMs));
    case "request.size":
      return found(findHeader(req.headers, "content-length"));
    case "request.total_size":
      return found(String(req.headerBytes + req.bodyLength));
    case "request.useragent":
      return found(findHeader(req.headers, "user-agent"));
    case "request.referer":
      return found(findHeader(req.headers, "referer"));
    case "response.code":
      return found(String(req.status).padStart(3, "0"));
    case "response.size":
      return found(String(req.bodyBytesSent));
    case "response.total_size":
      return found(String(req.bytesSent));
    case "upstream.address":
      return found(req.upstream?.address);
    case "upstream.port":
      return found(req.upstream ? String(req.upstream.port) : undefined);
    case "plugin_name":
      return found(env.filterName);
    case "plugin_root_id":
      return found("0");
    default:
      return req.custom.has(path) ? found(req.custom.get(path)) : { rc: "notfound" };
  }
}

/** A root-context property (on_vm_start, on_configure, on_tick and tick-dispatch callbacks). */
export function rootProperty(env: PropEnv, phase: string, path: string): PropResult {
  if (path === "plugin_root_id") return { rc: "ok", value: "0" };
  if (path === "plugin_name") {
    if (phase === "configure" || phase === "vm_start") {
      return { rc: "crash", reason: `SIGSEGV in get_filter_name (plugin_name read in on_${phase})` };
    }
    return { rc: "ok", value: env.filterName };
  }
  if (path.includes(".")) return { rc: "error", log: "cannot get scoped properties outside of a request" };
  return { rc: "notfound" };
}
