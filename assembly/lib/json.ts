// Byte-level JSON: strict validation (RFC 8259) and byte-exact copying of bodies with
// masked object members removed. No DOM and no allocation per value: bodies are copied
// as sent (big integers, `[]`, escapes, spacing), which the Lua plugin's decode/re-encode
// round trip could not do (reference/moesif.md §2 "Body encoding").

import { ByteBuf } from "./bytes";

/** Deepest container nesting accepted; deeper input is treated as invalid JSON. */
export const JSON_MAX_DEPTH: i32 = 128;

// Per-depth parser state in static memory (index = depth, 1-based), so the iterative
// parser needs neither recursion nor heap allocation.
const KIND = memory.data(JSON_MAX_DEPTH + 1); // 1 = object, 0 = array
const KEPT = memory.data(JSON_MAX_DEPTH + 1); // masking: a member of this object was kept
const MASKED = memory.data(JSON_MAX_DEPTH + 1); // masking: current member is being removed
const COMMA = memory.data((JSON_MAX_DEPTH + 1) << 2, 4); // masking: comma before the member (0 = none)
const KEY = memory.data((JSON_MAX_DEPTH + 1) << 2, 4); // masking: opening quote of the member's key

const HEX = memory.data<u8>([
  0x30, 0x31, 0x32, 0x33, 0x34, 0x35, 0x36, 0x37, 0x38, 0x39, 0x61, 0x62, 0x63, 0x64, 0x65, 0x66,
]);


// Results of the last scan (globals instead of an allocated result object).
let valueStart: usize = 0;
let valueEnd: usize = 0;
let stringPlain: bool = true;

/** Whether the string scanned last by scanJsonString had neither escapes nor non-ASCII bytes. */
export function lastJsonStringPlain(): bool {
  return stringPlain;
}

/** JSON whitespace (space, \t, \n, \r); the common non-space byte costs one compare. */
@inline
function isWs(c: u32): bool {
  return c <= 0x20 && ((<u64>0x100002600 >> <u64>c) & 1) != 0;
}

@inline
function isDigit(c: u32): bool {
  return c - 0x30 < 10;
}

@inline
function isHex(c: u32): bool {
  return c - 0x30 < 10 || (c | 0x20) - 0x61 < 6;
}

/** First position at or after `p` that is not JSON whitespace. */
@inline
export function skipJsonWs(p: usize, end: usize): usize {
  // Compact JSON has no whitespace: any byte above 0x20 ends the skip in one compare.
  if (p < end && load<u8>(p) > 0x20) return p;
  return skipWsRun(p, end);
}

// JSON whitespace by low nibble: byte b is whitespace iff WS_BY_NIBBLE[b & 15] == b.
const WS_BY_NIBBLE = v128(0x20, -1, -1, -1, -1, -1, -1, -1, -1, 0x09, 0x0a, -1, -1, 0x0d, -1, -1);

/** skipJsonWs past its first byte: one space, or indentation 16 bytes at a time. */
function skipWsRun(p: usize, end: usize): usize {
  if (p + 1 < end && load<u8>(p + 1) > 0x20 && isWs(<u32>load<u8>(p))) return p + 1;
  while (p + 16 <= end) {
    const v = v128.load(p);
    const ws = i8x16.eq(i8x16.swizzle(WS_BY_NIBBLE, v128.and(v, i8x16.splat(0x0f))), v);
    const other = ~i8x16.bitmask(ws) & 0xffff;
    if (other != 0) return p + <usize>ctz(other);
    p += 16;
  }
  while (p < end && isWs(<u32>load<u8>(p))) p++;
  return p;
}

/**
 * Checks the UTF-8 sequence starting at `p` (whose first byte is >= 0x80). Returns its
 * length when well-formed (no overlongs, no surrogates, <= U+10FFFF), otherwise
 * -(length of the maximal ill-formed prefix), which is what one U+FFFD replaces.
 */
