// The JSON scanner reads strings, numbers and whitespace 16 bytes at a time when 16 bytes
// remain. These tests put every kind of byte at every offset of those blocks (and of the
// input's end) and compare the scanner with a plain byte-at-a-time reference validator
// written here (RFC 8259, strict UTF-8, nesting up to JSON_MAX_DEPTH).
import { ByteBuf } from "../lib/bytes";
import {
  copyJsonMasked, isValidJson, JSON_MAX_DEPTH, lastJsonStringPlain, scanJsonNumber, scanJsonString, skipJsonWs,
} from "../lib/json";

// ---- reference ----------------------------------------------------------------------

let rb: usize = 0; // input
let rn: i32 = 0; // its length
let rp: i32 = 0; // position
let rdepth: i32 = 0;

function at(i: i32): i32 {
  return i < rn ? <i32>load<u8>(rb + <usize>i) : -1;
}

function refWs(): void {
  while (true) {
    const c = at(rp);
    if (c != 0x20 && c != 0x09 && c != 0x0a && c != 0x0d) return;
    rp++;
  }
}

function inRange(i: i32, lo: i32, hi: i32): bool {
  const c = at(i);
  return c >= lo && c <= hi;
}

/** Length of the well-formed UTF-8 sequence at rp (Unicode Table 3-7), or 0. */
function refUtf8(): i32 {
  const c = at(rp);
  if (c >= 0xc2 && c <= 0xdf) return inRange(rp + 1, 0x80, 0xbf) ? 2 : 0;
  if (c == 0xe0) return inRange(rp + 1, 0xa0, 0xbf) && inRange(rp + 2, 0x80, 0xbf) ? 3 : 0;
  if ((c >= 0xe1 && c <= 0xec) || c == 0xee || c == 0xef) return inRange(rp + 1, 0x80, 0xbf) && inRange(rp + 2, 0x80, 0xbf) ? 3 : 0;
  if (c == 0xed) return inRange(rp + 1, 0x80, 0x9f) && inRange(rp + 2, 0x80, 0xbf) ? 3 : 0;
  if (c == 0xf0) return inRange(rp + 1, 0x90, 0xbf) && inRange(rp + 2, 0x80, 0xbf) && inRange(rp + 3, 0x80, 0xbf) ? 4 : 0;
  if (c >= 0xf1 && c <= 0xf3) return inRange(rp + 1, 0x80, 0xbf) && inRange(rp + 2, 0x80, 0xbf) && inRange(rp + 3, 0x80, 0xbf) ? 4 : 0;
  if (c == 0xf4) return inRange(rp + 1, 0x80, 0x8f) && inRange(rp + 2, 0x80, 0xbf) && inRange(rp + 3, 0x80, 0xbf) ? 4 : 0;
  return 0;
}

function isHexDigit(c: i32): bool {
  return (c >= 0x30 && c <= 0x39) || (c >= 0x41 && c <= 0x46) || (c >= 0x61 && c <= 0x66);
}

/** String at rp (the opening quote); true when valid, rp after it. */
function refString(): bool {
  rp++;
  while (true) {
    const c = at(rp);
    if (c < 0) return false;
    if (c == 0x22) {
      rp++;
      return true;
    }
    if (c == 0x5c) {
      const e = at(rp + 1);
      if (e == 0x75) {
        for (let i = 2; i < 6; i++) if (!isHexDigit(at(rp + i))) return false;
        rp += 6;
      } else if (e == 0x22 || e == 0x5c || e == 0x2f || e == 0x62 || e == 0x66 || e == 0x6e || e == 0x72 || e == 0x74) {
        rp += 2;
      } else {
        return false;
      }
    } else if (c < 0x20) {
      return false;
    } else if (c < 0x80) {
      rp++;
    } else {
      const n = refUtf8();
      if (n == 0) return false;
      rp += n;
    }
  }
}

function isDigitAt(i: i32): bool {
  return inRange(i, 0x30, 0x39);
}

function refNumber(): bool {
  if (at(rp) == 0x2d) rp++;
  if (at(rp) == 0x30) rp++;
  else if (inRange(rp, 0x31, 0x39)) while (isDigitAt(rp)) rp++;
  else return false;
  if (at(rp) == 0x2e) {
    rp++;
    if (!isDigitAt(rp)) return false;
    while (isDigitAt(rp)) rp++;
  }
  if (at(rp) == 0x65 || at(rp) == 0x45) {
    rp++;
    if (at(rp) == 0x2b || at(rp) == 0x2d) rp++;
    if (!isDigitAt(rp)) return false;
    while (isDigitAt(rp)) rp++;
  }
  return true;
}

