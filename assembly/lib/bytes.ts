// A growable byte buffer. Encoders write into one reused ByteBuf instead of building
// strings, so the per-request path allocates only when a buffer has to grow.
import { Utf8, utf8Bytes, utf8Length } from "./utf8";

export class ByteBuf {
  /** Start of the backing store (a pinned-free ArrayBuffer kept alive by `store`). */
  ptr: usize = 0;
  length: i32 = 0;
  capacity: i32 = 0;
  private store: ArrayBuffer = new ArrayBuffer(0);

  constructor(initialCapacity: i32 = 256) {
    this.reserve(initialCapacity);
  }

  /** Make room for `extra` more bytes. */
  @inline ensure(extra: i32): void {
    if (this.length + extra > this.capacity) this.grow(this.length + extra);
  }

  reserve(capacity: i32): void {
    if (capacity > this.capacity) this.grow(capacity);
  }

  private grow(needed: i32): void {
    let cap = this.capacity < 64 ? 64 : this.capacity;
    while (cap < needed) cap = cap << 1;
    const next = uninitialized(cap);
    const nextPtr = changetype<usize>(next);
    if (this.length > 0) memory.copy(nextPtr, this.ptr, <usize>this.length);
    this.store = next;
    this.ptr = nextPtr;
    this.capacity = cap;
  }

  @inline clear(): void {
    this.length = 0;
  }

  @inline byte(b: u32): void {
    this.ensure(1);
    store<u8>(this.ptr + <usize>this.length, <u8>b);
    this.length++;
  }

  /** Append `len` bytes starting at `src`. */
  raw(src: usize, len: i32): void {
    if (len <= 0) return;
    this.ensure(len);
    memory.copy(this.ptr + <usize>this.length, src, <usize>len);
    this.length += len;
  }

  bytes(b: Uint8Array): void {
    this.raw(b.dataStart, b.length);
  }

  buffer(b: ArrayBuffer): void {
    this.raw(changetype<usize>(b), b.byteLength);
  }

  /** Append another ByteBuf's content. */
  append(other: ByteBuf): void {
    this.raw(other.ptr, other.length);
  }

  /** Append static UTF-8 text (`utf8("…")`). */
  lit(text: Utf8): void {
    const n = utf8Length(text);
    const src = utf8Bytes(text);
    // Eight bytes a step, the last step past the end (within the ensured room; static data
    // is followed by more memory): short texts cost no memory.copy call.
    this.ensure(n + 8);
    const w = this.ptr + <usize>this.length;
    for (let i = 0; i < n; i += 8) store<u64>(w + <usize>i, load<u64>(src + <usize>i));
    this.length += n;
  }

  /** Append a string as UTF-8 (ASCII fast path, surrogates as in String.UTF8). */
  str(s: string): void {
    const n = s.length;
    this.ensure(n);
    const p = changetype<usize>(s);
    const w = this.ptr + <usize>this.length;
    let i = 0;
    // Four ASCII units per step: one u64 load packed into one u32 store.
    for (; i + 4 <= n; i += 4) {
      const x = load<u64>(p + (<usize>i << 1));
      if (x & 0xff80ff80ff80ff80) break;
      store<u32>(w + <usize>i, <u32>(x & 0xff) | <u32>((x >> 8) & 0xff00) | <u32>((x >> 16) & 0xff0000) | <u32>((x >> 24) & 0xff000000));
    }
    for (; i < n; i++) {
      const c = <u32>load<u16>(p + (<usize>i << 1));
      if (c >= 0x80) break;
      store<u8>(w + <usize>i, <u8>c);
    }
    this.length += i;
    if (i < n) {
      const rest = String.UTF8.encode(s.substring(i));
      this.buffer(rest);
    }
  }

  /** Append an unsigned decimal number. */
  uint(v: u64): void {
    if (v == 0) {
      this.byte(0x30);
      return;
    }
    let digits = 0;
    let t = v;
    while (t > 0) {
      digits++;
      t /= 10;
    }
    this.ensure(digits);
    let pos = this.ptr + <usize>(this.length + digits - 1);
    while (v > 0) {
      store<u8>(pos, <u8>(0x30 + <u32>(v % 10)));
      v /= 10;
      pos--;
    }
    this.length += digits;
  }

  int(v: i64): void {
    if (v < 0) {
      this.byte(0x2d);
      this.uint(<u64>(-v));
    } else {
      this.uint(<u64>v);
    }
  }

  @inline at(i: i32): u8 {
    return load<u8>(this.ptr + <usize>i);
  }

  /** Copy of the content as a fresh ArrayBuffer. */
  toArrayBuffer(): ArrayBuffer {
    const out = new ArrayBuffer(this.length);
    memory.copy(changetype<usize>(out), this.ptr, <usize>this.length);
    return out;
  }

  toUint8Array(): Uint8Array {
    const out = new Uint8Array(this.length);
    memory.copy(out.dataStart, this.ptr, <usize>this.length);
    return out;
  }

  /** Decode the content as UTF-8 (for tests and small values). */
  toString(): string {
    return String.UTF8.decodeUnsafe(this.ptr, <usize>this.length);
  }

  /** Drop a large backing store after an unusually big use, so memory stays flat. */
  shrinkTo(capacity: i32): void {
    if (this.capacity > capacity) {
      const next = uninitialized(capacity);
      if (this.length > capacity) this.length = 0;
      else memory.copy(changetype<usize>(next), this.ptr, <usize>this.length);
      this.store = next;
      this.ptr = changetype<usize>(next);
      this.capacity = capacity;
    }
  }
}

/**
 * A backing store without `new ArrayBuffer`'s zero-fill: a ByteBuf never reads past its
 * length, and zeroing large buffers was a visible share of the worker (memset) for big bodies.
 */
@inline function uninitialized(size: i32): ArrayBuffer {
  return changetype<ArrayBuffer>(__new(<usize>size, idof<ArrayBuffer>()));
}

/**
 * `s` with A–Z lowered. For header names and media types, which are ASCII tokens: unlike
 * String#toLowerCase it needs no Unicode case tables in the module.
 */
export function asciiLower(s: string): string {
  const n = s.length;
  let i = 0;
  while (i < n && !isUpperAscii(s.charCodeAt(i))) i++;
  if (i == n) return s;
  const out = changetype<string>(__new(<usize>n << 1, idof<string>()));
  memory.copy(changetype<usize>(out), changetype<usize>(s), <usize>n << 1);
  for (; i < n; i++) {
    const c = load<u16>(changetype<usize>(out) + (<usize>i << 1));
    if (isUpperAscii(c)) store<u16>(changetype<usize>(out) + (<usize>i << 1), c + 32);
  }
  return out;
}

/**
 * The decimal number at the start of `s[from..]` (0 when no digit is there), saturating at
 * i32.MAX_VALUE. For host-written digits (HTTP statuses, ports, version parts): unlike
 * I32.parseInt, no whitespace, sign or radix prefix, and no strtol in the module.
 */
export function leadingDecimal(s: string, from: i32 = 0): i32 {
  let v = 0;
  for (let i = from, n = s.length; i < n; i++) {
    const d = <u32>s.charCodeAt(i) - 0x30;
    if (d > 9) break;
    v = v > 214748363 ? i32.MAX_VALUE : v * 10 + <i32>d;
  }
  return v;
}

@inline function isUpperAscii(c: i32): bool {
  return c >= 0x41 && c <= 0x5a;
}