export function utf8Sequence(p: usize, end: usize): i32 {
  const c = <u32>load<u8>(p);
  let need: i32;
  let lo: u32 = 0x80;
  let hi: u32 = 0xbf;
  if (c < 0xc2) return -1;
  if (c < 0xe0) {
    need = 1;
  } else if (c < 0xf0) {
    need = 2;
    if (c == 0xe0) lo = 0xa0;
    else if (c == 0xed) hi = 0x9f;
  } else if (c < 0xf5) {
    need = 3;
    if (c == 0xf0) lo = 0x90;
    else if (c == 0xf4) hi = 0x8f;
  } else {
    return -1;
  }
  for (let i = 1; i <= need; i++) {
    if (p + <usize>i >= end) return -i;
    const b = <u32>load<u8>(p + <usize>i);
    if (b < lo || b > hi) return -i;
    lo = 0x80;
    hi = 0xbf;
  }
  return need + 1;
}

/**
 * Flags (high bit per byte) the bytes of a little-endian word that are `"`, `\`, a control
 * character or non-ASCII; 0 when the 8 bytes can be copied into a JSON string as they are.
 * The lowest flagged byte is exact (borrows only propagate upwards).
 */
@inline
function plainWord(x: u64): u64 {
  const q = x ^ 0x2222222222222222;
  const b = x ^ 0x5c5c5c5c5c5c5c5c;
  return (
    (((x - 0x2020202020202020) & ~x) | ((q - 0x0101010101010101) & ~q) | ((b - 0x0101010101010101) & ~b) | x) &
    0x8080808080808080
  );
}

/** Bit i set when byte i of `v` is `"`, `\`, a control character or non-ASCII (signed < 0x20). */
@inline
function stringStops(v: v128): i32 {
  return i8x16.bitmask(
    v128.or(v128.or(i8x16.eq(v, i8x16.splat(0x22)), i8x16.eq(v, i8x16.splat(0x5c))), i8x16.lt_s(v, i8x16.splat(0x20))),
  );
}

/**
 * scanJsonString for the common case, inlined where strings are read: a string whose closing
 * quote is among its first 16 bytes and that has nothing to check before it.
 */
@inline
function quickJsonString(p: usize, end: usize): usize {
  if (p + 16 <= end) {
    const v = v128.load(p);
    const quotes = i8x16.eq(v, i8x16.splat(0x22));
    const m = i8x16.bitmask(
      v128.or(v128.or(quotes, i8x16.eq(v, i8x16.splat(0x5c))), i8x16.lt_s(v, i8x16.splat(0x20))),
    );
    if (m == 0) return scanJsonString(p + 16, end); // 16 plain bytes: the rest as usual
    // The first stop is the closing quote (tested on the masks, not by reloading the byte).
    if ((m & -m & i8x16.bitmask(quotes)) != 0) {
      stringPlain = true;
      return p + <usize>ctz(m) + 1;
    }
  }
  return scanJsonString(p, end);
}

/**
 * Validates a JSON string body. `p` is the first byte after the opening quote. Returns
 * the position after the closing quote, or 0 when invalid (a real result is never 0:
 * it lies past the opening quote).
 */
export function scanJsonString(p: usize, end: usize): usize {
  let plain = true;
  while (true) {
    // Sixteen bytes at a time while none is `"`, `\`, a control char or non-ASCII, then
    // eight at a time near the end.
    while (p + 16 <= end) {
      const m = stringStops(v128.load(p));
      if (m != 0) {
        p += <usize>ctz(m);
        break;
      }
      p += 16;
    }
    if (p + 16 > end) {
      while (p + 8 <= end) {
        const t = plainWord(load<u64>(p));
        if (t != 0) {
          p += <usize>(ctz(t) >> 3);
          break;
        }
        p += 8;
      }
    }
    if (p >= end) return 0;
    const c = <u32>load<u8>(p);
    if (c == 0x22) {
      stringPlain = plain;
      return p + 1;
    }
    if (c == 0x5c) {
      plain = false;
      if (p + 1 >= end) return 0;
      const e = <u32>load<u8>(p + 1);
      if (e == 0x75) {
        if (p + 6 > end) return 0;
        if (
          !isHex(<u32>load<u8>(p + 2)) ||
          !isHex(<u32>load<u8>(p + 3)) ||
          !isHex(<u32>load<u8>(p + 4)) ||
          !isHex(<u32>load<u8>(p + 5))
        )
          return 0;
        p += 6;
      } else if (
        e == 0x22 || e == 0x5c || e == 0x2f || e == 0x62 || e == 0x66 || e == 0x6e || e == 0x72 || e == 0x74
      ) {
        p += 2;
      } else {
        return 0;
      }
    } else if (c < 0x20) {
      return 0;
    } else if (c < 0x80) {
      p++;
    } else {
      plain = false;
      const n = utf8Sequence(p, end);
      if (n < 0) return 0;
      p += <usize>n;
    }
  }
  return 0;
}

