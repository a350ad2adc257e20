// The import surface ngx_wasm_module links filters against (the `ngx_proxy_wasm` and
// `ngx_wasi_preview1` host interfaces), with the engine's own signatures.

import type { Signature } from "./wasm-binary.js";
import type { KongVersion } from "./types.js";

export interface HostFuncDef {
  sig: Signature;
  /** Calling it traps "function not yet implemented" (on every version unless `since`). */
  nyi?: boolean;
  /** Implemented from this Kong version; earlier versions trap like NYI stubs. */
  since?: KongVersion;
}

const i = (n: number): string => "i".repeat(n);
const f = (params: string, nyi = false, since?: KongVersion): HostFuncDef => ({ sig: `${params}:i`, nyi, since });

/** The 75 `env` names of ngx_proxy_wasm_hfuncs[] (same set in every Kong-shipped pin). */
export const ENV_FUNCS: Record<string, HostFuncDef> = {
  proxy_log: f(i(3)),
  proxy_get_log_level: f(i(2), true),
  proxy_get_current_time_nanoseconds: f(i(1)),
  proxy_set_effective_context: f(i(1)),
  proxy_context_finalize: f("", true),
  proxy_done: f("", true),
  proxy_create_timer: f(i(3), true),
  proxy_delete_timer: f(i(1), true),
  proxy_set_tick_period_milliseconds: f(i(1)),
  proxy_get_buffer: f(i(5)),
  proxy_get_buffer_bytes: f(i(5)),
  proxy_set_buffer: f(i(5)),
  proxy_set_buffer_bytes: f(i(5)),
  proxy_get_map_values: f(i(5), true),
  proxy_get_header_map_pairs: f(i(3)),
  proxy_get_header_map_value: f(i(5)),
  proxy_set_map_values: f(i(5), true),
  proxy_set_header_map_pairs: f(i(3)),
  proxy_add_header_map_value: f(i(5)),
  proxy_replace_header_map_value: f(i(5)),
  proxy_remove_header_map_value: f(i(3)),
  proxy_get_property: f(i(4)),
  proxy_set_property: f(i(4)),
  proxy_resume_stream: f(i(1), true),
  proxy_resume_downstream: f(i(1), true),
  proxy_resume_upstream: f(i(1), true),
  proxy_continue_stream: f(i(1)),
  proxy_close_stream: f(i(1), true),
  proxy_resume_http_stream: f(i(1), true),
  proxy_continue_request: f(""),
  proxy_continue_response: f("", true),
  proxy_send_http_response: f(i(8)),
  proxy_send_local_response: f(i(8)),
  proxy_dispatch_http_call: f(i(10)),
  proxy_http_call: f(i(10)),
  proxy_dispatch_grpc_call: f(i(12), true),
  proxy_grpc_call: f(i(12), true),
  proxy_open_grpc_stream: f(i(9), true),
  proxy_grpc_stream: f(i(9), true),
  proxy_send_grpc_stream_message: f(i(3), true),
  proxy_grpc_send: f(i(4), true),
  proxy_cancel_grpc_call: f(i(1), true),
  proxy_grpc_cancel: f(i(1), true),
  proxy_close_grpc_call: f(i(1), true),
  proxy_grpc_close: f(i(1), true),
  proxy_get_status: f(i(3), true),
  proxy_open_shared_kvstore: f(i(4), true),
  proxy_get_shared_kvstore_key_values: f(i(6), true),
  proxy_get_shared_data: f(i(5)),
  proxy_set_shared_kvstore_key_values: f(i(6), true),
  proxy_set_shared_data: f(i(5)),
  proxy_add_shared_kvstore_key_values: f(i(6), true),
  proxy_remove_shared_kvstore_key: f(i(6), true),
  proxy_delete_shared_kvstore: f(i(6), true),
  proxy_open_shared_queue: f(i(4), true),
  proxy_register_shared_queue: f(i(3)),
  proxy_dequeue_shared_queue_item: f(i(3), true),
  proxy_dequeue_shared_queue: f(i(3)),
  proxy_enqueue_shared_queue_item: f(i(3), true),
  proxy_enqueue_shared_queue: f(i(3)),
  proxy_delete_shared_queue: f(i(4), true),
  proxy_resolve_shared_queue: f(i(5), true),
  proxy_create_metric: f(i(4), true),
  proxy_define_metric: f(i(4), false, "3.8"),
  proxy_get_metric_value: f(i(2), true),
  proxy_get_metric: f(i(2), false, "3.8"),
  proxy_set_metric_value: f("iI", true),
  proxy_record_metric: f("iI", false, "3.8"),
  proxy_increment_metric_value: f("iI", true),
  proxy_increment_metric: f("iI", false, "3.8"),
  proxy_delete_metric: f(i(1), true),
  proxy_call_custom_function: f(i(5), true),
  // Implemented only after Kong 3.9's ngx_wasm_module pin: a stub on every Kong release.
  proxy_call_foreign_function: f(i(6), true),
  proxy_get_configuration: f(i(2)),
  proxy_clear_route_cache: f("", true),
};

/** ngx_wasm_module's own WASI preview1 (the V8 build; Wasmtime supplies a fuller set). */
export const WASI_FUNCS: Record<string, Signature> = {
  args_get: "ii:i",
  args_sizes_get: "ii:i",
  clock_time_get: "iIi:i",
  environ_get: "ii:i",
  environ_sizes_get: "ii:i",
  fd_close: "i:i",
  fd_fdstat_get: "ii:i",
  fd_fdstat_set_flags: "ii:i",
  fd_prestat_get: "ii:i",
  fd_prestat_dir_name: "iii:i",
  fd_read: "iiii:i",
  fd_seek: "iIii:i",
  fd_write: "iiii:i",
  path_open: "iiiiiIIii:i",
  proc_exit: "i:",
  random_get: "ii:i",
  sched_yield: ":i",
  poll_oneoff: "iiii:i",
};

export const VERSION_ORDER: KongVersion[] = ["3.4", "3.5", "3.6", "3.7", "3.8", "3.9"];

export function atLeast(v: KongVersion, min: KongVersion): boolean {
  return VERSION_ORDER.indexOf(v) >= VERSION_ORDER.indexOf(min);
}

export const Result = {
  Ok: 0,
  NotFound: 1,
  BadArgument: 2,
  InvalidMemoryAccess: 6,
  Empty: 7,
  CasMismatch: 8,
  InternalFailure: 10,
} as const;

export const BufferType = {
  RequestBody: 0,
  ResponseBody: 1,
  HttpCallResponseBody: 4,
  VmConfiguration: 6,
  PluginConfiguration: 7,
} as const;

export const MapType = {
  RequestHeaders: 0,
  RequestTrailers: 1,
  ResponseHeaders: 2,
  ResponseTrailers: 3,
  HttpCallResponseHeaders: 6,
  HttpCallResponseTrailers: 7,
} as const;
