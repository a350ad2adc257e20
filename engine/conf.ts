// nginx.conf for Kong's engine (nginx + ngx_wasm_module): the same pieces Kong generates for a
// filter chain (wasm{} with the module and shm_kv zones, proxy_wasm in a proxied location),
// written for one gateway on 127.0.0.1.

export type Eviction = "slru" | "lru" | "none";

export interface ZoneSpec {
  /** `*` is the default zone; other names take keys prefixed `<name>/`. */
  name: string;
  /** Bytes; the engine wants ≥ 12288 and a multiple of 4096. */
  size: number;
  eviction?: Eviction;
}

export interface FilterEntry {
  name: string;
  config: string;
}

export interface ModuleSpec {
  name: string;
  /** Absolute path: module paths are not resolved against the prefix. */
  path: string;
}

export interface NginxConfSpec {
  workers: number;
  modules: ModuleSpec[];
  zones: ZoneSpec[];
  /** The gateway's port (127.0.0.1). */
  listenPort: number;
  /** Filter chain of the proxied location (several entries = one chain, in order). */
  chain: FilterEntry[];
  upstreamPort: number;
  /** Sent upstream so the test upstream can tell which client a request came from. */
  clientHeader: string;
  clientBodyBufferSize?: number;
  /** Keep-alive connections to the upstream (benchmarks); default off, as Kong's per-request proxying. */
  upstreamKeepalive?: number;
  /** `server_name`: the engine's `:authority` is this name and the local port. */
  serverName?: string;
  errorLogLevel?: "debug" | "info" | "notice" | "warn" | "error";
  accessLog?: boolean;
  /** Extra lines inside http{} (tests of odd settings). */
  httpExtra?: string[];
  /** `worker_connections` (default 1024). */
  workerConnections?: number;
  /** Extra lines inside wasm{}. */
  wasmExtra?: string[];
  /** Wasmtime's cache config file (compiled modules cached on disk): later starts skip the
   *  ~0.5 s compile per worker. Do not add another `wasmtime{}` block through wasmExtra with it. */
  wasmtimeCacheConfig?: string;
}

/** A string as an nginx single-quoted token: nginx unescapes `\\`, `\'` and turns `\n`/`\t`/`\r` into
 *  control characters, so every backslash is doubled (JSON escapes reach the filter unchanged). */
export function nginxQuote(s: string): string {
  return `'${s.replace(/\\/g, "\\\\").replace(/'/g, "\\'")}'`;
}

export function renderNginxConf(spec: NginxConfSpec): string {
  const zones = spec.zones.map((z) => `    shm_kv ${z.name} ${z.size}${z.eviction ? ` eviction=${z.eviction}` : ""};`);
  const modules = spec.modules.map((m) => `    module ${m.name} ${m.path};`);
  const chain = spec.chain.map((f) => `            proxy_wasm ${f.name} ${nginxQuote(f.config)};`);
  const keepalive = spec.upstreamKeepalive ?? 0;
  const upstreamLines =
    keepalive > 0
      ? [
          "            proxy_http_version 1.1;",
          '            proxy_set_header Connection "";',
        ]
      : [];
  return `daemon off;
master_process on;
worker_processes ${Math.max(1, spec.workers)};
pid logs/nginx.pid;
error_log logs/error.log ${spec.errorLogLevel ?? "info"};

events { worker_connections ${spec.workerConnections ?? 1024}; }

wasm {
${modules.join("\n")}
${zones.join("\n")}
    socket_connect_timeout 2s;
${spec.wasmtimeCacheConfig ? `    wasmtime { cache_config ${spec.wasmtimeCacheConfig}; }\n` : ""}${(spec.wasmExtra ?? []).map((l) => `    ${l}`).join("\n")}
}

http {
    ${spec.accessLog ? "access_log logs/access.log;" : "access_log off;"}
    client_body_temp_path temp/client_body;
    proxy_temp_path temp/proxy;
    fastcgi_temp_path temp/fastcgi;
    uwsgi_temp_path temp/uwsgi;
    scgi_temp_path temp/scgi;
    client_body_buffer_size ${spec.clientBodyBufferSize ?? 8192};
    client_max_body_size 64m;
${(spec.httpExtra ?? []).map((l) => `    ${l}`).join("\n")}

    upstream test_upstream {
        server 127.0.0.1:${spec.upstreamPort};
${keepalive > 0 ? `        keepalive ${keepalive};` : ""}
    }

    server {
        listen 127.0.0.1:${spec.listenPort};
        server_name ${spec.serverName ?? "kong"};
        location / {
${chain.join("\n")}
            proxy_set_header Host $http_host;
            proxy_set_header ${spec.clientHeader} $remote_port;
${upstreamLines.join("\n")}
            proxy_pass http://test_upstream;
        }
    }
}
`;
}
