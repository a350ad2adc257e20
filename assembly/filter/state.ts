// The per-worker state of an active filter entry, shared by the root context (tick,
// callbacks) and the request contexts: its own module so neither imports the other.
import { RootContext } from "@solo-io/proxy-runtime/assembly";
import { ByteBuf, leadingDecimal } from "../lib/bytes";
import { Config } from "../moesif/config";
import { Exchange } from "../moesif/event";
import { IdentityConfig } from "../moesif/identity";
import { Kv, SharedQueue } from "../moesif/queue";
import { BlockResponse } from "../moesif/governance";
import { RequestFacts } from "../moesif/rules";
import { Remote } from "./remote";
import { Sender } from "./sender";
import * as host from "./host";
import { ZoneGate } from "./zone";
import { utf8, Utf8 } from "../lib/utf8";

class HostKv extends Kv {
  get(key: ArrayBuffer, out: ByteBuf): i32 { return host.kvGet(key, out); }
  lastCas(): u32 { return host.lastCas(); }
  set(key: ArrayBuffer, value: usize, len: i32, cas: u32): i32 { return host.kvSet(key, value, len, cas); }
  del(key: ArrayBuffer, cas: u32): i32 { return host.kvDelete(key, cas); }
}

/** Opt-in proxy-wasm metrics, updated from the tick by the counters' growth since the last tick. */
export class Metrics {
  private ids: Array<i64> = [];
  private last: Array<u64> = [];

  constructor() {
    // The order of update()'s values.
    this.define(utf8("moesif_events_queued"));
    this.define(utf8("moesif_events_sent"));
    this.define(utf8("moesif_events_dropped"));
    this.define(utf8("moesif_batches_retried"));
  }

  private define(name: Utf8): void {
    this.ids.push(host.defineMetric(host.MetricType.Counter, name));
    this.last.push(0);
  }

  update(values: Array<u64>): void {
    for (let i = 0; i < values.length; i++) {
      const id = this.ids[i];
      if (id >= 0 && values[i] > this.last[i]) host.incrementMetric(<u32>id, <i64>(values[i] - this.last[i]));
      this.last[i] = values[i];
    }
  }
}

/** Kong metadata of one route, read through properties (each read is a Lua call in Kong). */
export class RouteMeta {
  serviceId: string = "";
  routeName: string = "";
  serviceName: string = "";
  readAt: i64 = 0;
}

/** Route metadata is re-read after this long (renamed routes and services show up then). */
export const ROUTE_META_TTL_MS: i64 = 60000;
const ROUTE_META_MAX: i32 = 256;

/** Everything a configured (active) root needs. */
export class FilterState {
  identity: IdentityConfig = new IdentityConfig();
  queue: SharedQueue;
  sender: Sender;
  remote: Remote;
  /** Reused per request for rule matching and sampling. */
  facts: RequestFacts = new RequestFacts();
  block: BlockResponse = new BlockResponse();
  private seed: u64;
  private pool: Array<Exchange> = [];
  private routes: Map<string, RouteMeta> = new Map();
  metrics: Metrics | null = null;
  /** Whether Kong's version was read (from the first request: properties are unsafe in root contexts). */
  versionKnown: bool = false;
  lastTick: i64 = 0;
  lastCollect: i64 = 0;
  lastDropWarning: i64 = 0;
  droppedAtLastWarning: u64 = 0;
  lastSummary: i64 = 0;
  zone: ZoneGate;

  /** `fresh`: the instance saw on_vm_start (a worker start, not a re-creation after a trap). */
  constructor(public cfg: Config, owner: u32, fresh: bool) {
    const prefix = SharedQueue.prefixFor(cfg.kvNamespace, cfg.applicationId + "\n" + cfg.apiEndpoint);
    const queue = new SharedQueue(new HostKv(), prefix, <u32>cfg.eventQueueSize, <u64>cfg.queueMaxBytes, owner);
    this.queue = queue;
    this.sender = new Sender(cfg, queue);
    this.remote = new Remote(cfg);
    this.zone = new ZoneGate(cfg, fresh, host.nowMs());
    this.seed = randomSeed();
    this.identity.userIdHeader = cfg.userIdHeader;
    this.identity.companyIdHeader = cfg.companyIdHeader;
    this.identity.authorizationHeaderNames = cfg.authorizationHeaderNames;
    this.identity.userIdField = cfg.authorizationUserIdField;
    this.identity.companyIdField = cfg.authorizationCompanyIdField;
  }

