// Time sources: a virtual clock (deterministic; time moves only in advance()) and the
// real clock (setTimeout) for the local runner.

export interface Timer {
  at: number;
  cancelled: boolean;
}

export interface Clock {
  readonly virtual: boolean;
  now(): number;
  schedule(delayMs: number, fn: () => void | Promise<void>): Timer;
  cancel(t: Timer): void;
  stop(): void;
}

interface VTimer extends Timer {
  seq: number;
  fn: () => void | Promise<void>;
}

export class VirtualClock implements Clock {
  readonly virtual = true;
  private t: number;
  private seq = 0;
  private timers: VTimer[] = [];

  constructor(start: number) {
    this.t = start;
  }

  now(): number {
    return this.t;
  }

  schedule(delayMs: number, fn: () => void | Promise<void>): Timer {
    const timer: VTimer = { at: this.t + Math.max(0, delayMs), cancelled: false, seq: this.seq++, fn };
    this.timers.push(timer);
    return timer;
  }

  cancel(t: Timer): void {
    t.cancelled = true;
  }

  /** Fire due timers in (time, creation) order; `between` runs after each one. */
  async advance(ms: number, between: () => Promise<void>): Promise<void> {
    const target = this.t + ms;
    for (;;) {
      this.timers = this.timers.filter((x) => !x.cancelled);
      let next: VTimer | undefined;
      for (const x of this.timers) {
        if (x.at <= target && (!next || x.at < next.at || (x.at === next.at && x.seq < next.seq))) next = x;
      }
      if (!next) break;
      next.cancelled = true;
      this.t = Math.max(this.t, next.at);
      await next.fn();
      await between();
    }
    this.t = target;
  }

  stop(): void {
    this.timers = [];
  }
}

export class RealClock implements Clock {
  readonly virtual = false;
  private handles = new Map<Timer, NodeJS.Timeout>();

  now(): number {
    return Date.now();
  }

  schedule(delayMs: number, fn: () => void | Promise<void>): Timer {
    const timer: Timer = { at: Date.now() + delayMs, cancelled: false };
    const h = setTimeout(() => {
      this.handles.delete(timer);
      if (!timer.cancelled) void fn();
    }, Math.max(0, delayMs));
    this.handles.set(timer, h);
    return timer;
  }

  cancel(t: Timer): void {
    t.cancelled = true;
    const h = this.handles.get(t);
    if (h) clearTimeout(h);
    this.handles.delete(t);
  }

  stop(): void {
    for (const h of this.handles.values()) clearTimeout(h);
    this.handles.clear();
  }
}