function refWord(w: string): bool {
  for (let i = 0; i < w.length; i++) if (at(rp + i) != w.charCodeAt(i)) return false;
  rp += w.length;
  return true;
}

function refValue(): bool {
  refWs();
  const c = at(rp);
  if (c == 0x7b || c == 0x5b) {
    if (rdepth == JSON_MAX_DEPTH) return false;
    rdepth++;
    const close = c == 0x7b ? 0x7d : 0x5d;
    rp++;
    refWs();
    if (at(rp) == close) {
      rp++;
      rdepth--;
      return true;
    }
    while (true) {
      if (c == 0x7b) {
        refWs();
        if (at(rp) != 0x22 || !refString()) return false;
        refWs();
        if (at(rp) != 0x3a) return false;
        rp++;
      }
      if (!refValue()) return false;
      refWs();
      const d = at(rp);
      rp++;
      if (d == close) break;
      if (d != 0x2c) return false;
    }
    rdepth--;
    return true;
  }
  if (c == 0x22) return refString();
  if (c == 0x74) return refWord("true");
  if (c == 0x66) return refWord("false");
  if (c == 0x6e) return refWord("null");
  return refNumber();
}

function refValid(b: usize, n: i32): bool {
  rb = b;
  rn = n;
  rp = 0;
  rdepth = 0;
  if (!refValue()) return false;
  refWs();
  return rp == n;
}

// ---- inputs --------------------------------------------------------------------------

let seed: u32 = 0x2545f491;
function next(): u32 {
  seed ^= seed << 13;
  seed ^= seed >> 17;
  seed ^= seed << 5;
  return seed;
}

// Failures are counted, and the first described by its case number (messages are only built
// then: building one per check would cost more than the checks).
let failures = 0;
let firstFailure = "";
let caseNo = 0;
function check(ok: bool, what: string, detail: string = ""): void {
  if (ok) return;
  if (failures == 0) firstFailure = "case " + caseNo.toString() + ": " + what + detail;
  failures++;
}

/** Validator, copier and reference on [p, p+n); both copies must equal the trimmed input when valid. */
const out = new ByteBuf(64);
const MASKS: Array<string> = ["zz"];
function compare(p: usize, n: i32, what: string): bool {
  caseNo++;
  const want = refValid(p, n);
  check(isValidJson(p, n) == want, what, ": validity");
  out.clear();
  check(copyJsonMasked(p, n, null, out) == want, what, ": copy");
  out.clear();
  check(copyJsonMasked(p, n, MASKS, out) == want, what, ": masked copy");
  return want;
}

// A buffer with room before and after the input, so inputs can start at every alignment.
const BUF_SIZE = 512;
const buf = memory.data(BUF_SIZE, 16);

function put(offset: i32, s: Array<i32>): i32 {
  for (let i = 0; i < s.length; i++) store<u8>(buf + <usize>(offset + i), <u8>s[i]);
  return s.length;
}

function ascii(s: string): Array<i32> {
  const a = new Array<i32>(s.length);
  for (let i = 0; i < s.length; i++) a[i] = s.charCodeAt(i);
  return a;
}

// Things that stop the 16-byte string scan, and a few that do not.
const STRING_PIECES: Array<Array<i32>> = [
  ascii('"'), ascii("\\n"), ascii('\\"'), ascii("\\u00e9"), ascii("\\uZZ00"), ascii("\\x"), ascii("\\"),
  [0x01], [0x1f], [0x7f], [0xc3, 0xa9], [0xe2, 0x82, 0xac], [0xf0, 0x9d, 0x84, 0x9e], [0xed, 0xa0, 0x80], [0xc0, 0xaf],
  [0xff], [0xe2, 0x82], [0x80], ascii("x"), ascii(" "),
];

