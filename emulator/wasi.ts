// WASI preview1 as ngx_wasm_module's V8 build provides it: no args or environment, the host
// clock, stdout/stderr as log lines, random bytes, proc_exit as a trap, no files.

import { randomFillSync } from "node:crypto";
import { concat } from "./bytes.js";
import { WasiExit } from "./errors.js";
import type { Guest } from "./guest.js";
import type { Runtime } from "./lifecycle.js";
import type { WorkerState } from "./worker.js";

const BADF = 8;
const dec = new TextDecoder();

export function wasiCalls(rt: Runtime, w: WorkerState, g: Guest): Record<string, (...a: never[]) => unknown> {
  const { view, slice, out, u32, ctxId } = g;
  return {
    args_get: () => 0,
    args_sizes_get: (a: number, b: number) => {
      u32(out(a), 0);
      u32(out(b), 0);
      return 0;
    },
    environ_get: () => 0,
    environ_sizes_get: (a: number, b: number) => {
      u32(out(a), 0);
      u32(out(b), 0);
      return 0;
    },
    clock_time_get: (_id: number, _precision: bigint, ptr: number) => {
      const p = out(ptr, 1, 8);
      new DataView(w.ex!.memory.buffer).setBigUint64(p, BigInt(Math.floor(rt.clock.now())) * 1_000_000n, true);
      return 0;
    },
    fd_write: (fd: number, iovs: number, n: number, nwritten: number) => {
      if (fd !== 1 && fd !== 2) return BADF;
      const dv = new DataView(w.ex!.memory.buffer);
      const parts: Uint8Array[] = [];
      for (let i = 0; i < n >>> 0; i++) {
        const base = out(iovs + i * 8, 4, 8);
        const b = slice(dv.getUint32(base, true), dv.getUint32(base + 4, true));
        if (b) parts.push(b);
      }
      const all = concat(parts);
      u32(out(nwritten), all.length);
      rt.emit({
        level: fd === 1 ? "info" : "error",
        worker: w.index,
        context: ctxId(),
        message: dec.decode(all).replace(/\n$/, ""),
        source: "filter",
      });
      return 0;
    },
    proc_exit: (code: number) => {
      throw new WasiExit(code);
    },
    random_get: (ptr: number, len: number) => {
      const b = view(ptr, len);
      if (b) randomFillSync(b);
      return 0;
    },
    sched_yield: () => 0,
    fd_close: () => BADF,
    fd_fdstat_get: () => BADF,
    fd_fdstat_set_flags: () => BADF,
    fd_prestat_get: () => BADF,
    fd_prestat_dir_name: () => BADF,
    fd_read: () => BADF,
    fd_seek: () => BADF,
    path_open: () => 54,
    poll_oneoff: () => 58,
  };
}
