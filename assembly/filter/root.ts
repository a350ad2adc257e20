// The root context: one per filter entry and worker. It parses the configuration, owns the
// per-worker state (queue handle, sender, pools) and runs the tick.
import { Context } from "@solo-io/proxy-runtime/assembly";
import { parseConfig } from "../moesif/config";
import { MoesifHttp } from "./http";
import { FilterState, StateRoot } from "./state";
import * as host from "./host";
import { collectGarbage } from "./gc";
import { utf8 } from "../lib/utf8";
import { MAX_DISPATCHES } from "./calls";

/**
 * The engine's tick period; work is scheduled by elapsed time on top of it. Short, because
 * each tick does only a slice of the delivery work (sender.ts: TICK_BYTES, TICK_SLOTS).
 */
export const TICK_MS: u32 = 4;
/** An idle tick makes little garbage: it collects only this often. */
const IDLE_COLLECT_MS: i64 = 1000;

export class MoesifRoot extends StateRoot {
  private tickArmed: bool = false;
  /** on_vm_start ran: a worker start, not a re-creation after a trap (the engine skips it then). */
  private vmStarted: bool = false;

  onStart(vm_configuration_size: usize): bool {
    this.vmStarted = true;
    return true;
  }

  createContext(context_id: u32): Context {
    return new MoesifHttp(context_id, this);
  }

  onConfigure(configuration_size: u32): bool {
    super.onConfigure(configuration_size);
    const result = parseConfig(this.getConfiguration());
    for (let i = 0; i < result.warnings.length; i++) host.log(host.Level.Warn, utf8("moesif: {}")).str(result.warnings[i]).write();
    const cfg = result.config;
    if (cfg === null) {
      // Returning false would make Kong fail every request of the chain: stay inert instead.
      host.log(host.Level.Error, utf8("moesif: {}; the filter is inactive")).str(result.error).write();
      this.state = null;
      collectGarbage();
      return true;
    }
    this.state = new FilterState(cfg, randomOwner(), this.vmStarted);
    // A second non-zero period traps (and kills the worker at start-up): arm it once.
    if (!this.tickArmed && host.setTickPeriod(TICK_MS) == host.Result.Ok) this.tickArmed = true;
    if (cfg.debug) host.log(host.Level.Info, utf8("moesif: configured for {}")).str(cfg.apiEndpoint).write();
    collectGarbage();
    return true;
  }

  onTick(): void {
    const state = this.state;
    if (state === null) return;
    const now = host.nowMs();
    // Events reach shared data here, never in a request (zone.ts says why).
    const zoneReady = state.zone.tick(now, TICK_MS, state.queue);
    // After an instance recycle the engine may tick twice per period: skip the extra one.
    if (now - state.lastTick < <i64>(TICK_MS / 2)) return;
    state.lastTick = now;
    if (!state.zone.mayDispatch(now, TICK_MS)) return;
    // Config and rules first (they steer sampling and blocking), then batches.
    state.remote.tick(now, state.sender.configEtag, state.sender.rulesTag, MAX_DISPATCHES - state.sender.inFlight());
    if (!zoneReady) {
      collectGarbage();
      return;
    }
    const worked = state.sender.tick(now, MAX_DISPATCHES - state.remote.inFlight());
    const metrics = state.metrics;
    if (metrics !== null) {
      const q = state.queue.counters;
      metrics.update([q.enqueued, state.sender.counters.eventsSent, q.lost(), state.sender.counters.batchesRetried]);
    }
    this.warnAboutDrops(state, now);
    this.summary(state, now);
    if (worked || now - state.lastCollect >= IDLE_COLLECT_MS) {
      state.lastCollect = now;
      collectGarbage();
    }
  }

  /** At most one warning a minute per worker while events are being lost (sampling aside). */
  private warnAboutDrops(state: FilterState, now: i64): void {
    if (now - state.lastDropWarning < 60000) return;
    const q = state.queue.counters;
    const lost = q.lost();
    if (lost == state.droppedAtLastWarning) return;
    host.log(host.Level.Warn, utf8("moesif: {} events dropped since the last warning (this worker, total: {}); see queue_max_bytes, event_queue_size and the collector"))
      .int(<i64>(lost - state.droppedAtLastWarning)).str(q.describe(false)).write();
    state.lastDropWarning = now;
    state.droppedAtLastWarning = lost;
  }

  onHttpCallResponse(token: u32, headers: u32, body_size: u32, trailers: u32): void {
    const state = this.state;
    if (state === null) return;
    const now = host.nowMs();
    if (state.sender.onResponse(token, now)) return;
    state.remote.onResponse(token, body_size, now);
    collectGarbage(); // a config or rules document may have left a large parse tree behind
  }

  private summary(state: FilterState, now: i64): void {
    const interval = <i64>state.cfg.logSummaryIntervalMs;
    if (interval <= 0) return;
    if (state.lastSummary == 0) {
      state.lastSummary = now;
      return;
    }
    if (now - state.lastSummary < interval) return;
    state.lastSummary = now;
    const q = state.queue.counters;
    const c = state.sender.counters;
    const dropped = q.describe(true);
    // The counts are this worker's since it started; the backlog is the shared queue's.
    host.log(host.Level.Info, utf8("moesif: summary: queued {}, sent {} in {} batches, retried batches {}, dropped{} (this worker); backlog {} events (all workers)"))
      .int(<i64>q.enqueued).int(<i64>c.eventsSent).int(<i64>c.batchesSent).int(<i64>c.batchesRetried)
      .str(dropped.length > 0 ? ": " + dropped : " 0").int(<i64>state.queue.backlog()).write();
  }
}

function randomOwner(): u32 {
  const p = memory.data(4);
  if (!host.randomBytes(p, 4)) store<u32>(p, <u32>host.nowMs());
  const v = load<u32>(p);
  return v == 0 ? 1 : v;
}
