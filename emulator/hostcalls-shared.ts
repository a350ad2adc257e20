// Host functions over state shared by all workers: the shm_kv store (get/set with cas),
// shm_queue queues and metrics (Kong >= 3.8; before that they are NYI stubs, see hostcalls.ts).

import { Result } from "./abi.js";
import { EMPTY } from "./bytes.js";
import { crc32 } from "./crc32.js";
import { bad, kindTrap } from "./errors.js";
import type { Guest } from "./guest.js";
import type { Runtime } from "./lifecycle.js";
import type { WorkerState } from "./worker.js";

export function sharedCalls(rt: Runtime, w: WorkerState, g: Guest): Record<string, (...a: never[]) => unknown> {
  const { view, slice, out, u32, give, giveOut, text, ctxId } = g;
  const metricOp =
    (kind: "increment" | "record") =>
    (id: number, v: bigint): number => {
      const m = rt.metrics.get(id >>> 0);
      if (!m) return Result.NotFound;
      // Counters only increment; gauges take both; histograms only record (last value kept).
      if (kind === "increment") {
        if (m.type === 2) return Result.BadArgument;
        m.value += v;
      } else {
        if (m.type === 0) return Result.BadArgument;
        m.value = v;
      }
      return Result.Ok;
    };
  const calls: Record<string, (...a: number[]) => number> = {
    proxy_get_shared_data: (kptr, klen, ptrPtr, lenPtr, casPtr) => {
      // The key's bytes in place: zones hash them (crc32) without a string.
      const key = view(kptr, klen) ?? EMPTY;
      const pp = out(ptrPtr);
      const lp = out(lenPtr);
      const cp = out(casPtr);
      const zone = rt.kv.resolve(key);
      if (zone === "queue") throw bad("attempt to get key/value from a queue");
      if (!zone) throw bad("failed getting value from shm (could not resolve namespace)");
      const e = zone.get(key);
      if (!e) return Result.NotFound;
      const p = give(e.value);
      if (typeof p !== "number") throw kindTrap("internal error", "failed getting value from shm (no memory)");
      u32(pp, p);
      u32(lp, e.value.length);
      u32(cp, e.cas);
      return Result.Ok;
    },
    proxy_set_shared_data: (kptr, klen, vptr, vlen, cas) => {
      const key = view(kptr, klen) ?? EMPTY;
      // The zone copies the value (and a new key) into its own storage before returning.
      const value = view(vptr, vlen);
      const zone = rt.kv.resolve(key);
      if (zone === "queue") throw bad("attempt to set key/value in a queue");
      if (!zone) throw bad("failed setting value to shm (could not resolve namespace)");
      const r = zone.set(key, value === null ? null : value, cas >>> 0);
      if (r === "no_memory") {
        rt.hostLog(
          w,
          "critical",
          ctxId(),
          `[wasm] "${zone.name}" shm store: no memory; cannot allocate pair with key size ${key.length} ` +
            `and value size ${value?.length ?? 0}`,
        );
        throw kindTrap("internal error", "failed setting value to shm (could not write to slab)");
      }
      return r === "ok" ? Result.Ok : Result.CasMismatch;
    },
    proxy_register_shared_queue: (nptr, nlen, tokenPtr) => {
      const name = text(slice(nptr, nlen));
      const tp = out(tokenPtr);
      const t = rt.kv.queueToken(name);
      if (t === null) throw bad("could not find queue");
      if (t === "kv") throw bad("attempt to use a key/value store as a queue");
      u32(tp, t);
      return Result.Ok;
    },
    proxy_enqueue_shared_queue: (token, ptr, len) => {
      const data = slice(ptr, len) ?? EMPTY;
      const q = rt.kv.queue(token >>> 0);
      if (q === null) throw bad("could not find queue");
      if (q === "kv") throw bad("attempt to use a key/value store as a queue");
      if (!q.push(data)) throw kindTrap("internal error", "could not enqueue (queue is full)");
      return Result.Ok;
    },
    proxy_dequeue_shared_queue: (token, ptrPtr, lenPtr) => {
      const pp = out(ptrPtr);
      const lp = out(lenPtr);
      const q = rt.kv.queue(token >>> 0);
      if (q === null) throw bad("could not find queue");
      if (q === "kv") throw bad("attempt to use a key/value store as a queue");
      const item = q.pop();
      if (!item) return Result.Empty;
      return giveOut(item, pp, lp);
    },
    proxy_define_metric: (type, nptr, nlen, idPtr) => {
      const name = text(slice(nptr, nlen));
      const ip = out(idPtr);
      if (type < 0 || type > 2) return Result.BadArgument;
      let id = crc32(`${type}:${name}`);
      if (!rt.metrics.has(id)) rt.metrics.set(id, { name, type, value: 0n });
      else id = [...rt.metrics.entries()].find(([, m]) => m.name === name && m.type === type)?.[0] ?? id;
      u32(ip, id);
      return Result.Ok;
    },
    proxy_get_metric: (id, resPtr) => {
      const rp = out(resPtr, 8, 8);
      const m = rt.metrics.get(id >>> 0);
      if (!m || m.type === 2) return Result.NotFound;
      new DataView(w.ex!.memory.buffer).setBigUint64(rp, BigInt.asUintN(64, m.value), true);
      return Result.Ok;
    },
  };
  return { ...calls, proxy_increment_metric: metricOp("increment"), proxy_record_metric: metricOp("record") };
}
