// Delivery from on_tick (SPEC §6): claim batches from the shared queue, POST them to the
// collector, and settle them when the callback arrives: acknowledge, retry with backoff,
// or drop. Never dispatches from a callback or the request path (engine-verified 5+/5++).
import { ByteBuf } from "../lib/bytes";
import { deflate } from "../lib/deflate";
import { Wrapper } from "../lib/inflate";
import { Config, USER_AGENT } from "../moesif/config";
import { Batch, Drop, Fill, SharedQueue, TickBudget } from "../moesif/queue";
import { backoffMs, classify, mayRetry, Outcome } from "../moesif/retry";
import * as host from "./host";
import { utf8, Utf8 } from "../lib/utf8";
import { callSpanMs, MAX_DISPATCHES } from "./calls";

/** How long past a dispatch's span (calls.ts) a lease is held before another worker may take it (covers the reading ticks). */
const LEASE_MARGIN_MS: i64 = 4000;
/**
 * One tick's slice of the delivery work (docs/queue.md, "Sliced ticks"): slot bytes read
 * into batch bodies and slots read, sized so that a tick holds the worker for about 1 ms
 * at most (measured in the engine). What is left continues on the next tick; at the 4 ms
 * tick that is up to 98 MB/s and 32,000 events/s per worker (SPEC §11: 20,000 reference
 * events of about 4.2 KB each, 84 MB/s).
 */
export const TICK_BYTES: i64 = 384 << 10;
export const TICK_SLOTS: i32 = 128;
/** Deflating a byte costs about as much as reading this many (counted against TICK_BYTES). */
const DEFLATE_COST: i64 = 8;

const DISPATCH_STATUS: Utf8 = utf8(":dispatch_status");

const enum Stage {
  Idle = 0,
  /** Claimed; its slots are being read (over one or more ticks). */
  Reading = 1,
  /** Read, waiting for the next tick's budget to be deflated and sent. */
  Ready = 2,
  /** Dispatched, waiting for the callback. */
  Sent = 3,
}

class InFlight {
  token: u32 = 0;
  batch: Batch = new Batch();
  /** When to stop waiting for the callback (callSpanMs). */
  deadline: i64 = 0;
  stage: Stage = Stage.Idle;
}

export class SenderCounters {
  batchesSent: u64 = 0;
  eventsSent: u64 = 0;
  batchesRetried: u64 = 0;
}

export class Sender {
  private slots: Array<InFlight> = [];
  private headers: ArrayBuffer;
  private compressedHeaders: ArrayBuffer;
  private compressed: ByteBuf = new ByteBuf(0);
  private value: ByteBuf = new ByteBuf(64);
  private budget: TickBudget = new TickBudget();
  counters: SenderCounters = new SenderCounters();
  /** Collector tags seen on the last batch response (for the config/rules fetcher). */
  configEtag: string = "";
  rulesTag: string = "";
  /**
   * The host calls back on every outcome (Kong 3.9, plain ngx_wasm_module): see callSpanMs.
   * Assumed until the first request shows the version: a fresh worker's first calls then wait
   * long rather than risk overlapping a live call (on Kong <= 3.8 a failed one waits longer).
   */
  callsBack: bool = true;

  constructor(private cfg: Config, private queue: SharedQueue) {
    const e = cfg.endpoint;
    const base: Array<string> = [
      ":method", "POST",
      ":path", e.basePath + "/v1/events/batch",
      ":authority", e.authority,
      ":scheme", e.scheme,
      "content-type", "application/json",
      "x-moesif-application-id", cfg.applicationId,
      "user-agent", USER_AGENT,
    ];
    this.headers = host.serializePairs(base);
    base.push("content-encoding");
    base.push("deflate");
    this.compressedHeaders = host.serializePairs(base);
    for (let i = 0; i < MAX_DISPATCHES; i++) this.slots.push(new InFlight());
  }

  /** Batches claimed and not yet settled (being read, waiting, or dispatched). */
  inFlight(): i32 {
    let n = 0;
    for (let i = 0; i < this.slots.length; i++) if (this.slots[i].stage != Stage.Idle) n++;
    return n;
  }

  /**
   * One tick's work, bounded by TICK_BYTES and TICK_SLOTS (and max_callback_time_spent):
   * expire silent dispatches, go on with batches being read, then claim new ones, with
   * at most `allowed` batches in flight. Returns whether it did anything.
   */
  tick(now: i64, allowed: i32): bool {
    let worked = false;
    for (let i = 0; i < this.slots.length; i++) {
      const s = this.slots[i];
      if (s.stage == Stage.Sent && now > s.deadline) {
        this.settle(s, 0, now, "no callback in time");
        worked = true;
      }
    }
    const budget = this.budget;
    budget.reset(TICK_BYTES, TICK_SLOTS);
    // Batches read before this tick go first: their leases are held meanwhile.
    for (let i = 0; i < this.slots.length; i++) {
      const s = this.slots[i];
      if (s.stage == Stage.Ready || s.stage == Stage.Reading) {
        this.advance(s, now);
        worked = true;
      }
    }
    const budgetEnd = now + <i64>this.cfg.maxCallbackTimeSpent;
    const hold = <i32>(callSpanMs(this.cfg.sendTimeout, this.callsBack, this.cfg.endpoint.target) + LEASE_MARGIN_MS);
    let inFlight = this.inFlight();
    for (let i = 0; i < this.slots.length; i++) {
      const s = this.slots[i];
      if (s.stage != Stage.Idle) continue;
      if (inFlight >= allowed || budget.spent() || host.nowMs() > budgetEnd) break;
      if (!this.queue.claim(now, this.cfg.batchSize, this.cfg.batchMaxBytes, this.cfg.flushIntervalMs, hold, s.batch)) break;
      worked = true;
      s.stage = Stage.Reading;
      inFlight++;
      this.advance(s, now);
    }
    return worked;
  }

