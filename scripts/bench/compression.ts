// Payload compression (enable_compression): one batch of 200 varied, realistic events as the
// collector receives it, deflated by the filter against its raw size; zlib level 6 on the
// same text for reference; and what deflating costs the tick.
import { deflateSync } from "node:zlib";
import { benchConfig, variedExchange } from "./fixtures.ts";
import { diff, FLUSH_EXPORTS, sumNanos, Subject } from "./subject.ts";

export interface CompressionResult {
  events: number;
  rawBytes: number;
  compressedBytes: number;
  /** compressed / raw. */
  ratio: number;
  zlib6Bytes: number;
  /** Tick + callback µs per event for the last round, compression off and on. */
  flushPerEventOff: number;
  flushPerEventOn: number;
  problems: string[];
}

const EVENTS = 200;
const ROUNDS = 3;

async function round(sub: Subject, r: number): Promise<{ batch: Subject["batches"][number]; flushUs: number }> {
  const before = sub.snapshot();
  const want = sub.events + EVENTS;
  const batches = sub.batches.length;
  for (let i = 0; i < EVENTS; i++) {
    const x = variedExchange(r * EVENTS + i);
    await sub.host.request(x.req, () => x.res);
  }
  if (!(await sub.drain(want))) throw new Error(`compression: ${sub.events}/${want} events delivered`);
  const got = sub.batches.slice(batches);
  if (got.length !== 1) throw new Error(`compression: expected one batch of ${EVENTS}, got ${got.length}`);
  return { batch: got[0], flushUs: sumNanos(diff(before, sub.snapshot()), FLUSH_EXPORTS) / 1000 };
}

export async function runCompression(wasm: string): Promise<CompressionResult> {
  const config = (on: boolean): string => benchConfig("http://collector.test:80", { enable_compression: on, batch_size: EVENTS, batch_max_bytes: 4 << 20 });
  const off = new Subject("off", wasm, config(false));
  const on = new Subject("on", wasm, config(true));
  on.keepText = true;
  try {
    let a = await round(off, 0);
    let b = await round(on, 0);
    for (let r = 1; r < ROUNDS; r++) {
      a = await round(off, r);
      b = await round(on, r);
    }
    if (b.batch.encoding === null) throw new Error("compression: the batch was sent uncompressed");
    return {
      events: EVENTS,
      rawBytes: b.batch.rawBytes,
      compressedBytes: b.batch.bytes,
      ratio: b.batch.bytes / b.batch.rawBytes,
      zlib6Bytes: deflateSync(new TextEncoder().encode(on.lastText), { level: 6 }).length,
      flushPerEventOff: a.flushUs / EVENTS,
      flushPerEventOn: b.flushUs / EVENTS,
      problems: [...off.problems(), ...on.problems()],
    };
  } finally {
    await off.stop();
    await on.stop();
  }
}
