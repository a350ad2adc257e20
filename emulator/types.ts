// Public types of the Kong Wasm host emulator.

export type KongVersion = "3.4" | "3.5" | "3.6" | "3.7" | "3.8" | "3.9";

export type Eviction = "slru" | "lru" | "none";

export interface KvZoneOptions {
  size: number;
  eviction?: Eviction;
}

export interface KvOptions extends KvZoneOptions {
  /** Extra named `shm_kv <name> <size>` zones; the main zone is `*`. */
  zones?: Record<string, KvZoneOptions>;
}

export interface HostOptions {
  module: WebAssembly.Module;
  /** Default "moesif". */
  filterName?: string;
  /** The filter config string handed to on_configure. */
  config: string;
  /** Default 1; each worker = its own instance + root context + tick. */
  workers?: number;
  /** Default "3.9". */
  kongVersion?: KongVersion;
  /** Default {size: 16 MiB, eviction: "slru"}; null = no shm_kv zone (KV calls trap). */
  kv?: KvOptions | null;
  /** `shm_queue` zones: name → size in bytes. Default none. */
  queues?: Record<string, number>;
  /** Default 8192. */
  clientBodyBufferSize?: number;
  /** Default "virtual". */
  clock?: "virtual" | "real";
  /** Virtual clock start (ms since epoch). Default 1767225600000 (2026-01-01T00:00:00Z). */
  startTime?: number;
  /** Extra request-context properties, e.g. {"kong.route_id": "..."}. */
  properties?: Record<string, string>;
  /** For `:authority`; default "kong". */
  serverName?: string;
  /** Default 8000. */
  listenPort?: number;
  /** Value of `request.host` (nginx $hostname). Default "emulator". */
  hostname?: string;
  /** Decimal "address" hashed into the root id (one per filter entry). */
  entrySalt?: number;
  /** Real-time cap (ms) for settle() in virtual-clock mode. Default 5000. */
  settleTimeoutMs?: number;
  onLog?: (l: LogLine) => void;
}

export type LogLevel = "trace" | "debug" | "info" | "warn" | "error" | "critical";

export interface LogLine {
  level: LogLevel;
  worker: number;
  /** Context id the line is tagged with (0 for root contexts). */
  context: number;
  message: string;
  /** "filter" for proxy_log / WASI output, "host" for lines the engine itself writes. */
  source?: "filter" | "host";
}

export interface ProxyRequest {
  method: string;
  path: string;
  headers: Array<[string, string]>;
  body?: Uint8Array;
  remoteAddr?: string;
}

export interface UpstreamResponse {
  status: number;
  headers: Array<[string, string]>;
  body?: Uint8Array;
  chunks?: Uint8Array[];
}

export type Upstream =
  | ((req: ProxyRequest) => UpstreamResponse | Promise<UpstreamResponse>)
  | { url: string };

export interface ProxyResult {
  status: number;
  /** Reason phrase the client sees (the `details` of a local response, else the standard one). */
  reason?: string;
  headers: Array<[string, string]>;
  body: Uint8Array;
  trapped: boolean;
  local: boolean;
  upstreamCalled: boolean;
  upstreamRequest?: ProxyRequest;
  /** The worker crashed while serving this request (status 0 = the client got an empty reply). */
  crashed?: boolean;
  worker: number;
  /** HTTP context id of the request in its worker. */
  contextId: number;
}

/** What an in-process dispatch handler receives. */
export interface DispatchRequest {
  /** The "cluster" argument: host[:port]. */
  target: string;
  method: string;
  path: string;
  authority?: string;
  scheme: string;
  /** Non-pseudo headers as the filter sent them. */
  headers: Array<[string, string]>;
  body: Uint8Array;
  timeoutMs: number;
  worker: number;
  token: number;
}

export interface DispatchResponse {
  status: number;
  headers: Array<[string, string]>;
  body?: Uint8Array;
}

/** `:dispatch_status` values of failed dispatches. */
export type DispatchFailure =
  | "broken connection"
  | "timeout"
  | "resolver failure"
  | "reader failure"
  | "tls handshake failure"
  | "internal failure";

export type DispatchHandler = (req: DispatchRequest) => DispatchResponse | Promise<DispatchResponse>;
