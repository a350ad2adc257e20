// Micro-benchmark kernels (scripts/bench/kernels.ts drives them): the body pipeline's hot
// loops from assembly/lib/ run `reps` times over one input in linear memory, so their
// throughput can be measured without the proxy-wasm host around them.
import { ByteBuf } from "../assembly/lib/bytes";
import { copyJsonMasked, isValidJson } from "../assembly/lib/json";
import { inflate, InflateResult, Wrapper } from "../assembly/lib/inflate";
import { crc32 } from "../assembly/lib/checksum";

/** The abort handler bench/asconfig.json names: traps, as the filter's does in effect. */
// @ts-ignore: decorator
@global function abort_proc_exit(message: string | null, fileName: string | null, line: u32, column: u32): void {
  unreachable();
}

const out = new ByteBuf(1 << 16);
const masks: Array<string> = ["password", "x-api-key"];
let input = new ArrayBuffer(0);

/** Room for an input of `n` bytes; returns where to write it. */
export function inputBuffer(n: i32): usize {
  input = new ArrayBuffer(n);
  return changetype<usize>(input);
}

/** Output of the last kernel (pointer, then length). */
export function outputPtr(): usize {
  return out.ptr;
}
export function outputLength(): i32 {
  return out.length;
}

/** copyJsonMasked with two masks (`masked`) or none; returns the output length, -1 if invalid. */
export function json(n: i32, reps: i32, masked: bool): i32 {
  const src = changetype<usize>(input);
  for (let i = 0; i < reps; i++) {
    out.clear();
    if (!copyJsonMasked(src, n, masked ? masks : null, out)) return -1;
  }
  return out.length;
}

/** isValidJson; 1 when valid. */
export function validate(n: i32, reps: i32): i32 {
  const src = changetype<usize>(input);
  let ok = 1;
  for (let i = 0; i < reps; i++) if (!isValidJson(src, n)) ok = 0;
  return ok;
}

/** gunzip (as the filter calls it, checksum included); returns the inflated length or -1. */
export function gunzip(n: i32, reps: i32): i32 {
  const src = changetype<usize>(input);
  for (let i = 0; i < reps; i++) {
    out.clear();
    if (inflate(src, n, Wrapper.Gzip, 8 << 20, out) != InflateResult.Ok) return -1;
  }
  return out.length;
}

export function crc(n: i32, reps: i32): u32 {
  const src = changetype<usize>(input);
  let c: u32 = 0;
  for (let i = 0; i < reps; i++) c = crc32(src, n);
  return c;
}