describe("JSON scanning at block offsets", () => {
  beforeEach(() => {
    failures = 0;
    firstFailure = "";
  });

  it("strings: each piece at each offset of a 0-40 byte string, as key and value, with and without bytes after", () => {
    let valid = 0;
    for (let len = 0; len <= 40; len++) {
      for (let at = 0; at <= len; at++) {
        for (let k = 0; k < STRING_PIECES.length; k++) {
          for (let form = 0; form < 4; form++) {
            // form 0: ["…"]   1: {"…":1}   2: "…" (the input ends at the quote)   3: ["…"] + spaces after
            let n = 0;
            const start = (len + at + k) & 15;
            n += put(start + n, form == 1 ? ascii('{"') : form == 2 ? ascii('"') : ascii('["'));
            for (let i = 0; i < len; i++) {
              if (i == at) n += put(start + n, STRING_PIECES[k]);
              n += put(start + n, [0x61 + ((i * 7) % 26)]);
            }
            if (at == len) n += put(start + n, STRING_PIECES[k]);
            n += put(start + n, form == 1 ? ascii('":1}') : form == 2 ? ascii('"') : ascii('"]'));
            if (form == 3) n += put(start + n, ascii("                    "));
            if (compare(buf + <usize>start, n, "string")) valid++;
          }
        }
      }
    }
    expect(failures).toBe(0, firstFailure);
    expect(valid).toBeGreaterThan(10000);
  });

  it("strings: scanJsonString's end and plainness agree with the reference for every truncation", () => {
    for (let k = 0; k < STRING_PIECES.length; k++) {
      for (let at = 0; at < 36; at++) {
        let n = put(0, ascii("abcdefghijklmnopqrstuvwxyz0123456789").slice(0, at));
        n += put(n, STRING_PIECES[k]);
        n += put(n, ascii('tail of the string"+more bytes after the string'));
        for (let end = 0; end <= n; end++) {
          rb = buf;
          rn = end;
          rp = -1; // refString starts by stepping over the opening quote
          const ok = refString();
          const got = scanJsonString(buf, buf + <usize>end);
          check(ok ? got == buf + <usize>rp : got == 0, "scanJsonString piece");
          if (ok) {
            let plain = true;
            for (let i = 0; i < rp; i++) if (load<u8>(buf + <usize>i) == 0x5c || load<u8>(buf + <usize>i) >= 0x80) plain = false;
            check(lastJsonStringPlain() == plain, "scanJsonString plainness");
          }
        }
      }
    }
    expect(failures).toBe(0, firstFailure);
  });

  it("numbers: random numbers of 1-40 bytes at every alignment, then each possible next byte or the end", () => {
    const NEXT = ascii(',]} x.eE+-0159"\n');
    let valid = 0;
    for (let iter = 0; iter < 600; iter++) {
      const digits = new Array<i32>(0);
      const r = next();
      if (r & 1) digits.push(0x2d);
      const intLen = 1 + <i32>((r >> 1) % 20);
      for (let i = 0; i < intLen; i++) digits.push(0x30 + <i32>(next() % 10));
      if ((r >> 6) & 1) {
        digits.push(0x2e);
        const fracLen = <i32>((r >> 7) % 18);
        for (let i = 0; i < fracLen; i++) digits.push(0x30 + <i32>(next() % 10));
      }
      if ((r >> 12) % 3 == 0) {
        digits.push((r >> 14) & 1 ? 0x45 : 0x65);
        const sign = (r >> 15) % 3;
        if (sign == 1) digits.push(0x2b);
        if (sign == 2) digits.push(0x2d);
        const expLen = <i32>((r >> 17) % 5);
        for (let i = 0; i < expLen; i++) digits.push(0x30 + <i32>(next() % 10));
      }
      // Occasionally a stray byte inside the number.
      if ((r >> 20) % 8 == 0) digits[<i32>(next() % <u32>digits.length)] = NEXT[<i32>(next() % <u32>NEXT.length)];
      for (let align = 0; align < 16; align++) {
        for (let t = -1; t < NEXT.length; t++) {
          let n = put(align, [0x5b]);
          n += put(align + n, digits);
          if (t >= 0) n += put(align + n, [NEXT[t]]);
          // [number<next>] with the bracket closing it, and the bare number running to the end.
          const withClose = n + put(align + n, [0x5d]);
          if (compare(buf + <usize>align, withClose, "number")) valid++;
          compare(buf + <usize>(align + 1), n - 1, "bare number");
          // scanJsonNumber's end itself.
          rb = buf + <usize>(align + 1);
          rn = n - 1;
          rp = 0;
          const ok = refNumber();
          const got = scanJsonNumber(rb, rb + <usize>rn);
          check(ok ? got == rb + <usize>rp : got == 0, "scanJsonNumber");
        }
      }
    }
    expect(failures).toBe(0, firstFailure);
    expect(valid).toBeGreaterThan(4000);
  });

  it("whitespace: runs of 0-40 bytes (with a stray byte at each offset) before and after values", () => {
    const WS = [0x20, 0x09, 0x0a, 0x0d];
    const STRAY = [0x00, 0x0b, 0x0c, 0x1f, 0x21, 0x2c, 0x80, 0xa0, 0x7b];
    for (let len = 0; len <= 40; len++) {
      for (let stray = -1; stray < len; stray++) {
        const run = new Array<i32>(len);
        for (let i = 0; i < len; i++) run[i] = WS[<i32>(next() & 3)];
        if (stray >= 0) run[stray] = STRAY[<i32>(next() % <u32>STRAY.length)];
        const start = <i32>(next() & 15);
        // {<run>"a"<run>:<run>[<run>1<run>,<run>2<run>]<run>}<run>
        let n = 0;
        n += put(start + n, [0x7b]);
        n += put(start + n, run);
        n += put(start + n, ascii('"a"'));
        n += put(start + n, run);
        n += put(start + n, [0x3a]);
        n += put(start + n, run);
        n += put(start + n, [0x5b]);
        n += put(start + n, run);
        n += put(start + n, [0x31]);
        n += put(start + n, run);
        n += put(start + n, [0x2c]);
        n += put(start + n, run);
        n += put(start + n, [0x32]);
        n += put(start + n, run);
        n += put(start + n, [0x5d]);
        n += put(start + n, run);
        n += put(start + n, [0x7d]);
        n += put(start + n, run);
        compare(buf + <usize>start, n, "whitespace");
        // skipJsonWs itself, for every end.
        for (let end = 0; end <= len; end++) {
          rb = buf + <usize>(start + 1);
          rn = end;
          rp = 0;
          refWs();
          check(skipJsonWs(rb, rb + <usize>end) == rb + <usize>rp, "skipJsonWs");
        }
      }
    }
    expect(failures).toBe(0, firstFailure);
  });

  it("random documents (long strings, numbers, indentation), mutated, agree with the reference", () => {
    let valid = 0;
    const doc = new ByteBuf(256);
    for (let iter = 0; iter < 3000; iter++) {
      doc.clear();
      genValue(doc, 0);
      let n = min(doc.length, BUF_SIZE - 16);
      const start = <i32>(next() & 15);
      memory.copy(buf + <usize>start, doc.ptr, <usize>n);
      const edits = next() % 3; // 0: as generated (valid)
      for (let e: u32 = 0; e < edits; e++) {
        const pos = <i32>(next() % <u32>max(n, 1));
        store<u8>(buf + <usize>(start + pos), <u8>(next() % 5 == 0 ? next() : ascii('"\\ \n{}[],:0.e-x')[<i32>(next() % 15)]));
      }
      if (next() % 8 == 0) n = <i32>(next() % <u32>(n + 1)); // truncated
      if (compare(buf + <usize>start, n, "document")) valid++;
    }
    expect(failures).toBe(0, firstFailure);
    expect(valid).toBeGreaterThan(1000);
  });
});

