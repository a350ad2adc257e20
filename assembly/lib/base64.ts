// Base64: standard-alphabet padded encoding for non-JSON bodies, and a tolerant decoder
// (standard or url-safe alphabet, padding optional) for JWT segments.

import { ByteBuf } from "./bytes";

// "A-Za-z0-9+/"
const ENC = memory.data<u8>([
  0x41, 0x42, 0x43, 0x44, 0x45, 0x46, 0x47, 0x48, 0x49, 0x4a, 0x4b, 0x4c, 0x4d, 0x4e, 0x4f, 0x50,
  0x51, 0x52, 0x53, 0x54, 0x55, 0x56, 0x57, 0x58, 0x59, 0x5a, 0x61, 0x62, 0x63, 0x64, 0x65, 0x66,
  0x67, 0x68, 0x69, 0x6a, 0x6b, 0x6c, 0x6d, 0x6e, 0x6f, 0x70, 0x71, 0x72, 0x73, 0x74, 0x75, 0x76,
  0x77, 0x78, 0x79, 0x7a, 0x30, 0x31, 0x32, 0x33, 0x34, 0x35, 0x36, 0x37, 0x38, 0x39, 0x2b, 0x2f,
]);

// ASCII → 6-bit value; both `+`/`-` map to 62 and `/`/`_` to 63; 0xff = not base64.
const DEC = memory.data<u8>([
  0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
  0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
  0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x3e, 0xff, 0x3e, 0xff, 0x3f,
  0x34, 0x35, 0x36, 0x37, 0x38, 0x39, 0x3a, 0x3b, 0x3c, 0x3d, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
  0xff, 0x00, 0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x07, 0x08, 0x09, 0x0a, 0x0b, 0x0c, 0x0d, 0x0e,
  0x0f, 0x10, 0x11, 0x12, 0x13, 0x14, 0x15, 0x16, 0x17, 0x18, 0x19, 0xff, 0xff, 0xff, 0xff, 0x3f,
  0xff, 0x1a, 0x1b, 0x1c, 0x1d, 0x1e, 0x1f, 0x20, 0x21, 0x22, 0x23, 0x24, 0x25, 0x26, 0x27, 0x28,
  0x29, 0x2a, 0x2b, 0x2c, 0x2d, 0x2e, 0x2f, 0x30, 0x31, 0x32, 0x33, 0xff, 0xff, 0xff, 0xff, 0xff,
]);

@inline
function enc(v: u32): u32 {
  return <u32>load<u8>(ENC + <usize>(v & 63));
}

/** Four output characters for the 24 bits in `t` (bits 23..0), as one little-endian word. */
@inline
function quad(t: u32): u32 {
  return enc(t >> 18) | (enc(t >> 12) << 8) | (enc(t >> 6) << 16) | (enc(t) << 24);
}

/** Appends the standard, padded base64 encoding of [src, src+len) to `out`. */
export function encodeBase64(src: usize, len: i32, out: ByteBuf): void {
  if (len <= 0) return;
  out.ensure(((len + 2) / 3) << 2);
  let w = out.ptr + <usize>out.length;
  let p = src;
  const end = src + <usize>len;
  // Whole 4-byte loads (one byte past the triple) while that stays inside the input.
  while (p + 4 <= end) {
    store<u32>(w, quad(bswap(load<u32>(p)) >> 8));
    p += 3;
    w += 4;
  }
  while (p + 3 <= end) {
    store<u32>(w, quad((<u32>load<u8>(p) << 16) | (<u32>load<u8>(p + 1) << 8) | <u32>load<u8>(p + 2)));
    p += 3;
    w += 4;
  }
  const rem = <i32>(end - p);
  if (rem == 1) {
    const t = <u32>load<u8>(p) << 16;
    store<u32>(w, enc(t >> 18) | (enc(t >> 12) << 8) | 0x3d3d0000);
    w += 4;
  } else if (rem == 2) {
    const t = (<u32>load<u8>(p) << 16) | (<u32>load<u8>(p + 1) << 8);
    store<u32>(w, enc(t >> 18) | (enc(t >> 12) << 8) | (enc(t >> 6) << 16) | 0x3d000000);
    w += 4;
  }
  out.length = <i32>(w - out.ptr);
}

@inline
function charAt(ptr: usize, i: i32): u32 {
  return <u32>load<u8>(ptr + <usize>i);
}

@inline
function isSpace(c: u32): bool {
  return c == 0x20 || c - 0x09 < 5; // space, \t \n \v \f \r
}

@inline
function dec(c: u32): u32 {
  return c < 0x80 ? <u32>load<u8>(DEC + <usize>c) : 0xff;
}

/**
 * Appends the decoding of `len` bytes at `ptr`
 * to `out`; false (and `out` as it was) when it is not base64.
 */
function decodeInto(ptr: usize, len: i32, out: ByteBuf): bool {
  let start = 0;
  let end = len;
  while (start < end && isSpace(charAt(ptr, start))) start++;
  while (end > start && isSpace(charAt(ptr, end - 1))) end--;
  let pad = 0;
  while (end > start && charAt(ptr, end - 1) == 0x3d) {
    end--;
    pad++;
  }
  const n = end - start;
  if (pad > 2 || (n & 3) == 1 || (pad > 0 && ((n + pad) & 3) != 0)) return false;
  const size = (n * 3) >> 2;
  out.ensure(size);
  let w = out.ptr + <usize>out.length;
  let i = start;
  const whole = start + (n & ~3);
  while (i < whole) {
    const a = dec(charAt(ptr, i));
    const b = dec(charAt(ptr, i + 1));
    const c = dec(charAt(ptr, i + 2));
    const d = dec(charAt(ptr, i + 3));
    if ((a | b | c | d) & 0x80) return false;
    const t = (a << 18) | (b << 12) | (c << 6) | d;
    store<u8>(w, <u8>(t >> 16));
    store<u8>(w + 1, <u8>(t >> 8));
    store<u8>(w + 2, <u8>t);
    w += 3;
    i += 4;
  }
  const rem = end - i;
  if (rem >= 2) {
    const a = dec(charAt(ptr, i));
    const b = dec(charAt(ptr, i + 1));
    const c = rem == 3 ? dec(charAt(ptr, i + 2)) : 0;
    if ((a | b | c) & 0x80) return false;
    const t = (a << 18) | (b << 12) | (c << 6);
    store<u8>(w, <u8>(t >> 16));
    if (rem == 3) store<u8>(w + 1, <u8>(t >> 8));
  }
  out.length += size;
  return true;
}

/**
 * Appends the decoding of `len` bytes at `src` to `out`: the standard or url-safe alphabet,
 * padded or not, surrounding whitespace ignored. False (and `out` unchanged) on any other
 * character or a length that cannot be base64.
 */
export function decodeBase64BytesInto(src: usize, len: i32, out: ByteBuf): bool {
  return len >= 0 && decodeInto(src, len, out);
}