  /** Reads more of a claimed batch within the tick's budget; sends it once complete. */
  private advance(s: InFlight, now: i64): void {
    const budget = this.budget;
    if (s.stage == Stage.Reading) {
      const r = this.queue.fill(s.batch, this.cfg.batchMaxBytes, budget);
      if (r == Fill.More) return;
      if (r == Fill.Lost) {
        s.stage = Stage.Idle; // another worker took the lease over and sends it
        return;
      }
      s.stage = Stage.Ready;
    }
    const b = s.batch;
    if (b.events == 0) {
      this.queue.finish(b); // every slot was evicted: nothing to send
      s.stage = Stage.Idle;
      return;
    }
    // Deflating is the costliest step: a spent tick leaves it to the next one.
    if (this.cfg.enableCompression) {
      if (budget.spent()) return;
      budget.bytes -= <i64>b.size * DEFLATE_COST;
    }
    this.send(s, now);
  }

  private send(s: InFlight, now: i64): void {
    const b = s.batch;
    s.stage = Stage.Idle;
    let ptr = b.ptr;
    let size = b.size;
    let headers = this.headers;
    if (this.cfg.enableCompression) {
      const c = this.compressed;
      c.clear();
      deflate(ptr, size, c, Wrapper.Zlib);
      ptr = c.ptr;
      size = c.length;
      headers = this.compressedHeaders;
    }
    const r = host.dispatch(this.cfg.endpoint.target, headers, ptr, size, <u32>this.cfg.sendTimeout);
    if (r != host.Result.Ok) {
      host.log(host.Level.Error, utf8("moesif: cannot dispatch to {} (result {})")).str(this.cfg.endpoint.target).int(<i32>r).write();
      this.retryOrDrop(b, now, 0, "dispatch refused");
      return;
    }
    s.token = host.lastToken();
    s.deadline = now + callSpanMs(this.cfg.sendTimeout, this.callsBack, this.cfg.endpoint.target);
    s.stage = Stage.Sent;
    if (this.compressed.capacity > (1 << 22)) this.compressed.shrinkTo(1 << 16);
  }

  /**
   * The host called back for `token`. Returns false when it is not one of ours (e.g. a
   * call made by this worker's previous instance).
   */
  onResponse(token: u32, now: i64): bool {
    for (let i = 0; i < this.slots.length; i++) {
      const s = this.slots[i];
      if (s.stage != Stage.Sent || s.token != token) continue;
      const v = this.value;
      const status = host.callStatus(v);
      // The engine's reason for a failed call (Kong 3.9: timeout, broken connection, …), for the debug log.
      const why = status == 0 && this.cfg.debug && host.headerValue(host.MapType.HttpCallResponseHeaders, DISPATCH_STATUS, v) ? v.toString() : "";
      if (host.headerValue(host.MapType.HttpCallResponseHeaders, host.CONFIG_ETAG_HEADER, v)) this.configEtag = v.toString();
      if (host.headerValue(host.MapType.HttpCallResponseHeaders, host.RULES_TAG_HEADER, v)) this.rulesTag = v.toString();
      this.settle(s, status, now, why);
      return true;
    }
    return false;
  }

  private settle(s: InFlight, status: i32, now: i64, why: string): void {
    s.stage = Stage.Idle;
    const b = s.batch;
    // A body over the cap (one large event) must not keep its buffer for the worker's life.
    if (b.body.capacity > this.cfg.batchMaxBytes << 1) b.body.shrinkTo(1 << 16);
    const outcome = classify(status);
    if (outcome == Outcome.Sent) {
      if (this.queue.finish(b)) {
        this.counters.batchesSent++;
        this.counters.eventsSent += <u64>b.events;
      } else if (this.cfg.debug) {
        host.log(host.Level.Warn, utf8("moesif: a batch of {} events was accepted after its lease passed to another worker; it may arrive twice")).int(b.events).write();
      }
      return;
    }
    if (outcome == Outcome.Reject) {
      host.log(host.Level.Error, utf8("moesif: collector rejected a batch of {} events with HTTP {}; dropped (check application_id and api_endpoint)"))
        .int(b.events).int(status).write();
      if (this.queue.finish(b)) {
        this.queue.count(Drop.Rejected, <u64>b.events);
      }
      return;
    }
    this.retryOrDrop(b, now, status, why);
  }

  private retryOrDrop(b: Batch, now: i64, status: i32, why: string): void {
    if (mayRetry(b.firstAttempt, now, <i64>this.cfg.maxRetryTimeMs)) {
      if (this.queue.release(b, now + backoffMs(b.attempts))) this.counters.batchesRetried++;
      if (this.cfg.debug) {
        host.log(host.Level.Warn, utf8("moesif: batch of {} events failed ({}); retry {} in {} ms"))
          .int(b.events).str(status != 0 ? "HTTP " + status.toString() : why.length > 0 ? why : "no response")
          .int(b.attempts + 1).int(backoffMs(b.attempts)).write();
      }
      return;
    }
    host.log(host.Level.Error, utf8("moesif: dropping a batch of {} events after retrying for {} ms (last HTTP status {})"))
      .int(b.events).int(now - b.firstAttempt).int(status).write();
    if (this.queue.finish(b)) {
      this.queue.count(Drop.RetryExhausted, <u64>b.events);
    }
  }
}
