// A small read-only JSON DOM for configuration, /v1/config, /v1/rules and JWT claims.
// Grammar checks are shared with json.ts, so both accept exactly the same (strict) JSON.

import { ByteBuf } from "./bytes";
import {
  lastJsonStringPlain,
  escapedUnit,
  readHex4,
  scanJsonLiteral,
  scanJsonNumber,
  scanJsonString,
  skipJsonWs,
} from "./json";

export enum JsonType {
  Null,
  Bool,
  Number,
  String,
  Array,
  Object,
}

// Values that are not arrays/objects share these empty lists instead of allocating
// their own (the DOM is read-only: never push into a parsed value's lists).
const NO_VALUES = new Array<JsonValue>(0);
const NO_KEYS = new Array<string>(0);

/** Recursion bound regardless of the caller's maxDepth, so parsing never exhausts the stack. */
const DEPTH_CAP: i32 = 512;

export class JsonValue {
  type: JsonType;
  bool: bool = false;
  num: f64 = 0;
  /** A number's source text, so big integers stay exact. */
  raw: string = "";
  str: string = "";
  items: Array<JsonValue> = NO_VALUES;
  keys: Array<string> = NO_KEYS;
  values: Array<JsonValue> = NO_VALUES;

  constructor(type: JsonType) {
    this.type = type;
  }

  /** First member with this key (objects only). */
  get(key: string): JsonValue | null {
    const keys = this.keys;
    for (let i = 0, n = keys.length; i < n; i++) {
      if (unchecked(keys[i]) == key) return unchecked(this.values[i]);
    }
    return null;
  }

  /**
   * Walks objects along a dotted path ("a.b.c"). At each level the longest run of
   * segments that is itself a key wins, so keys containing dots (namespaced JWT claims
   * such as "https://example.com/org") are found too.
   */
  path(dotted: string): JsonValue | null {
    let cur: JsonValue = this;
    let start = 0;
    const n = dotted.length;
    while (true) {
      if (cur.type != JsonType.Object) return null;
      let next: JsonValue | null = null;
      let end = n;
      while (true) {
        next = cur.member(dotted, start, end);
        if (next !== null || end <= start) break;
        end = dotted.lastIndexOf(".", end - 1);
        if (end < start) break;
      }
      if (next === null) return null;
      cur = next;
      if (end >= n) return cur;
      start = end + 1;
      if (start == n) return null; // trailing dot
    }
    return null;
  }

  /** Member whose key equals dotted[start, end), without allocating the substring. */
  private member(dotted: string, start: i32, end: i32): JsonValue | null {
    const len = end - start;
    const segment = changetype<usize>(dotted) + (<usize>start << 1);
    const keys = this.keys;
    for (let i = 0, k = keys.length; i < k; i++) {
      const key = unchecked(keys[i]);
      if (key.length == len && memory.compare(changetype<usize>(key), segment, <usize>len << 1) == 0) {
        return unchecked(this.values[i]);
      }
    }
    return null;
  }

  at(i: i32): JsonValue | null {
    return i >= 0 && i < this.items.length ? unchecked(this.items[i]) : null;
  }

  isNull(): bool {
    return this.type == JsonType.Null;
  }
  isBool(): bool {
    return this.type == JsonType.Bool;
  }
  isNumber(): bool {
    return this.type == JsonType.Number;
  }
  isString(): bool {
    return this.type == JsonType.String;
  }
  isArray(): bool {
    return this.type == JsonType.Array;
  }
  isObject(): bool {
    return this.type == JsonType.Object;
  }

  /** String → itself; number → its source text; bool → "true"/"false"; otherwise null. */
  toText(): string | null {
    if (this.type == JsonType.String) return this.str;
    if (this.type == JsonType.Number) return this.raw;
    if (this.type == JsonType.Bool) return this.bool ? "true" : "false";
    return null;
  }
}

// UTF-16 scratch space for strings with escapes or non-ASCII text.
const units = new ByteBuf(256);

