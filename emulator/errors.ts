// Error types thrown through Wasm frames by host functions. A JS exception thrown by an
// import unwinds the Wasm stack unchanged, so the host tells them apart with instanceof.

import type { DispatchFailure } from "./gateway.js";

/** A host function refused the call: the engine turns it into a Wasm trap. */
export class HostTrap extends Error {
  constructor(message: string) {
    super(message);
    this.name = "HostTrap";
  }
}

/** The real engine would SIGSEGV (or otherwise kill) the worker process here. */
export class WorkerCrash extends Error {
  constructor(message: string) {
    super(message);
    this.name = "WorkerCrash";
  }
}

/** WASI proc_exit: the instance stops, which the engine handles like a trap. */
export class WasiExit extends Error {
  constructor(readonly code: number) {
    super(`proc_exit(${code})`);
    this.name = "WasiExit";
  }
}

/** Thrown by an in-process dispatch handler to simulate a failed dispatch. */
export class DispatchError extends Error {
  constructor(readonly status: DispatchFailure, message?: string) {
    super(message ?? status);
    this.name = "DispatchError";
  }
}

/** A host trap of `kind` ("bad usage", "internal error", ...), as the engine's trap line names it. */
export function kindTrap(kind: string, msg: string): HostTrap {
  const t = new HostTrap(msg);
  (t as HostTrap & { kind: string }).kind = kind;
  return t;
}

/** The usual host trap: the filter called a host function wrongly. */
export function bad(msg: string): HostTrap {
  return kindTrap("bad usage", msg);
}

export function trapKind(e: HostTrap): string {
  return (e as HostTrap & { kind?: string }).kind ?? "bad usage";
}