/**
 * Validates a JSON number starting at `p`; returns the position after it, or 0. A number
 * that ends within the 16 bytes at `p` is read from one mask of its non-digit bytes.
 */
export function scanJsonNumber(p: usize, end: usize): usize {
  if (p + 16 <= end) {
    const v = v128.load(p);
    // Bit i set when byte i is not a digit; bit 16 stops every digit run at the block's end.
    const nd = <u32>i8x16.bitmask(i8x16.gt_u(i8x16.sub(v, i8x16.splat(0x30)), i8x16.splat(9))) | 0x10000;
    let i = <u32>(load<u8>(p) == 0x2d);
    let k = ctz(nd >> i); // digits of the integer part
    if (k != 0 && i + k < 16) {
      if (load<u8>(p + <usize>i) == 0x30) k = 1; // a leading zero is the whole integer part
      i += k;
      let c = <u32>load<u8>(p + <usize>i);
      let ok = true;
      if (c == 0x2e) {
        k = ctz(nd >> (i + 1));
        ok = k != 0 && i + 1 + k < 16;
        i += 1 + k;
        c = <u32>load<u8>(p + <usize>(i & 15));
      }
      if (ok && (c | 0x20) == 0x65) {
        let j = i + 1;
        if (j < 16) {
          c = <u32>load<u8>(p + <usize>j);
          if (c == 0x2b || c == 0x2d) j++;
        }
        k = ctz(nd >> j);
        ok = k != 0 && j + k < 16;
        i = j + k;
      }
      if (ok) return p + <usize>i;
    }
  }
  // Near the end of the input, long numbers, and what the block could not decide.
  if (p < end && load<u8>(p) == 0x2d) p++;
  if (p >= end) return 0;
  let c = <u32>load<u8>(p);
  if (c == 0x30) {
    p++;
  } else if (c - 0x31 < 9) {
    p = digitsEnd(p + 1, end);
  } else {
    return 0;
  }
  if (p < end && load<u8>(p) == 0x2e) {
    const q = digitsEnd(p + 1, end);
    if (q == p + 1) return 0;
    p = q;
  }
  if (p < end && (<u32>load<u8>(p) | 0x20) == 0x65) {
    p++;
    if (p < end) {
      c = <u32>load<u8>(p);
      if (c == 0x2b || c == 0x2d) p++;
    }
    const q = digitsEnd(p, end);
    if (q == p) return 0;
    p = q;
  }
  return p;
}

/** First position at or after `p` that is not a digit. */
function digitsEnd(p: usize, end: usize): usize {
  while (p + 16 <= end) {
    const v = v128.load(p);
    const nd = i8x16.bitmask(i8x16.gt_u(i8x16.sub(v, i8x16.splat(0x30)), i8x16.splat(9)));
    if (nd != 0) return p + <usize>ctz(nd);
    p += 16;
  }
  while (p < end && isDigit(<u32>load<u8>(p))) p++;
  return p;
}

/** Validates `true`, `false` or `null` at `p`; returns the position after it, or 0. */
export function scanJsonLiteral(p: usize, end: usize): usize {
  if (p + 4 > end) return 0;
  const w = load<u32>(p);
  if (w == 0x65757274 || w == 0x6c6c756e) return p + 4; // "true", "null"
  if (w == 0x736c6166 && p + 5 <= end && load<u8>(p + 4) == 0x65) return p + 5; // "false"
  return 0;
}