/** Decodes a validated string body [p, end) to a string. */
function decodeString(p: usize, end: usize, plain: bool): string {
  if (plain) return String.UTF8.decodeUnsafe(p, end - p);
  units.clear();
  units.ensure(<i32>(end - p) << 1);
  let w = units.ptr;
  while (p < end) {
    const c = <u32>load<u8>(p);
    if (c == 0x5c) {
      const e = <u32>load<u8>(p + 1);
      let unit: u32;
      p += 2;
      if (e == 0x75) {
        unit = readHex4(p);
        p += 4;
      } else unit = escapedUnit(e);
      store<u16>(w, <u16>unit);
      w += 2;
    } else if (c < 0x80) {
      store<u16>(w, <u16>c);
      w += 2;
      p++;
    } else if (c < 0xe0) {
      store<u16>(w, <u16>(((c & 0x1f) << 6) | (<u32>load<u8>(p + 1) & 0x3f)));
      w += 2;
      p += 2;
    } else if (c < 0xf0) {
      store<u16>(
        w,
        <u16>(((c & 0x0f) << 12) | ((<u32>load<u8>(p + 1) & 0x3f) << 6) | (<u32>load<u8>(p + 2) & 0x3f)),
      );
      w += 2;
      p += 3;
    } else {
      const cp =
        (((c & 0x07) << 18) |
          ((<u32>load<u8>(p + 1) & 0x3f) << 12) |
          ((<u32>load<u8>(p + 2) & 0x3f) << 6) |
          (<u32>load<u8>(p + 3) & 0x3f)) -
        0x10000;
      store<u16>(w, <u16>(0xd800 + (cp >> 10)));
      store<u16>(w + 2, <u16>(0xdc00 + (cp & 0x3ff)));
      w += 4;
      p += 4;
    }
  }
  const s = String.UTF16.decodeUnsafe(units.ptr, w - units.ptr);
  if (units.capacity > 65536) units.shrinkTo(256);
  return s;
}

/** Value of a validated number; integers of up to 15 digits skip the general parser. */
function numberValue(p: usize, end: usize, raw: string): f64 {
  const negative = load<u8>(p) == 0x2d;
  if (negative) p++;
  if (end - p > 15) return parseFloat(raw);
  let n: i64 = 0;
  while (p < end) {
    const d = <u32>load<u8>(p) - 0x30;
    if (d > 9) return parseFloat(raw); // fraction or exponent
    n = n * 10 + <i64>d;
    p++;
  }
  return negative ? -<f64>n : <f64>n;
}

class Parser {
  p: usize;
  end: usize;
  maxDepth: i32;
  constructor(p: usize, end: usize, maxDepth: i32) {
    this.p = p;
    this.end = end;
    this.maxDepth = maxDepth;
  }

  /** Parses a string whose opening quote is at `p`; null when invalid. */
  readString(): string | null {
    const start = this.p + 1;
    const after = scanJsonString(start, this.end);
    if (after == 0) return null;
    this.p = after;
    return decodeString(start, after - 1, lastJsonStringPlain());
  }

  /** Parses one value at `p` (whitespace already skipped). */
  value(depth: i32): JsonValue | null {
    const end = this.end;
    if (this.p >= end) return null;
    const c = <u32>load<u8>(this.p);
    if (c == 0x22) {
      const s = this.readString();
      if (s === null) return null;
      const v = new JsonValue(JsonType.String);
      v.str = s;
      return v;
    }
    if (c == 0x7b) return this.readObject(depth + 1);
    if (c == 0x5b) return this.readArray(depth + 1);
    if (c == 0x74 || c == 0x66 || c == 0x6e) {
      const after = scanJsonLiteral(this.p, end);
      if (after == 0) return null;
      this.p = after;
      if (c == 0x6e) return new JsonValue(JsonType.Null);
      const v = new JsonValue(JsonType.Bool);
      v.bool = c == 0x74;
      return v;
    }
    const after = scanJsonNumber(this.p, end);
    if (after == 0) return null;
    const v = new JsonValue(JsonType.Number);
    v.raw = String.UTF8.decodeUnsafe(this.p, after - this.p);
    v.num = numberValue(this.p, after, v.raw);
    this.p = after;
    return v;
  }

  readArray(depth: i32): JsonValue | null {
    if (depth > this.maxDepth) return null;
    const end = this.end;
    const v = new JsonValue(JsonType.Array);
    const items = new Array<JsonValue>();
    v.items = items;
    this.p = skipJsonWs(this.p + 1, end);
    if (this.p < end && load<u8>(this.p) == 0x5d) {
      this.p++;
      return v;
    }
    while (true) {
      const item = this.value(depth);
      if (item === null) return null;
      items.push(item);
      this.p = skipJsonWs(this.p, end);
      if (this.p >= end) return null;
      const c = load<u8>(this.p);
      this.p++;
      if (c == 0x5d) return v;
      if (c != 0x2c) return null;
      this.p = skipJsonWs(this.p, end);
    }
    return null;
  }

