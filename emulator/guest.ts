// A worker's view of the filter's linear memory for host functions, as the engine checks it:
// slices bounds-checked (NULL only with length 0), u32 out-params non-NULL, in bounds and
// aligned, values handed over in buffers from the filter's malloc. Closures, made once per
// instance, so that host calls neither allocate nor dispatch through a prototype.

import { Result } from "./abi.js";
import { copyOf } from "./bytes.js";
import { bad, WorkerCrash } from "./errors.js";
import { writeUtf8 } from "./headers.js";
import type { HttpCtx } from "./http-context.js";
import type { Runtime } from "./lifecycle.js";
import type { Frame, WorkerState } from "./worker.js";

const dec = new TextDecoder();

export interface Guest {
  /** Where the filter is calling from. */
  frame(): Frame;
  memSize(): number;
  /** The filter's bytes [ptr, ptr+len) in place: only for data used before the call returns or mallocs. */
  view(ptr: number, len: number): Uint8Array | null;
  /** Like view, as the host's own copy. */
  slice(ptr: number, len: number): Uint8Array | null;
  /** A checked out-param pointer. */
  out(ptr: number, align?: number, size?: number): number;
  u32(ptr: number, v: number): void;
  /** `n` bytes malloc'd in the filter: the pointer, or the result to return. */
  alloc(n: number): number | { rc: number };
  /** Copy into a fresh malloc'd buffer; returns the pointer or a result code. */
  give(data: Uint8Array): number | { rc: number };
  /** give, then the pointer and length into the out-params. */
  giveOut(data: Uint8Array, ptrPtr: number, lenPtr: number): number;
  text(b: Uint8Array | null): string;
  /** Text of [ptr, ptr+len) read in place (checked like `view`). */
  textAt(ptr: number, len: number): string;
  /** A string's UTF-8 bytes into a fresh malloc'd buffer (no intermediate array). */
  giveTextOut(s: string, ptrPtr: number, lenPtr: number): number;
  /** The calling context's id (0 for root contexts). */
  ctxId(): number;
  /** The request context, or the worker crash a NULL one means in the engine. */
  requestCtx(what: string): HttpCtx;
}

export function guest(rt: Runtime, w: WorkerState): Guest {
  const frame = (): Frame => w.frame ?? { phase: "init", ctx: null, call: null };
  const memSize = (): number => w.mem.byteLength;
  const view = (ptr: number, len: number): Uint8Array | null => {
    ptr >>>= 0;
    len >>>= 0;
    if (ptr === 0) {
      if (len !== 0) throw bad("invalid slice pointer passed to host function");
      return null;
    }
    if (ptr + len > memSize()) throw bad("invalid slice pointer passed to host function");
    return w.mem.subarray(ptr, ptr + len);
  };
  const slice = (ptr: number, len: number): Uint8Array | null => {
    const v = view(ptr, len);
    return v === null ? null : copyOf(v);
  };
  const out = (ptr: number, align = 4, size = 4): number => {
    ptr >>>= 0;
    if (ptr === 0 || ptr + size > memSize() || ptr % align !== 0) {
      throw bad("invalid data pointer passed to host function");
    }
    return ptr;
  };
  const u32 = (ptr: number, v: number): void => w.memView.setUint32(ptr, v >>> 0, true);
  const alloc = (n: number): number | { rc: number } => {
    const p = w.ex!.malloc(n) >>> 0;
    if (p === 0) {
      rt.hostLog(w, "critical", frame().ctx?.id ?? 0, `[proxy-wasm] proxy_wasm_alloc(${n}) failed`);
      return { rc: Result.InternalFailure };
    }
    if (p + n > memSize()) return { rc: Result.InvalidMemoryAccess };
    return p;
  };
  const give = (data: Uint8Array): number | { rc: number } => {
    const p = alloc(data.length);
    if (typeof p === "number") w.mem.set(data, p);
    return p;
  };
  const giveOut = (data: Uint8Array, ptrPtr: number, lenPtr: number): number => {
    const p = give(data);
    if (typeof p !== "number") return p.rc;
    u32(ptrPtr, p);
    u32(lenPtr, data.length);
    return Result.Ok;
  };
  const text = (b: Uint8Array | null): string => (b ? dec.decode(b) : "");
  const textAt = (ptr: number, len: number): string => {
    const b = view(ptr, len);
    return b ? w.memBuf.toString("utf8", b.byteOffset, b.byteOffset + b.length) : "";
  };
  const giveTextOut = (s: string, ptrPtr: number, lenPtr: number): number => {
    const n = Buffer.byteLength(s);
    const p = alloc(n);
    if (typeof p !== "number") return p.rc;
    writeUtf8(w.memBuf, s, p);
    u32(ptrPtr, p);
    u32(lenPtr, n);
    return Result.Ok;
  };
  const ctxId = (): number => frame().ctx?.id ?? 0;
  const requestCtx = (what: string): HttpCtx => {
    const c = frame().ctx;
    if (!c) throw new WorkerCrash(`SIGSEGV: ${what} outside of a request (NULL request context)`);
    return c;
  };
  return { frame, memSize, view, slice, out, u32, alloc, give, giveOut, text, textAt, giveTextOut, ctxId, requestCtx };
}
