// The soak's fault schedule and what its collector reports (shared by scripts/soak-engine.ts
// and the collector process it forks, scripts/soak-collector.ts).

export type Mode = "up" | "down" | "503" | "429" | "reset" | "timeout";

/** The fault schedule: a 50 s cycle (ms since the start). */
export function modeAt(ms: number): Mode {
  const t = (ms / 1000) % 50;
  if (t < 15) return "up";
  if (t < 21) return "down";
  if (t < 27) return "up";
  if (t < 31) return "503";
  if (t < 35) return "429";
  if (t < 39) return "reset";
  if (t < 43) return "timeout";
  return "up";
}

export interface CollectorStats { batches: number; accepted: number; refused5xx: number; refused429: number; resets: number; unanswered: number; unconfirmed: number; late: number; events: number }
export interface CollectorDump {
  stats: CollectorStats;
  /** "id t1 t2 …" per delivered transaction id: ms since the start at which a batch holding it arrived whole. */
  deliveries: string[];
  /** Ids of accepted batches whose answer did not reach the socket. */
  unconfirmed: string[];
  /** Ids of accepted batches answered send_timeout or more after their connection opened. */
  late: string[];
  /** The collector's event-loop delay: p99 and max (ms). */
  loopDelay: { p99: number; max: number };
}