  readObject(depth: i32): JsonValue | null {
    if (depth > this.maxDepth) return null;
    const end = this.end;
    const v = new JsonValue(JsonType.Object);
    const keys = new Array<string>();
    const values = new Array<JsonValue>();
    v.keys = keys;
    v.values = values;
    this.p = skipJsonWs(this.p + 1, end);
    if (this.p < end && load<u8>(this.p) == 0x7d) {
      this.p++;
      return v;
    }
    while (true) {
      if (this.p >= end || load<u8>(this.p) != 0x22) return null;
      const key = this.readString();
      if (key === null) return null;
      this.p = skipJsonWs(this.p, end);
      if (this.p >= end || load<u8>(this.p) != 0x3a) return null;
      this.p = skipJsonWs(this.p + 1, end);
      const item = this.value(depth);
      if (item === null) return null;
      keys.push(key);
      values.push(item);
      this.p = skipJsonWs(this.p, end);
      if (this.p >= end) return null;
      const c = load<u8>(this.p);
      this.p++;
      if (c == 0x7d) return v;
      if (c != 0x2c) return null;
      this.p = skipJsonWs(this.p, end);
    }
    return null;
  }
}

/**
 * Parses [src, src+len) as one JSON value (strict RFC 8259, surrounding whitespace
 * allowed). Containers may nest `maxDepth` deep (capped at 512). Null on any invalid input.
 */
export function parseJsonBytes(src: usize, len: i32, maxDepth: i32 = 64): JsonValue | null {
  if (len <= 0) return null;
  const end = src + <usize>len;
  const parser = new Parser(skipJsonWs(src, end), end, min(maxDepth, DEPTH_CAP));
  const v = parser.value(0);
  if (v === null || skipJsonWs(parser.p, end) != end) return null;
  return v;
}

/** parseJsonBytes on the UTF-8 encoding of `text` (lone surrogates read as U+FFFD). */
export function parseJson(text: string, maxDepth: i32 = 64): JsonValue | null {
  const bytes = String.UTF8.encode(text, false, String.UTF8.ErrorMode.REPLACE);
  return parseJsonBytes(changetype<usize>(bytes), bytes.byteLength, maxDepth);
}

/** End of the validated value at `p` (after it), for walking a document without a DOM. */
function skipValue(p: usize, end: usize): usize {
  const c = <u32>load<u8>(p);
  if (c == 0x22) return scanJsonString(p + 1, end);
  if (c == 0x7b || c == 0x5b) {
    let depth = 0;
    while (p < end) {
      const b = <u32>load<u8>(p);
      if (b == 0x22) {
        p = scanJsonString(p + 1, end);
        continue;
      }
      if (b == 0x7b || b == 0x5b) depth++;
      else if ((b == 0x7d || b == 0x5d) && --depth == 0) return p + 1;
      p++;
    }
    return end;
  }
  if (c == 0x74 || c == 0x66 || c == 0x6e) return scanJsonLiteral(p, end);
  return scanJsonNumber(p, end);
}

/** Whether the plain (ASCII, unescaped) key [p, end) equals `key`. */
function plainKeyEquals(p: usize, end: usize, key: string): bool {
  const n = key.length;
  if (<i32>(end - p) != n) return false;
  const k = changetype<usize>(key);
  for (let i = 0; i < n; i++) {
    if (<u32>load<u8>(p + <usize>i) != <u32>load<u16>(k + (<usize>i << 1))) return false;
  }
  return true;
}

/**
 * What `parseJsonBytes(src, len).get(key).toText()` gives for a JSON object (the first
 * member named `key`: a string, a number's source text, "true"/"false"; null for other
 * values, a missing member or a document that is not an object), without building a DOM.
 * The document must already be valid JSON (isValidJson).
 */
export function memberText(src: usize, len: i32, key: string): string | null {
  const end = src + <usize>len;
  let p = skipJsonWs(src, end);
  if (p >= end || load<u8>(p) != 0x7b) return null;
  p = skipJsonWs(p + 1, end);
  while (p < end && load<u8>(p) == 0x22) {
    const keyEnd = scanJsonString(p + 1, end);
    const match = lastJsonStringPlain()
      ? plainKeyEquals(p + 1, keyEnd - 1, key)
      : decodeString(p + 1, keyEnd - 1, false) == key;
    const v = skipJsonWs(skipJsonWs(keyEnd, end) + 1, end); // past the colon
    const vEnd = skipValue(v, end);
    if (match) {
      const c = <u32>load<u8>(v);
      if (c == 0x22) {
        scanJsonString(v + 1, end);
        return decodeString(v + 1, vEnd - 1, lastJsonStringPlain());
      }
      if (c == 0x74) return "true";
      if (c == 0x66) return "false";
      if (c == 0x2d || c - 0x30 < 10) return String.UTF8.decodeUnsafe(v, vEnd - v);
      return null;
    }
    p = skipJsonWs(vEnd, end);
    if (p >= end || load<u8>(p) != 0x2c) return null;
    p = skipJsonWs(p + 1, end);
  }
  return null;
}