@inline
function hexValue(c: u32): u32 {
  return c <= 0x39 ? c - 0x30 : (c | 0x20) - 0x61 + 10;
}

/** Reads the 4 hex digits at `p` (already validated). */
/** The character of a one-letter escape `\b \f \n \r \t \" \\ \/` (by the byte after the backslash). */
// @ts-ignore: decorator
@inline export function escapedUnit(e: u32): u32 {
  if (e == 0x62) return 0x08;
  if (e == 0x66) return 0x0c;
  if (e == 0x6e) return 0x0a;
  if (e == 0x72) return 0x0d;
  if (e == 0x74) return 0x09;
  return e; // `"`, `\`, `/`
}

export function readHex4(p: usize): u32 {
  return (
    (hexValue(<u32>load<u8>(p)) << 12) |
    (hexValue(<u32>load<u8>(p + 1)) << 8) |
    (hexValue(<u32>load<u8>(p + 2)) << 4) |
    hexValue(<u32>load<u8>(p + 3))
  );
}

/** Compares a validated, escaped key body [p, end) with `m` after unescaping. */
function escapedKeyEquals(p: usize, end: usize, m: string): bool {
  const mp = changetype<usize>(m);
  const n = m.length;
  let j = 0;
  while (p < end) {
    const c = <u32>load<u8>(p);
    let unit: u32;
    let second: u32 = 0x10000; // no second unit
    if (c == 0x5c) {
      const e = <u32>load<u8>(p + 1);
      p += 2;
      if (e == 0x75) {
        unit = readHex4(p);
        p += 4;
      } else unit = escapedUnit(e);
    } else if (c < 0x80) {
      unit = c;
      p++;
    } else if (c < 0xe0) {
      unit = ((c & 0x1f) << 6) | (<u32>load<u8>(p + 1) & 0x3f);
      p += 2;
    } else if (c < 0xf0) {
      unit = ((c & 0x0f) << 12) | ((<u32>load<u8>(p + 1) & 0x3f) << 6) | (<u32>load<u8>(p + 2) & 0x3f);
      p += 3;
    } else {
      const cp =
        ((c & 0x07) << 18) |
        ((<u32>load<u8>(p + 1) & 0x3f) << 12) |
        ((<u32>load<u8>(p + 2) & 0x3f) << 6) |
        (<u32>load<u8>(p + 3) & 0x3f);
      p += 4;
      unit = 0xd800 + ((cp - 0x10000) >> 10);
      second = 0xdc00 + ((cp - 0x10000) & 0x3ff);
    }
    if (j >= n || <u32>load<u16>(mp + (<usize>j << 1)) != unit) return false;
    j++;
    if (second != 0x10000) {
      if (j >= n || <u32>load<u16>(mp + (<usize>j << 1)) != second) return false;
      j++;
    }
  }
  return j == n;
}

/** Whether the key body [p, end) (validated; `plain` = no escapes, ASCII only) is one of `masks`. */
function keyIsMasked(p: usize, end: usize, plain: bool, masks: Array<string>): bool {
  const len = <i32>(end - p);
  for (let i = 0, k = masks.length; i < k; i++) {
    const m = unchecked(masks[i]);
    if (plain) {
      if (m.length != len) continue;
      const mp = changetype<usize>(m);
      let j = 0;
      while (j < len && <u32>load<u16>(mp + (<usize>j << 1)) == <u32>load<u8>(p + <usize>j)) j++;
      if (j == len) return true;
    } else if (escapedKeyEquals(p, end, m)) {
      return true;
    }
  }
  return false;
}

// Masking state of one scan, shared by scan() and its member-key step.
let maskFrom: usize = 0; // start of the input not yet copied to the output
let maskSkipDepth: i32 = -1; // depth of the member being removed, -1 = none
let maskLengths: u64 = 0; // bit (n & 63) set when some mask is n UTF-16 units long

