// Ticks: proxy_set_tick_period_milliseconds and the per-worker timer chains that call
// proxy_on_tick, with the engine's version-dependent rules (kong-host.md, engine-verified.md).

import { atLeast, Result } from "./abi.js";
import { kindTrap } from "./errors.js";
import type { Runtime } from "./lifecycle.js";
import type { TickChain, WorkerState } from "./worker.js";

/** The host call: only root contexts; a second period traps (only a non-zero one from 3.8). */
export function setTickPeriod(rt: Runtime, w: WorkerState, inRequest: boolean, period: number): number {
  if (inRequest) {
    // Kong 3.4/3.5 ignored the call in request contexts.
    if (!atLeast(rt.version, "3.6")) return Result.Ok;
    throw kindTrap("bad usage", "can only set tick_period in root context");
  }
  const already = atLeast(rt.version, "3.8") ? period !== 0 && w.tickPeriod !== 0 : w.tickPeriod !== 0;
  if (already) throw kindTrap("bad usage", "tick_period already set");
  w.tickPeriod = period;
  if (period) armTick(rt, w, { life: w.life, timer: null, root: w.rootGen }, period);
  return Result.Ok;
}

function armTick(rt: Runtime, w: WorkerState, chain: TickChain, period: number): void {
  w.chains.add(chain);
  chain.timer = rt.clock.schedule(period, () => fireTick(rt, w, chain));
}

function fireTick(rt: Runtime, w: WorkerState, chain: TickChain): void {
  chain.timer = null;
  w.chains.delete(chain);
  if (rt.stopped || chain.life !== w.life || w.dead) return;
  if (w.trapped && !rt.ensureInstance(w)) return;
  if (chain.life !== w.life) return;
  const staleTick = w.rootFromRequest && chain.root !== w.rootGen;
  const r = rt.invoke(w, "proxy_on_tick", [rt.rootId], { phase: "tick", ctx: null, call: null, staleTick });
  if (chain.life !== w.life) return;
  // Kong 3.4/3.5 stopped ticking for good after a trap in on_tick.
  if (!r.ok && !atLeast(rt.version, "3.6")) return;
  if (w.tickPeriod > 0) armTick(rt, w, chain, w.tickPeriod);
}
