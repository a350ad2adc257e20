// The test-facing side of a gateway running the filter, shared by the emulator (KongWasmHost)
// and the real engine (nginx + ngx_wasm_module as a process): what a suite sends, what it gets
// back, what the filter's dispatches look like, and the log lines. No dependency on either.

/**
 * A gateway the suites drive. `start` may be asynchronous (a process to spawn); `advance` lets
 * gateway time pass (the emulator's virtual clock moves; a real clock just waits).
 */
export interface Gateway {
  /** Every log line so far, in order. */
  readonly logs: LogLine[];
  /** Loads the filter in every worker; throws when the gateway would not serve. */
  start(): void | Promise<void>;
  /** Serves one client request through the filter against `upstream`. */
  request(req: ProxyRequest, upstream: Upstream, worker?: number): Promise<ProxyResult>;
  advance(ms: number): Promise<void>;
  /** Waits for in-flight dispatches and their callbacks. */
  settle(): Promise<void>;
  stop(): Promise<void>;
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
