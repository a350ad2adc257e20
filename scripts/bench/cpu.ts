// Per-request filter time (SPEC §11): time inside the request-path exports, including the
// host calls they make, from the emulator's host.stats. The filters of one scenario run in
// interleaved blocks so that a change in machine load hits each of them alike.
import type { ProxyRequest, UpstreamResponse } from "../../emulator/index.ts";
import { diff, FLUSH_EXPORTS, REQUEST_EXPORTS, Samples, sumNanos, Subject, type Snapshot } from "./subject.ts";

export interface Scenario {
  name: string;
  /** Request i of the run. */
  request: (i: number) => ProxyRequest;
  response: UpstreamResponse;
  /** The filters compared; `request` overrides the scenario's request (a variant in the same blocks). */
  filters: Array<{ name: string; wasm: string; request?: (i: number) => ProxyRequest }>;
  config: string;
  warmup: number;
  measured: number;
  /** Requests per filter per interleaved block. */
  block: number;
  /**
   * Requests per 100 ms tick (the virtual request rate). Large events need a low rate: the
   * queue's byte cap (8 MiB) must hold the events of one flush interval or they are dropped.
   */
  perTick: number;
}

export interface FilterTiming {
  filter: string;
  requests: number;
  /** µs per request: sum over the measured requests / count. */
  mean: number;
  median: number;
  p99: number;
  /** Per request-path export: calls, mean and median µs per request. */
  perExport: Record<string, { calls: number; us: number; median: number }>;
  /** Delivery side during the measured requests: µs per event sent, events sent. */
  flushPerEvent: number | null;
  flushPerExport: Record<string, { calls: number; us: number }>;
  eventsSent: number;
  /** Events delivered after draining, out of all requests sent (moesif only). */
  delivered: number | null;
  sent: number;
  problems: string[];
}

export interface ScenarioResult {
  scenario: string;
  filters: FilterTiming[];
}

function quantile(sorted: Float64Array, q: number): number {
  if (sorted.length === 0) return 0;
  return sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))];
}

function perExport(d: Snapshot, keys: readonly string[], per: number): Record<string, { calls: number; us: number }> {
  const out: Record<string, { calls: number; us: number }> = {};
  for (const k of keys) out[k] = { calls: d[k]?.calls ?? 0, us: Number(d[k]?.nanos ?? 0n) / 1000 / per };
  return out;
}

export async function runScenario(s: Scenario, progress: (line: string) => void): Promise<ScenarioResult> {
  const subjects = s.filters.map((f) => new Subject(f.name, f.wasm, s.config));
  try {
    const requestOf = s.filters.map((f) => f.request ?? s.request);
    for (let k = 0; k < subjects.length; k++) await subjects[k].run(s.warmup, requestOf[k], s.response, s.perTick);
    const samples = subjects.map(() => new Samples(s.measured));
    const start = subjects.map((sub) => ({ snap: sub.snapshot(), events: sub.events }));
    for (let done = 0; done < s.measured; done += s.block) {
      const n = Math.min(s.block, s.measured - done);
      for (let k = 0; k < subjects.length; k++) await subjects[k].run(n, requestOf[k], s.response, s.perTick, samples[k], done);
      progress(`${s.name}: ${done + n}/${s.measured}`);
    }
    const end = subjects.map((sub) => ({ snap: sub.snapshot(), events: sub.events }));
    const filters: FilterTiming[] = [];
    for (let k = 0; k < subjects.length; k++) {
      const sub = subjects[k];
      const d = diff(start[k].snap, end[k].snap);
      const sorted = samples[k].total.sort();
      const perExportTimes = perExport(d, REQUEST_EXPORTS, s.measured);
      const withMedians: FilterTiming["perExport"] = {};
      REQUEST_EXPORTS.forEach((e, i) => {
        withMedians[e] = { ...perExportTimes[e], median: quantile(samples[k].perExport[i].sort(), 0.5) / 1000 };
      });
      const eventsSent = end[k].events - start[k].events;
      const flushNs = sumNanos(d, FLUSH_EXPORTS);
      // Only a filter that queues events is drained and checked: every request's event must arrive.
      let delivered: number | null = null;
      if (sub.events > 0) {
        await sub.drain(sub.sent);
        delivered = sub.events;
      }
      filters.push({
        filter: sub.name,
        requests: s.measured,
        mean: sumNanos(d, REQUEST_EXPORTS) / 1000 / s.measured,
        median: quantile(sorted, 0.5) / 1000,
        p99: quantile(sorted, 0.99) / 1000,
        perExport: withMedians,
        flushPerEvent: eventsSent > 0 ? flushNs / 1000 / eventsSent : null,
        flushPerExport: perExport(d, FLUSH_EXPORTS, Math.max(1, eventsSent)),
        eventsSent,
        delivered,
        sent: sub.sent,
        problems: sub.problems(),
      });
    }
    return { scenario: s.name, filters };
  } finally {
    for (const sub of subjects) await sub.stop();
  }
}
