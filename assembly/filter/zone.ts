// Request contexts never touch shared data: they hand their events to the root, whose tick
// writes them to the queue (one tick period later at most). ngx_wasm_module traps a
// shared-data call whose key no shm_kv zone takes ("could not resolve namespace") and a set on
// a full zone with eviction=none, and no host call tells either without trapping. A trap in a
// request context is far worse than one in on_tick: the root re-created by the request is tied
// to that request's context, so its next tick's dispatches trap, and after repeated request
// traps the worker crashed (SIGSEGV, test/engine/behaviours.test.ts). A trap in on_tick only
// costs the events held for that tick.
//
// Whether this worker has a zone at all is probed by the root's tick too; until a probe of
// this instance succeeded, events are held (bounded by the queue's own caps).
//
// Zones only change when nginx reloads, which starts new workers (on_vm_start), so an instance
// that saw on_vm_start probes at its first tick: with a zone (the normal case) its events wait
// one tick period at most. An instance re-created after a trap (the engine skips on_vm_start
// then) may be the successor of a failed probe: it waits before probing, twice as long for
// every tick chain it sees beyond two, because the engine adds one tick chain per re-created
// root (engine-verified 7d): the chain count is the only memory of failed probes that survives
// the traps. Probing stops for the worker's life at MAX_CHAINS, so the traps are bounded.
import { ByteBuf } from "../lib/bytes";
import { Drop, SharedQueue, SLOT_HEADER } from "../moesif/queue";
import { Config } from "../moesif/config";
import * as host from "./host";
import { utf8 } from "../lib/utf8";

/** A re-created instance waits this long before probing, doubled per tick chain beyond two. */
const PROBE_BACKOFF_MS: i64 = 1000;
/** Tick chains at which probing stops for this worker's life (each failed probe adds one). */
const MAX_CHAINS: i32 = 10;
const MINUTE_MS: i64 = 60000;
/** Event buffers kept for reuse hold at most this many bytes in all. */
const SPARE_BYTES: i32 = 4 << 20;
/** A kept buffer over this capacity is shrunk to SPARE_SHRINK first. */
const SPARE_LARGE: i32 = 1 << 20;
const SPARE_SHRINK: i32 = 1 << 16;

export class ZoneGate {
  /** The zone answered a probe of this instance: the queue may be used. */
  ready: bool = false;
  private held: Array<ByteBuf> = [];
  private heldBytes: i32 = 0;
  /** Buffers of events already written, reused for the next ones (no allocation per event). */
  private spare: Array<ByteBuf> = [];
  private spareBytes: i32 = 0;
  private lastSize: i32 = 4096;
  private born: i64;
  private calls: i32 = 0;
  private warned: bool = false;
  private stopped: bool = false;

  /** `fresh`: this instance saw on_vm_start (a worker start, not a re-creation after a trap). */
  constructor(private cfg: Config, private fresh: bool, now: i64) {
    this.born = now;
  }

  /**
   * A buffer for the next event, with SLOT_HEADER bytes reserved for the queue's slot
   * header: the request writes its event straight into it, and `hold` keeps it for the tick,
   * so the event is not copied before it reaches shared data.
   */
  buffer(): ByteBuf {
    const spare = this.spare;
    let b: ByteBuf;
    if (spare.length > 0) {
      b = spare.pop();
      this.spareBytes -= b.capacity;
      b.clear();
    } else {
      // Sized for the last event: a buffer that has to grow is copied.
      const last = this.lastSize;
      b = new ByteBuf(last + (last >> 2));
    }
    b.ensure(SLOT_HEADER);
    b.length = SLOT_HEADER;
    return b;
  }

  /**
   * Keeps the event written into `event` (from `buffer()`) for the next tick. At most what
   * the queue itself would take is held (event_queue_size, queue_max_bytes): a tick
   * period's events normally, those until the probe in a re-created instance.
   */
  hold(queue: SharedQueue, event: ByteBuf): void {
    let reason: i32 = -1;
    if (this.stopped) reason = Drop.NoZone;
    else if (this.held.length >= this.cfg.eventQueueSize) reason = Drop.QueueFull;
    else if (<u64>this.heldBytes + <u64>event.length > <u64>this.cfg.queueMaxBytes) reason = Drop.BytesFull;
    if (reason >= 0) {
      // Over the queue's own caps: dropped for the reason the queue would give.
      queue.count(<Drop>reason, 1);
      this.recycle(event);
      return;
    }
    this.held.push(event);
    this.heldBytes += event.length;
    this.lastSize = event.length;
  }