/**
 * Reads an object member's key and colon at `p` (after any whitespace) and returns the
 * position of its value, or 0 when invalid. When masking, a masked key starts a removal and
 * the first kept member after removed ones drops its leading comma.
 */
@inline
function memberKey(p: usize, end: usize, depth: i32, comma: usize, masks: Array<string>, out: ByteBuf | null): usize {
  if (p >= end || load<u8>(p) != 0x22) return 0;
  const key = p;
  p = quickJsonString(p + 1, end);
  if (p == 0) return 0;
  if (out !== null && maskSkipDepth < 0) {
    const plain = stringPlain;
    // Most plain keys are ruled out by their length alone, without touching the masks.
    if ((!plain || ((maskLengths >> <u64>((p - key - 2) & 63)) & 1) != 0) && keyIsMasked(key + 1, p - 1, plain, masks)) {
      store<u8>(MASKED + <usize>depth, 1);
      store<usize>(COMMA + (<usize>depth << 2), comma);
      store<usize>(KEY + (<usize>depth << 2), key);
      maskSkipDepth = depth;
    } else if (load<u8>(KEPT + <usize>depth) == 0) {
      // First kept member after removed ones: its leading comma must go.
      if (comma != 0) {
        out.raw(maskFrom, <i32>(comma - maskFrom));
        maskFrom = key;
      }
      store<u8>(KEPT + <usize>depth, 1);
    }
  }
  if (p < end && load<u8>(p) == 0x3a) return skipJsonWs(p + 1, end); // the common "key":value
  p = skipJsonWs(p, end);
  if (p >= end || load<u8>(p) != 0x3a) return 0;
  return skipJsonWs(p + 1, end);
}

/**
 * Validates [src, src+len) as one JSON value; sets valueStart/valueEnd (whitespace trimmed).
 * With `out` non-null, also copies the value to `out` without the members whose keys are
 * in `masks`. A removed member takes its preceding comma with it, or, when no earlier
 * member of that object was kept, the comma before the next kept member goes instead.
 * Each turn of the loop reads one value, then closes containers and moves past the comma
 * (and the next key) to the next value.
 */
function scan(src: usize, len: i32, masks: Array<string>, out: ByteBuf | null): bool {
  if (len <= 0) return false;
  const end = src + <usize>len;
  let p = skipJsonWs(src, end);
  if (p >= end) return false;
  valueStart = p;
  const masking = out !== null;
  let lengths: u64 = 0;
  for (let i = 0, k = masks.length; i < k; i++) lengths |= (<u64>1) << <u64>(unchecked(masks[i]).length & 63);
  maskLengths = lengths;
  maskFrom = p;
  maskSkipDepth = -1;
  let depth: i32 = 0;
  while (true) {
    // A value at p.
    if (p >= end) return false;
    const c = <u32>load<u8>(p);
    if (c == 0x22) {
      p = quickJsonString(p + 1, end);
      if (p == 0) return false;
    } else if (c == 0x7b || c == 0x5b) {
      if (depth == JSON_MAX_DEPTH) return false;
      depth++;
      const isObject = c == 0x7b;
      store<u8>(KIND + <usize>depth, <u8>isObject);
      p = skipJsonWs(p + 1, end);
      if (p >= end) return false;
      if (isObject) {
        store<u8>(KEPT + <usize>depth, 0);
        store<u8>(MASKED + <usize>depth, 0);
        if (load<u8>(p) != 0x7d) {
          p = memberKey(p, end, depth, 0, masks, out);
          if (p == 0) return false;
          continue;
        }
        p++;
        depth--;
      } else if (load<u8>(p) == 0x5d) {
        p++;
        depth--;
      } else {
        continue;
      }
    } else if (c == 0x74 || c == 0x66 || c == 0x6e) {
      p = scanJsonLiteral(p, end);
      if (p == 0) return false;
    } else {
      p = scanJsonNumber(p, end);
      if (p == 0) return false;
    }
    // After a value: close containers until a comma leads to the next value.
    while (true) {
      if (depth == 0) {
        valueEnd = p;
        if (skipJsonWs(p, end) != end) return false;
        if (masking) changetype<ByteBuf>(out).raw(maskFrom, <i32>(p - maskFrom));
        return true;
      }
      const isObject = load<u8>(KIND + <usize>depth) != 0;
      if (masking && isObject && load<u8>(MASKED + <usize>depth) != 0) {
        // The removed member's value ends at p: drop [its comma or key, p).
        const c0 = load<usize>(COMMA + (<usize>depth << 2));
        const dropFrom = c0 != 0 ? c0 : load<usize>(KEY + (<usize>depth << 2));
        changetype<ByteBuf>(out).raw(maskFrom, <i32>(dropFrom - maskFrom));
        maskFrom = p;
        store<u8>(MASKED + <usize>depth, 0);
        maskSkipDepth = -1;
      }
      p = skipJsonWs(p, end);
      if (p >= end) return false;
      const d = <u32>load<u8>(p);
      if (d == 0x2c) {
        const comma = p;
        p = skipJsonWs(p + 1, end);
        if (isObject) {
          p = memberKey(p, end, depth, comma, masks, out);
          if (p == 0) return false;
        }
        break;
      }
      if (d != (isObject ? 0x7d : 0x5d)) return false;
      p++;
      depth--;
    }
  }
  return false;
}

