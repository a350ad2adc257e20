// Per-worker state (one nginx worker process: its instance, counters, tick chains, in-flight
// dispatches) and the call frame host functions read to know where the filter called from.

import { EMPTY } from "./bytes.js";
import type { Timer } from "./clock.js";
import type { Pairs } from "./headers.js";
import type { HttpCtx } from "./http-context.js";
import type { WireCall } from "./wire.js";

export type Phase =
  | "init"
  | "context_create"
  | "vm_start"
  | "configure"
  | "tick"
  | "request_headers"
  | "request_body"
  | "response_headers"
  | "response_body"
  | "done"
  | "log"
  | "delete"
  | "http_call_response";

export const ON_EXPORTS = [
  "proxy_on_context_create",
  "proxy_on_vm_start",
  "proxy_on_configure",
  "proxy_on_tick",
  "proxy_on_request_headers",
  "proxy_on_request_body",
  "proxy_on_response_headers",
  "proxy_on_response_body",
  "proxy_on_done",
  "proxy_on_log",
  "proxy_on_delete",
  "proxy_on_http_call_response",
] as const;
export type OnExport = (typeof ON_EXPORTS)[number];

/** How a call into the filter ended: its return value, a trap (instance recycled later) or a worker crash. */
export type CallOutcome = { ok: true; value: number } | { ok: false; kind: "trap" | "crash" };

/** Where the filter is: the phase, its request context (null in root contexts), the dispatch being answered. */
export interface Frame {
  phase: Phase;
  ctx: HttpCtx | null;
  call: DispatchCall | null;
  /** A tick of a chain armed before the root was re-created by a request (see rootFromRequest). */
  staleTick?: boolean;
}

/** A dispatch in flight, from proxy_http_call to its callback. */
export interface DispatchCall {
  token: number;
  worker: WorkerState;
  life: number;
  ctx: HttpCtx | null;
  target: string;
  /** Response map handed to the callback (pseudo headers first). */
  map: Pairs;
  body: Uint8Array;
  cancelled: boolean;
  timer: Timer | null;
  wire: WireCall | null;
  done: Promise<void>;
  /** Gives a pooled request body back (wire requests). */
  release?: () => void;
  /** Bytes of the request body (what the engine copies into the call's fake connection). */
  sentBytes: number;
}

/** One tick timer chain: re-armed after each on_tick while its worker lives. */
export interface TickChain {
  life: number;
  timer: Timer | null;
  /** The root generation that armed it (WorkerState.rootGen). */
  root: number;
}

export interface FilterExports {
  memory: WebAssembly.Memory;
  malloc: (size: number) => number;
  call: Record<OnExport, ((...args: number[]) => number | undefined) | undefined>;
  init?: () => void;
}

export class WorkerState {
  instance: WebAssembly.Instance | null = null;
  ex: FilterExports | null = null;
  life = 0;
  /** A respawned worker is booting: a crash now means the respawn itself failed. */
  respawning = false;
  trapped = false;
  /** The root context was re-created lazily by a request after a trap. The engine then ties
   *  it to that request's context: ticks of the chains armed before (they run the old root's
   *  step) cannot dispatch, until a tick recycles the instance; the new root's own chain can. */
  rootFromRequest = false;
  /** Counts root re-creations; tick chains remember the one that armed them. */
  rootGen = 0;
  dead = false;
  ctxCounter = 0;
  tokenCounter = 0;
  tickPeriod = 0;
  readonly chains = new Set<TickChain>();
  frame: Frame | null = null;
  pendingCrash: string | null = null;
  readonly calls = new Set<DispatchCall>();
  tickOrigin = new WeakSet<DispatchCall>();

  constructor(readonly index: number) {}

  private viewOf: ArrayBuffer | null = null;
  private viewMemory: WebAssembly.Memory | null = null;
  private u8: Uint8Array = EMPTY;
  private buf: Buffer = Buffer.alloc(0);
  private dv: DataView = new DataView(new ArrayBuffer(0));

  /**
   * Views of linear memory, made again only when it grew: growing detaches the old buffer
   * (its byteLength becomes 0), which is cheaper to test than reading memory.buffer.
   */
  private refresh(): void {
    if (this.viewOf !== null && this.viewOf.byteLength !== 0 && this.viewMemory === this.ex!.memory) return;
    const b = this.ex!.memory.buffer;
    this.viewMemory = this.ex!.memory;
    this.viewOf = b;
    this.u8 = new Uint8Array(b);
    this.buf = Buffer.from(b);
    this.dv = new DataView(b);
  }

  get mem(): Uint8Array {
    this.refresh();
    return this.u8;
  }

  /** The same memory as a Buffer, for writing strings in place. */
  get memBuf(): Buffer {
    this.refresh();
    return this.buf;
  }

  get memView(): DataView {
    this.refresh();
    return this.dv;
  }
}
