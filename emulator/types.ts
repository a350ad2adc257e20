// Options of the Kong Wasm host emulator (the data types it shares with the engine gateway are in gateway.ts).

import type { LogLine } from "./gateway.js";

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