// Shared empty mask list for validation-only scans.
const NO_MASKS = new Array<string>(0);

/** Whether [src, src+len) is exactly one JSON value (surrounding whitespace allowed). */
export function isValidJson(src: usize, len: i32): bool {
  return scan(src, len, NO_MASKS, null);
}

/**
 * Validates [src, src+len) as one JSON value and appends it to `out` byte-exact, without
 * surrounding whitespace and without every object member (at any depth) whose unescaped
 * key equals one of `masks` (case-sensitive). On invalid input returns false and leaves
 * `out` as it was. `src` must not point into `out`.
 */
export function copyJsonMasked(src: usize, len: i32, masks: Array<string> | null, out: ByteBuf): bool {
  if (masks === null || masks.length == 0) {
    if (!scan(src, len, NO_MASKS, null)) return false;
    out.raw(valueStart, <i32>(valueEnd - valueStart));
    return true;
  }
  const mark = out.length;
  if (scan(src, len, masks, out)) return true;
  out.length = mark;
  return false;
}

/** Writes a 2-byte escape `\x` or `\u00XX` for an ASCII byte that needs one; returns bytes written. */
@inline
function writeEscape(w: usize, c: u32): usize {
  store<u8>(w, 0x5c);
  let e: u32 = 0;
  if (c == 0x22 || c == 0x5c) e = c;
  else if (c == 0x0a) e = 0x6e;
  else if (c == 0x0d) e = 0x72;
  else if (c == 0x09) e = 0x74;
  else if (c == 0x08) e = 0x62;
  else if (c == 0x0c) e = 0x66;
  if (e != 0) {
    store<u8>(w + 1, <u8>e);
    return 2;
  }
  store<u32>(w + 1, 0x30303075); // "u000"
  store<u8>(w + 4, <u8>(0x30 + (c >> 4)));
  store<u8>(w + 5, load<u8>(HEX + <usize>(c & 15)));
  return 6;
}

@inline
function needsEscape(c: u32): bool {
  return c < 0x20 || c == 0x22 || c == 0x5c;
}

// Input is processed in chunks so the worst case (6 output bytes per unit) is reserved
// per chunk instead of for the whole input.
const CHUNK: i32 = 2048;