  /** Keeps a written event's buffer for reuse, within the spare pool's count and bytes. */
  private recycle(b: ByteBuf): void {
    if (b.capacity > SPARE_LARGE) b.shrinkTo(SPARE_SHRINK);
    if (this.spareBytes + b.capacity > SPARE_BYTES) return;
    this.spare.push(b);
    this.spareBytes += b.capacity;
  }

  /** Writes the held events to the queue; their buffers are kept for reuse. */
  private flush(queue: SharedQueue): void {
    const held = this.held;
    for (let i = 0; i < held.length; i++) {
      const b = held[i];
      queue.enqueue(b);
      this.recycle(b);
    }
    held.length = 0;
    this.heldBytes = 0;
  }

  /**
   * Called on every on_tick (duplicates included: they are what is counted). Probes when due;
   * the probe traps when there is no zone. Returns whether the queue may be used.
   */
  tick(now: i64, tickMs: u32, queue: SharedQueue): bool {
    if (this.ready) {
      if (this.held.length > 0) this.flush(queue);
      return true;
    }
    if (!this.fresh && !this.due(now, tickMs, queue)) return false;
    if (this.cfg.debug) host.log(host.Level.Info, utf8("moesif: probing the shared-data zone '{}'")).str(this.cfg.kvNamespace).write();
    queue.tail(); // traps here when no zone takes the queue's keys
    this.ready = true;
    if (!this.fresh) host.log(host.Level.Info, utf8("moesif: shared data answers; events are queued again")).write();
    this.flush(queue);
    return true;
  }

  /**
   * Whether the root may dispatch. A root re-created by a request gets a new tick chain, and
   * the old chain calls on_tick too; until the new chain's first tick (one period after
   * on_configure) the host still has the new root outside the tick step, and a dispatch
   * traps ("can only send HTTP dispatch during ...").
   */
  mayDispatch(now: i64, tickMs: u32): bool {
    return this.fresh || now - this.born > <i64>(tickMs * 2);
  }

  /** Whether a re-created instance may probe now. */
  private due(now: i64, tickMs: u32, queue: SharedQueue): bool {
    this.calls++;
    // Ticks per period since this instance was created ≈ tick chains of this root.
    const periods = (now - this.born) / <i64>tickMs;
    if (periods < 10) return false; // too few ticks to count the chains yet
    const chains = <i32>((<i64>this.calls + periods / 2) / periods);
    if (chains <= 1) {
      // No extra chain: the trapped tick's chain ended (Kong before 3.6), so nothing counts
      // the failures: probe once a minute, at wall-clock minute boundaries.
      const next = (this.born / MINUTE_MS + 1) * MINUTE_MS;
      if (!this.warned) this.warnMissing(next - now);
      return now >= next;
    }
    // The first re-creation may follow any trap; from the second on, failed probes are likely.
    if (!this.warned && chains > 2) this.warnMissing(chains >= MAX_CHAINS ? -1 : this.born + backoff(chains) - now);
    if (chains >= MAX_CHAINS) {
      if (!this.stopped) this.stop(queue);
      return false;
    }
    return now - this.born >= backoff(chains);
  }

  /** No more probes: what is held and what comes is dropped as `no_zone`. */
  private stop(queue: SharedQueue): void {
    this.stopped = true;
    queue.count(Drop.NoZone, <u64>this.held.length);
    this.held = [];
    this.heldBytes = 0;
  }

  /** One error per re-created instance after the first: it names the setting that adds the zone. */
  /** `waitMs`: until the next probe; negative when there is none. */
  private warnMissing(waitMs: i64): void {
    this.warned = true;
    const ns = this.cfg.kvNamespace;
    const next = waitMs < 0
      ? "no further checks until nginx reloads"
      : "next check in " + ((waitMs + 999) / 1000).toString() + " s";
    host.log(host.Level.Error, utf8("moesif: restarted after a trap; no events are queued until shared data answers ({}). " +
      "For 'could not resolve namespace', add a shm_kv zone for '{}/' keys: nginx_wasm_shm_kv_{} " +
      "(Kong 3.6+; nginx_wasm_shm_{} on 3.4/3.5) or nginx_wasm_shm_kv (the '*' zone, Kong 3.7+), e.g. 32m"))
      .str(next).str(ns).str(ns).str(ns).write();
  }
}

/** How long a re-created instance with `chains` tick chains waits before probing. */
function backoff(chains: i32): i64 {
  return PROBE_BACKOFF_MS << (chains > 2 ? chains - 2 : 0);
}
