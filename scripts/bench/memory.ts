// Linear memory over many requests (SPEC §11: flat ± 1 MiB after warm-up). Wasm memory
// only grows, so its size at the end against its size after the warm-up is the growth.
import type { ProxyRequest, UpstreamResponse } from "../../emulator/index.ts";
import { benchConfig } from "./fixtures.ts";
import { Subject } from "./subject.ts";

export const MEMORY_WARMUP = 10_000;

export interface MemoryResult {
  requests: number;
  afterWarmup: number;
  end: number;
  growth: number;
  /** [requests done, memory bytes] about every tenth of the run. */
  checkpoints: Array<[number, number]>;
  seconds: number;
  batches: number;
  problems: string[];
}

export async function runMemory(
  total: number,
  request: (i: number) => ProxyRequest,
  response: UpstreamResponse,
  wasm: string,
  progress: (line: string) => void,
): Promise<MemoryResult> {
  const sub = new Subject("moesif", wasm, benchConfig("http://collector.test:80"));
  sub.parse = false;
  try {
    const t0 = performance.now();
    await sub.run(MEMORY_WARMUP, request, response);
    const afterWarmup = sub.host.memoryBytes(0);
    const checkpoints: Array<[number, number]> = [[MEMORY_WARMUP, afterWarmup]];
    const step = Math.max(MEMORY_WARMUP, Math.round(total / 10));
    for (let done = MEMORY_WARMUP; done < total; ) {
      const n = Math.min(step, total - done);
      await sub.run(n, request, response);
      done += n;
      checkpoints.push([done, sub.host.memoryBytes(0)]);
      progress(`memory: ${done}/${total} requests, ${(sub.host.memoryBytes(0) / 1048576).toFixed(2)} MiB`);
    }
    const end = sub.host.memoryBytes(0);
    return {
      requests: total,
      afterWarmup,
      end,
      growth: end - afterWarmup,
      checkpoints,
      seconds: (performance.now() - t0) / 1000,
      batches: sub.batches.length,
      problems: sub.problems(),
    };
  } finally {
    await sub.stop();
  }
}