  /** Uniform in [0, 1) for sampling decisions (xorshift64*, seeded from the host's random source). */
  random01(): f64 {
    let x = this.seed;
    x ^= x >> 12;
    x ^= x << 25;
    x ^= x >> 27;
    this.seed = x;
    return <f64>((x * 0x2545f4914f6cdd1d) >> 11) / 9007199254740992.0;
  }

  /**
   * What depends on Kong's version: whether the host calls back on every dispatch outcome
   * (3.9+, calls.ts) and metrics host calls (3.8+; they trap before). Read once from the
   * first request, since root contexts cannot read properties. Kong 3.4/3.5 have no
   * kong.version property: "" counts as old there.
   */
  learnKongVersion(kongVersion: string, kongRoute: bool): void {
    this.versionKnown = true;
    // No kong.* property at all: plain nginx + ngx_wasm_module (Kong 3.9's pin or later here;
    // Kong 3.4/3.5 lack kong.version but set kong.route_id).
    const callsBack = atLeast(kongVersion, 3, 9) || (kongVersion.length == 0 && !kongRoute);
    this.sender.callsBack = callsBack;
    this.remote.callsBack = callsBack;
    if (!this.cfg.enableMetrics) return;
    if (atLeast(kongVersion, 3, 8)) {
      this.metrics = new Metrics();
    } else {
      host.log(host.Level.Warn, utf8("moesif: enable_metrics needs Kong 3.8 or later (this is '{}'); metrics are off")).str(kongVersion).write();
    }
  }

  // The last request's route: requests mostly repeat one, so while its id's bytes repeat the
  // same id string and metadata serve (no string per request, no hashing).
  private lastRouteBytes: ByteBuf = new ByteBuf(64);
  private lastRouteId: string = "";
  private lastRoute: RouteMeta | null = null;

  /** The route id for the kong.route_id property's bytes (the same string while they repeat). */
  routeId(bytes: ByteBuf): string {
    const last = this.lastRouteBytes;
    if (bytes.length == last.length && memory.compare(bytes.ptr, last.ptr, <usize>bytes.length) == 0) return this.lastRouteId;
    last.clear();
    last.append(bytes);
    this.lastRouteId = bytes.toString();
    this.lastRoute = null;
    return this.lastRouteId;
  }

  /** Cached metadata of a route, or null when it must be (re)read. */
  routeMeta(routeId: string, now: i64): RouteMeta | null {
    let m = this.lastRoute;
    if (m === null || routeId != this.lastRouteId) {
      // No route id (standalone nginx, or a Kong without the property) is cached like any other.
      if (!this.routes.has(routeId)) return null;
      m = this.routes.get(routeId);
      if (routeId == this.lastRouteId) this.lastRoute = m;
    }
    return now - m.readAt < ROUTE_META_TTL_MS ? m : null;
  }

  rememberRoute(routeId: string, meta: RouteMeta): void {
    if (this.routes.size >= ROUTE_META_MAX && !this.routes.has(routeId)) this.routes.clear();
    this.routes.set(routeId, meta);
    if (routeId == this.lastRouteId) this.lastRoute = meta;
  }

  takeExchange(): Exchange {
    if (this.pool.length > 0) return this.pool.pop();
    return new Exchange();
  }

  giveBack(ex: Exchange): void {
    // The pool is a stack: its top few exchanges are reused request after request and keep
    // buffers for bodies up to the default 100 KB limit (no regrowing per request); deeper
    // ones, reused only under concurrency, keep 64 KiB. At most 8 × 2 × 256 KiB + 56 × 2 × 64 KiB.
    ex.reset(this.pool.length < 8 ? 1 << 18 : 1 << 16);
    if (this.pool.length < 64) this.pool.push(ex);
  }
}

/** A root context that holds the state (what request contexts see of their root). */
export class StateRoot extends RootContext {
  state: FilterState | null = null;
}

/** Whether a Kong version ("3.8.0", "3.9.1.0-enterprise") is at least major.minor; unknown → false. */
export function atLeast(version: string, major: i32, minor: i32): bool {
  const dot = version.indexOf(".");
  if (dot < 0) return false;
  const ma = leadingDecimal(version);
  const mi = leadingDecimal(version, dot + 1);
  return ma > major || (ma == major && mi >= minor);
}

function randomSeed(): u64 {
  const p = memory.data(8);
  if (!host.randomBytes(p, 8)) store<u64>(p, <u64>host.nowMs() * 0x9e3779b97f4a7c15);
  const v = load<u64>(p);
  return v == 0 ? 0x9e3779b97f4a7c15 : v;
}