function genWs(doc: ByteBuf): void {
  const r = next() % 6;
  if (r == 0) {
    doc.byte(0x0a);
    for (let i: u32 = 0; i < next() % 20; i++) doc.byte(0x20);
  } else if (r == 1) {
    doc.byte(0x20);
  }
}

function genString(doc: ByteBuf): void {
  doc.byte(0x22);
  const len = next() % 4 == 0 ? next() % 40 : next() % 8;
  for (let i: u32 = 0; i < len; i++) {
    const r = next() % 40;
    if (r == 0) doc.str("\\n");
    else if (r == 1) doc.str("\\u20ac");
    else if (r == 2) doc.str("é");
    else if (r == 3) doc.str("€");
    else doc.byte(0x61 + (next() % 26));
  }
  doc.byte(0x22);
}

function genValue(doc: ByteBuf, depth: i32): void {
  genWs(doc);
  const r = next() % (depth > 4 ? 4 : 6);
  if (r == 0) genString(doc);
  else if (r == 1) {
    if (next() & 1) doc.byte(0x2d);
    doc.str((next() % 100000).toString());
    if (next() & 1) {
      doc.byte(0x2e);
      doc.str((next() % 1000000).toString());
    }
    if (next() % 5 == 0) doc.str("e-7");
  } else if (r == 2) doc.str(next() & 1 ? "true" : "null");
  else if (r == 3) doc.str(((next() % 1000000000) + 1).toString());
  else if (r == 4) {
    doc.byte(0x5b);
    const n = next() % 4;
    for (let i: u32 = 0; i < n; i++) {
      if (i > 0) doc.byte(0x2c);
      genValue(doc, depth + 1);
    }
    genWs(doc);
    doc.byte(0x5d);
  } else {
    doc.byte(0x7b);
    const n = next() % 4;
    for (let i: u32 = 0; i < n; i++) {
      if (i > 0) doc.byte(0x2c);
      genWs(doc);
      genString(doc);
      genWs(doc);
      doc.byte(0x3a);
      genValue(doc, depth + 1);
    }
    genWs(doc);
    doc.byte(0x7d);
  }
  genWs(doc);
}