/** Appends `s` as a quoted JSON string (lone surrogates become U+FFFD). */
export function writeJsonString(out: ByteBuf, s: string): void {
  const sp = changetype<usize>(s);
  const n = s.length;
  out.byte(0x22);
  let i = 0;
  while (i < n) {
    const stop = min(n, i + CHUNK);
    out.ensure((stop - i) * 6);
    let w = out.ptr + <usize>out.length;
    while (i < stop) {
      const c = <u32>load<u16>(sp + (<usize>i << 1));
      i++;
      if (c < 0x80) {
        if (needsEscape(c)) {
          w += writeEscape(w, c);
        } else {
          store<u8>(w, <u8>c);
          w++;
        }
      } else if (c < 0x800) {
        store<u16>(w, (0xc0 | (c >> 6)) | ((0x80 | (c & 0x3f)) << 8));
        w += 2;
      } else if (c - 0xd800 < 0x800) {
        // A surrogate: a valid pair is one 4-byte sequence, anything else U+FFFD.
        let next: u32 = 0;
        if (c < 0xdc00 && i < n) next = <u32>load<u16>(sp + (<usize>i << 1));
        if (next - 0xdc00 < 0x400) {
          i++;
          const cp = 0x10000 + ((c - 0xd800) << 10) + (next - 0xdc00);
          store<u32>(
            w,
            (0xf0 | (cp >> 18)) |
              ((0x80 | ((cp >> 12) & 0x3f)) << 8) |
              ((0x80 | ((cp >> 6) & 0x3f)) << 16) |
              ((0x80 | (cp & 0x3f)) << 24),
          );
          w += 4;
        } else {
          store<u16>(w, 0xbfef);
          store<u8>(w + 2, 0xbd);
          w += 3;
        }
      } else {
        store<u16>(w, (0xe0 | (c >> 12)) | ((0x80 | ((c >> 6) & 0x3f)) << 8));
        store<u8>(w + 2, 0x80 | (c & 0x3f));
        w += 3;
      }
    }
    out.length = <i32>(w - out.ptr);
  }
  out.byte(0x22);
}

// One body for both callers (not inlined twice: module size); `lower` becomes masks, so the
// plain case pays two ANDs per 8 bytes.
function writeStringBytes(out: ByteBuf, src: usize, len: i32, lower: bool): void {
  const wordMask: u64 = lower ? 0x2020202020202020 : 0;
  const byteMask: u32 = lower ? 0x20 : 0;
  const end = src + <usize>max(len, 0);
  let p = src;
  out.byte(0x22);
  while (p < end) {
    const stop = min(end, p + <usize>CHUNK);
    // Up to 3 extra bytes: a valid sequence that starts before `stop` may end after it.
    out.ensure(<i32>(stop - p) * 6 + 3);
    let w = out.ptr + <usize>out.length;
    while (p < stop) {
      // Eight bytes at a time while none needs an escape or is non-ASCII (most header
      // values and names): copied as one word, A-Z lowercased in the word when asked.
      while (p + 8 <= stop) {
        let x = load<u64>(p);
        if (plainWord(x) != 0) break;
        // High bit of each byte >= 0x41 and not >= 0x5b (bytes are ASCII: no carries).
        const upper = (x + 0x3f3f3f3f3f3f3f3f) & ~(x + 0x2525252525252525) & 0x8080808080808080;
        x |= (upper >> 2) & wordMask;
        store<u64>(w, x);
        w += 8;
        p += 8;
      }
      if (p >= stop) break;
      const c = <u32>load<u8>(p);
      if (c < 0x80) {
        p++;
        if (needsEscape(c)) {
          w += writeEscape(w, c);
        } else {
          store<u8>(w, <u8>(c - 0x41 < 26 ? c | byteMask : c));
          w++;
        }
      } else {
        const n = utf8Sequence(p, end);
        if (n > 0) {
          memory.copy(w, p, <usize>n);
          w += <usize>n;
          p += <usize>n;
        } else {
          store<u16>(w, 0xbfef);
          store<u8>(w + 2, 0xbd);
          w += 3;
          p += <usize>-n;
        }
      }
    }
    out.length = <i32>(w - out.ptr);
  }
  out.byte(0x22);
}

/** Appends bytes that should be UTF-8 as a quoted JSON string; ill-formed sequences become U+FFFD. */
export function writeJsonStringBytes(out: ByteBuf, src: usize, len: i32): void {
  writeStringBytes(out, src, len, false);
}

/** Like writeJsonStringBytes with ASCII A-Z lowercased (header names). */
export function writeJsonLowerAsciiStringBytes(out: ByteBuf, src: usize, len: i32): void {
  writeStringBytes(out, src, len, true);
}
