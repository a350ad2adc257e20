// DEFLATE decompressor (RFC 1951) with the zlib (RFC 1950) and gzip (RFC 1952) wrappers.
//
// Fail-open by construction: every input byte is read through a bounds check against the
// end of the input, every output write is checked against the caller's cap, and every error
// is a return value. Huffman codes are decoded with two-level lookup tables (a 10- or 12-bit /
// 8-bit primary table plus sub-tables for longer codes), one table read per symbol or pair of
// literals. The tables live in module-level scratch allocated on first use and reused by
// every call.

import { ByteBuf } from "./bytes";
import { adler32, crc32 } from "./checksum";

export enum InflateResult {
  Ok,
  Invalid,
  LimitExceeded,
}

export enum Wrapper {
  Raw,
  Zlib,
  Gzip,
  /** gzip magic → gzip; a valid zlib header → zlib (raw if that fails); else raw. */
  Auto,
}

// Length and distance bases and extra-bit counts (RFC 1951 §3.2.5), shared with deflate.ts.
export const LEN_BASE: usize = memory.data<u16>([
  3, 4, 5, 6, 7, 8, 9, 10, 11, 13, 15, 17, 19, 23, 27, 31, 35, 43, 51, 59, 67, 83, 99, 115, 131,
  163, 195, 227, 258,
]);
export const LEN_EXTRA: usize = memory.data<u8>([
  0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 2, 2, 2, 2, 3, 3, 3, 3, 4, 4, 4, 4, 5, 5, 5, 5, 0,
]);
export const DIST_BASE: usize = memory.data<u16>([
  1, 2, 3, 4, 5, 7, 9, 13, 17, 25, 33, 49, 65, 97, 129, 193, 257, 385, 513, 769, 1025, 1537, 2049,
  3073, 4097, 6145, 8193, 12289, 16385, 24577,
]);
export const DIST_EXTRA: usize = memory.data<u8>([
  0, 0, 0, 0, 1, 1, 2, 2, 3, 3, 4, 4, 5, 5, 6, 6, 7, 7, 8, 8, 9, 9, 10, 10, 11, 11, 12, 12, 13, 13,
]);
// Order in which code-length code lengths are transmitted.
export const CL_ORDER: usize = memory.data<u8>([
  16, 17, 18, 0, 8, 7, 9, 6, 10, 5, 11, 4, 12, 3, 13, 2, 14, 1, 15,
]);

// Table entry: bits 0-7 code length (bits to consume; sub-table bits for K_SUB),
// bits 8-11 extra bits, bits 12-14 kind, bits 16-31 value (literal, base, or sub-table start).
// Literal/length tables hold literals differently (LIT_FLAG set, so they test as negative):
// bits 0-4 bits to consume, bit 5 set when the entry holds two literals, bits 8-15 the first
// literal, bits 16-23 the second, bits 24-27 the first literal's code length alone. A pair is
// stored as one u16 and lets a run of literals take one table read per two bytes.
const LIT_FLAG: u32 = 0x80000000;
const LIT_PAIR: u32 = 0x20;
const K_LIT: u32 = 0;
const K_MATCH: u32 = 1;
const K_END: u32 = 2;
const K_SUB: u32 = 3;
// Invalid codes: kind 7, 127 bits to consume (more than the bit buffer ever holds), and a
// byte pattern, so tables are cleared with memory.fill.
const K_BAD: u32 = 7;
const BAD_BYTE: u8 = 0x7f;
const BAD_ENTRY: u32 = 0x7f7f7f7f;

const A_CODELEN = 0;
const A_LITLEN = 1;
const A_DIST = 2;

// Literal/length root bits: 10 for the fixed code and for blocks with little input left;
// 12, with literal pairs, for blocks that may be long (a bigger table costs more to build:
// about 4 µs, paid back after a few thousand literals).
const LIT_ROOT = 10;
const LIT_ROOT_LONG = 12;
const LONG_BLOCK_INPUT: usize = 4096; // bytes of input left from which a block may be long
const DIST_ROOT = 8;
const CL_ROOT = 7;
// Primary table plus one sub-table of (15 - root) bits per long code, the worst case.
const LIT_TABLE_SIZE = (1 << LIT_ROOT) + 288 * (1 << (15 - LIT_ROOT)); // the larger of the two roots' worst cases
const DIST_TABLE_SIZE = (1 << DIST_ROOT) + 32 * (1 << (15 - DIST_ROOT));

// Scratch layout (byte offsets into one buffer).
const OFF_DYN_LIT = 0;
const OFF_DYN_DIST = OFF_DYN_LIT + LIT_TABLE_SIZE * 4;
const OFF_FIX_LIT = OFF_DYN_DIST + DIST_TABLE_SIZE * 4;
const OFF_FIX_DIST = OFF_FIX_LIT + (1 << LIT_ROOT) * 4;
const OFF_CL = OFF_FIX_DIST + (1 << DIST_ROOT) * 4;
const OFF_LENS = OFF_CL + (1 << CL_ROOT) * 4; // u8[320]: code lengths being read
const OFF_COUNT = OFF_LENS + 320; // u16[16]: codes per length
const OFF_NEXT = OFF_COUNT + 32; // u16[16]: next index in OFF_SORTED per length
const OFF_SORTED = OFF_NEXT + 32; // u16[288]: symbols by code length, then symbol
const SCRATCH_SIZE = OFF_SORTED + 2 * 288;

let scratch: ArrayBuffer | null = null;
let base: usize = 0;

function ensureScratch(): void {
  if (scratch != null) return;
  const s = new ArrayBuffer(SCRATCH_SIZE);
  scratch = s;
  base = changetype<usize>(s);
  // Fixed Huffman codes (RFC 1951 §3.2.6), built once.
  const lens = base + OFF_LENS;
  for (let i = 0; i < 288; i++) store<u8>(lens + i, i < 144 ? 8 : i < 256 ? 9 : i < 280 ? 7 : 8);
  buildTable(lens, 288, base + OFF_FIX_LIT, LIT_ROOT, A_LITLEN, 1 << LIT_ROOT);
  for (let i = 0; i < 32; i++) store<u8>(lens + i, 5);
  buildTable(lens, 32, base + OFF_FIX_DIST, DIST_ROOT, A_DIST, 1 << DIST_ROOT);
}

@inline function entry(kind: u32, extra: u32, nbits: u32, value: u32): u32 {
  return (value << 16) | (kind << 12) | (extra << 8) | nbits;
}

function symbolEntry(alphabet: i32, sym: i32, len: u32): u32 {
  if (alphabet == A_CODELEN) return entry(K_LIT, 0, len, sym);
  if (alphabet == A_LITLEN) {
    if (sym < 256) return LIT_FLAG | (len << 24) | (<u32>sym << 8) | len;
    if (sym == 256) return entry(K_END, 0, len, 0);
    if (sym < 286) {
      const i = <usize>(sym - 257);
      return entry(K_MATCH, load<u8>(LEN_EXTRA + i), len, load<u16>(LEN_BASE + (i << 1)));
    }
    return BAD_ENTRY; // 286 and 287 take part in the fixed code but are never valid
  }
  if (sym < 30) {
    const i = <usize>sym;
    return entry(K_MATCH, load<u8>(DIST_EXTRA + i), len, load<u16>(DIST_BASE + (i << 1)));
  }
  return BAD_ENTRY;
}

/** The low `len` bits of `code` in reverse order (Huffman codes are sent MSB-first). */
@inline export function reverseBits(code: u32, len: u32): u32 {
  let v = code;
  v = ((v >>> 1) & 0x55555555) | ((v & 0x55555555) << 1);
  v = ((v >>> 2) & 0x33333333) | ((v & 0x33333333) << 2);
  v = ((v >>> 4) & 0x0f0f0f0f) | ((v & 0x0f0f0f0f) << 4);
  v = ((v >>> 8) & 0x00ff00ff) | ((v & 0x00ff00ff) << 8);
  v = (v >>> 16) | (v << 16);
  return v >>> (32 - len);
}

/**
 * Builds a decoding table for `n` code lengths at `lens` (u8 each). Returns false for an
 * over-subscribed code. Incomplete codes are accepted; their unused slots decode as K_BAD.
 * Codes are assigned in canonical order (by length, then symbol) and written bit-reversed,
 * as they are read; the primary table is filled for short codes first and doubled by
 * copying as the code length grows, so each entry of a short code is written once.
 */
function buildTable(lens: usize, n: i32, table: usize, root: i32, alphabet: i32, capacity: i32): bool {
  const count = base + OFF_COUNT;
  const first = base + OFF_NEXT;
  const sorted = base + OFF_SORTED;
  memory.fill(count, 0, 32);
  for (let s = 0; s < n; s++) {
    const l = <usize>load<u8>(lens + s);
    store<u16>(count + (l << 1), load<u16>(count + (l << 1)) + 1);
  }
  store<u16>(count, 0);
  let left: i32 = 1;
  let maxLen = 0;
  let at: u32 = 0;
  for (let l = 1; l <= 15; l++) {
    const c = <i32>load<u16>(count + (<usize>l << 1));
    left = (left << 1) - c;
    if (left < 0) return false;
    if (c > 0) maxLen = l;
    store<u16>(first + (<usize>l << 1), <u16>at);
    at += <u32>c;
  }
  for (let s = 0; s < n; s++) {
    const l = <usize>load<u8>(lens + s);
    if (l == 0) continue;
    const fp = first + (l << 1);
    const k = <usize>load<u16>(fp);
    store<u16>(fp, <u16>(k + 1));
    store<u16>(sorted + (k << 1), <u16>s);
  }
  const size = 1 << root;
  memory.fill(table, BAD_BYTE, <usize>size << 2);
  let rev: u32 = 0; // the next code, bit-reversed
  let idx: usize = 0;
  let filled = 2; // entries [0, filled) hold every code of the current length or shorter
  for (let len = 1; len <= min(maxLen, root); len++) {
    if (len > 1) {
      memory.copy(table + (<usize>filled << 2), table, <usize>filled << 2);
      filled <<= 1;
    }
    for (let c = <i32>load<u16>(count + (<usize>len << 1)); c > 0; c--) {
      const s = <i32>load<u16>(sorted + (idx << 1));
      idx++;
      store<u32>(table + (<usize>rev << 2), symbolEntry(alphabet, s, len));
      rev = nextCode(rev, len);
    }
  }
  while (filled < size) {
    memory.copy(table + (<usize>filled << 2), table, <usize>filled << 2);
    filled <<= 1;
  }
  // Longer codes: one sub-table of (maxLen - root) bits per primary slot they share.
  const subBits = maxLen > root ? maxLen - root : 0;
  const subSize = 1 << subBits;
  let subNext = size;
  for (let len = root + 1; len <= maxLen; len++) {
    for (let c = <i32>load<u16>(count + (<usize>len << 1)); c > 0; c--) {
      const s = <i32>load<u16>(sorted + (idx << 1));
      idx++;
      const e = symbolEntry(alphabet, s, len);
      const slot = table + (<usize>(rev & <u32>(size - 1)) << 2);
      let ptr = load<u32>(slot);
      if (<i32>ptr < 0 || ((ptr >> 12) & 7) != K_SUB) {
        if (subNext + subSize > capacity) return false;
        ptr = entry(K_SUB, 0, subBits, subNext);
        store<u32>(slot, ptr);
        memory.fill(table + (<usize>subNext << 2), BAD_BYTE, <usize>subSize << 2);
        subNext += subSize;
      }
      const start = <i32>(ptr >> 16);
      for (let i = <i32>(rev >> <u32>root); i < subSize; i += 1 << (len - root)) {
        store<u32>(table + (<usize>(start + i) << 2), e);
      }
      rev = nextCode(rev, len);
    }
  }
  if (alphabet == A_LITLEN && root > LIT_ROOT) pairLiterals(table, root);
  return true;
}

/**
 * The canonical code after `rev` (both `len` bits, bit-reversed): adding one to the code
 * sets its lowest clear bit and clears the bits below, i.e. the highest clear bit of `rev`.
 * After the last code of a length the result, one bit longer, is the next length's first.
 */
@inline function nextCode(rev: u32, len: i32): u32 {
  const top = <u32>1 << (31 - clz(rev ^ ((<u32>1 << <u32>len) - 1)));
  return (rev & (top - 1)) | top;
}

/**
 * Makes each primary entry whose literal leaves room for a second literal code within the
 * root bits decode both. Index i's bits after the first code are i >> len1, and the entry
 * there decodes them when its code fits in root - len1 bits. Going downwards, every index
 * read (<= i) still holds its single-literal entry.
 */
function pairLiterals(table: usize, root: i32): void {
  for (let i = (1 << root) - 1; i >= 0; i--) {
    const slot = table + (<usize>i << 2);
    const e = load<u32>(slot);
    const len1 = e & 0x1f;
    const e2 = load<u32>(table + (<usize>(<u32>i >> len1) << 2));
    const pair = (e & 0xff00ff00) | ((e2 & 0xff00) << 8) | LIT_PAIR | (len1 + (e2 & 0x1f));
    store<u32>(slot, select<u32>(pair, e, <i32>(e & e2) < 0 && <i32>(len1 + (e2 & 0x1f)) <= root));
  }
}

// Bit reader and output state shared by the block decoders of one call.
let inPtr: usize = 0;
let inEnd: usize = 0;
let bitBuf: u64 = 0;
let bitCnt: u32 = 0;
// Placeholder while no call is running, so the caller's buffer is not kept alive.
const NO_OUT = new ByteBuf(0);
let outBuf: ByteBuf = NO_OUT;
let outLimit: i32 = 0; // absolute out.length that must not be exceeded
let windowStart: i32 = 0; // out.length where the current stream began (distances stop here)

const OK = 0;
const INVALID = 1;
const LIMIT = 2;

/** Tops the bit buffer up to 56-63 bits (never 64: the branch-free refill relies on that). */
function refill(): void {
  let p = inPtr;
  let bb = bitBuf;
  let bc = bitCnt;
  while (bc < 56 && p < inEnd) {
    bb |= (<u64>load<u8>(p)) << (<u64>bc);
    p++;
    bc += 8;
  }
  inPtr = p;
  bitBuf = bb;
  bitCnt = bc;
}

/** Makes sure `n` (≤ 56) bits are buffered; false when the input ran out. */
@inline function need(n: u32): bool {
  if (bitCnt < n) refill();
  return bitCnt >= n;
}

@inline function take(n: u32): u32 {
  const v = <u32>bitBuf & ((1 << n) - 1);
  bitBuf >>= <u64>n;
  bitCnt -= n;
  return v;
}

/** Drops the bits up to the next byte boundary and gives back whole unread bytes. */
function alignToByte(): void {
  inPtr -= <usize>(bitCnt >> 3);
  bitBuf = 0;
  bitCnt = 0;
}

/** Makes room for `n` more output bytes; LIMIT if that would pass the cap. */
function reserveOut(n: i32): i32 {
  const b = outBuf;
  if (n > outLimit - b.length) return LIMIT;
  b.ensure(n);
  return OK;
}

function storedBlock(): i32 {
  alignToByte();
  const p = inPtr;
  if (inEnd - p < 4) return INVALID;
  const len = <i32>load<u16>(p);
  const nlen = <i32>load<u16>(p, 2);
  if ((len ^ 0xffff) != nlen) return INVALID;
  if (<usize>len > inEnd - p - 4) return INVALID;
  const r = reserveOut(len);
  if (r != OK) return r;
  const b = outBuf;
  memory.copy(b.ptr + <usize>b.length, p + 4, <usize>len);
  b.length += len;
  inPtr = p + 4 + <usize>len;
  return OK;
}

let dynLitRoot: i32 = LIT_ROOT; // root bits of the dynamic literal/length table

function dynamicTables(): i32 {
  if (!need(14)) return INVALID;
  const nlit = <i32>take(5) + 257;
  const ndist = <i32>take(5) + 1;
  const ncl = <i32>take(4) + 4;
  if (nlit > 286 || ndist > 30) return INVALID;
  const lens = base + OFF_LENS;
  memory.fill(lens, 0, 19);
  for (let i = 0; i < ncl; i++) {
    if (!need(3)) return INVALID;
    store<u8>(lens + <usize>load<u8>(CL_ORDER + i), <u8>take(3));
  }
  const cl = base + OFF_CL;
  if (!buildTable(lens, 19, cl, CL_ROOT, A_CODELEN, 1 << CL_ROOT)) return INVALID;
  const total = nlit + ndist;
  let i = 0;
  while (i < total) {
    if (bitCnt < 14) refill();
    const e = load<u32>(cl + (<usize>(<u32>bitBuf & ((1 << CL_ROOT) - 1)) << 2));
    const nb = e & 0xff;
    if (((e >> 12) & 7) == K_BAD || nb > bitCnt) return INVALID;
    take(nb);
    const sym = e >> 16;
    if (sym < 16) {
      store<u8>(lens + i, <u8>sym);
      i++;
      continue;
    }
    let rep: i32;
    let val: u8 = 0;
    if (sym == 16) {
      if (i == 0 || !need(2)) return INVALID;
      val = load<u8>(lens + i - 1);
      rep = 3 + <i32>take(2);
    } else if (sym == 17) {
      if (!need(3)) return INVALID;
      rep = 3 + <i32>take(3);
    } else {
      if (!need(7)) return INVALID;
      rep = 11 + <i32>take(7);
    }
    if (i + rep > total) return INVALID;
    memory.fill(lens + i, val, rep);
    i += rep;
  }
  // A block without an end-of-block code could never finish.
  if (load<u8>(lens + 256) == 0) return INVALID;
  dynLitRoot = inEnd - inPtr >= LONG_BLOCK_INPUT ? LIT_ROOT_LONG : LIT_ROOT;
  if (!buildTable(lens, nlit, base + OFF_DYN_LIT, dynLitRoot, A_LITLEN, LIT_TABLE_SIZE)) return INVALID;
  if (!buildTable(lens + nlit, ndist, base + OFF_DYN_DIST, DIST_ROOT, A_DIST, DIST_TABLE_SIZE)) {
    return INVALID;
  }
  return OK;
}

/** Decodes one Huffman-coded block. The hot loop keeps reader and writer state in locals. */
function huffmanBlock(litT: usize, distT: usize, litRoot: i32): i32 {
  let p = inPtr;
  const end = inEnd;
  let bb = bitBuf;
  let bc = bitCnt;
  const b = outBuf;
  let optr = b.ptr;
  let olen = b.length;
  const lim = outLimit;
  let cap = b.capacity;
  let avail = min(cap, lim); // a pair of literals can be stored below this without checks
  const wstart = windowStart;
  const litMask: u32 = (1 << <u32>litRoot) - 1;
  let status = OK;
  while (true) {
    if (end - p >= 8) {
      // Branch-free refill: whole bytes that fit are counted; the partial byte's bits above
      // bc are the same input bits the next refill will OR in again.
      bb |= load<u64>(p) << (<u64>bc);
      p += <usize>((63 - bc) >> 3);
      bc |= 56;
    } else {
      while (bc < 56 && p < end) {
        bb |= (<u64>load<u8>(p)) << (<u64>bc);
        p++;
        bc += 8;
      }
    }
    let e = load<u32>(litT + (<usize>(<u32>bb & litMask) << 2));
    if (<i32>e >= 0 && ((e >> 12) & 7) == K_SUB) {
      const idx = (e >> 16) + (<u32>(bb >> <u64>litRoot) & ((1 << (e & 0xff)) - 1));
      e = load<u32>(litT + (<usize>idx << 2));
    }
    if (<i32>e < 0) {
      // One or two literals, written as a u16 (the second byte is overwritten when unused).
      let nb = e & 0x1f;
      if (nb > bc || olen + 2 > avail) {
        // Near the end of the input, the output room or the cap: the first literal alone,
        // checked as a single-literal table would be.
        nb = (e >> 24) & 0xf;
        if (nb > bc) {
          status = INVALID;
          break;
        }
        if (olen >= lim) {
          status = LIMIT;
          break;
        }
        if (olen >= cap) {
          b.length = olen;
          b.ensure(1);
          optr = b.ptr;
          cap = b.capacity;
          avail = min(cap, lim);
        }
        store<u8>(optr + <usize>olen, <u8>(e >> 8));
        bb >>= <u64>nb;
        bc -= nb;
        olen++;
        continue;
      }
      store<u16>(optr + <usize>olen, <u16>(e >> 8));
      olen += 1 + <i32>((e >> 5) & 1);
      bb >>= <u64>nb;
      bc -= nb;
      // A refill leaves at least 41 bits after one entry: enough for the next primary entry,
      // taken here when it is literals with room to store them (anything else goes round).
      e = load<u32>(litT + (<usize>(<u32>bb & litMask) << 2));
      nb = e & 0x1f;
      if (<i32>e < 0 && nb <= bc && olen + 2 <= avail) {
        store<u16>(optr + <usize>olen, <u16>(e >> 8));
        olen += 1 + <i32>((e >> 5) & 1);
        bb >>= <u64>nb;
        bc -= nb;
      }
      continue;
    }
    const kind = (e >> 12) & 7;
    const nb = e & 0xff;
    if (kind == K_BAD || nb > bc) {
      status = INVALID;
      break;
    }
    bb >>= <u64>nb;
    bc -= nb;
    if (kind == K_END) break;
    // Length: base plus extra bits. At most 15+5+15+13 bits follow a refill, which left ≥ 56
    // bits unless the input is ending, so the counts below only fail on truncated input.
    let xb = (e >> 8) & 0xf;
    if (xb > bc) {
      status = INVALID;
      break;
    }
    const length = <i32>((e >> 16) + (<u32>bb & ((1 << xb) - 1)));
    bb >>= <u64>xb;
    bc -= xb;
    let d = load<u32>(distT + (<usize>(<u32>bb & ((1 << DIST_ROOT) - 1)) << 2));
    if (((d >> 12) & 7) == K_SUB) {
      const idx = (d >> 16) + (<u32>(bb >> DIST_ROOT) & ((1 << (d & 0xff)) - 1));
      d = load<u32>(distT + (<usize>idx << 2));
    }
    const dnb = d & 0xff;
    if (((d >> 12) & 7) == K_BAD || dnb > bc) {
      status = INVALID;
      break;
    }
    bb >>= <u64>dnb;
    bc -= dnb;
    xb = (d >> 8) & 0xf;
    if (xb > bc) {
      status = INVALID;
      break;
    }
    const dist = <i32>((d >> 16) + (<u32>bb & ((1 << xb) - 1)));
    bb >>= <u64>xb;
    bc -= xb;
    if (dist > olen - wstart) {
      status = INVALID;
      break;
    }
    if (length > lim - olen) {
      status = LIMIT;
      break;
    }
    if (length > cap - olen) {
      b.length = olen;
      b.ensure(length);
      optr = b.ptr;
      cap = b.capacity;
      avail = min(cap, lim);
    }
    const dst = optr + <usize>olen;
    const from = dst - <usize>dist;
    if (dist >= 8 && length <= cap - olen - 8) {
      // Whole words, up to 7 bytes past the end (overwritten later, within capacity). Each
      // word reads only bytes before the one it writes, so overlapping copies repeat as
      // they should.
      let i = 0;
      if (dist >= 16) {
        for (; i + 8 <= length; i += 16) v128.store(dst + <usize>i, v128.load(from + <usize>i));
      }
      while (i < length) {
        store<u64>(dst + <usize>i, load<u64>(from + <usize>i));
        i += 8;
      }
    } else if (dist >= length) {
      memory.copy(dst, from, <usize>length);
    } else if (dist == 1) {
      memory.fill(dst, load<u8>(from), <usize>length);
    } else {
      for (let i = 0; i < length; i++) store<u8>(dst + <usize>i, load<u8>(from + <usize>i));
    }
    olen += length;
  }
  inPtr = p;
  bitBuf = bb;
  bitCnt = bc;
  b.length = olen;
  return status;
}

/** Decodes a raw DEFLATE stream starting at inPtr (byte-aligned); leaves inPtr after it. */
function inflateStream(): i32 {
  bitBuf = 0;
  bitCnt = 0;
  windowStart = outBuf.length;
  while (true) {
    if (!need(3)) return INVALID;
    const final = take(1);
    const type = take(2);
    let r: i32;
    if (type == 0) r = storedBlock();
    else if (type == 1) r = huffmanBlock(base + OFF_FIX_LIT, base + OFF_FIX_DIST, LIT_ROOT);
    else if (type == 2) {
      r = dynamicTables();
      if (r == OK) r = huffmanBlock(base + OFF_DYN_LIT, base + OFF_DYN_DIST, dynLitRoot);
    } else r = INVALID;
    if (r != OK) return r;
    if (final) break;
  }
  alignToByte();
  return OK;
}

@inline function zlibHeaderOk(cmf: u32, flg: u32): bool {
  return (cmf & 0x0f) == 8 && cmf >> 4 <= 7 && ((cmf << 8) | flg) % 31 == 0;
}

function inflateZlib(): i32 {
  const p = inPtr;
  if (inEnd - p < 2) return INVALID;
  const cmf = <u32>load<u8>(p);
  const flg = <u32>load<u8>(p, 1);
  // A preset dictionary (FDICT) is not something an HTTP body can use.
  if (!zlibHeaderOk(cmf, flg) || flg & 0x20) return INVALID;
  inPtr = p + 2;
  const start = outBuf.length;
  const r = inflateStream();
  if (r != OK) return r;
  const q = inPtr;
  if (inEnd - q < 4) return INVALID;
  const want = bswap<u32>(load<u32>(q));
  if (adler32(outBuf.ptr + <usize>start, outBuf.length - start) != want) return INVALID;
  inPtr = q + 4;
  return OK;
}

/** Skips a zero-terminated header field; false if the input ends first. */
function skipZeroTerminated(): bool {
  let p = inPtr;
  while (p < inEnd) {
    if (load<u8>(p) == 0) {
      inPtr = p + 1;
      return true;
    }
    p++;
  }
  return false;
}

function gzipMember(): i32 {
  const head = inPtr;
  if (inEnd - head < 10) return INVALID;
  const flg = <u32>load<u8>(head, 3);
  if (load<u8>(head) != 0x1f || load<u8>(head, 1) != 0x8b || load<u8>(head, 2) != 8) return INVALID;
  if (flg & 0xe0) return INVALID; // reserved flags must be zero
  inPtr = head + 10;
  if (flg & 4) {
    // FEXTRA
    if (inEnd - inPtr < 2) return INVALID;
    const xlen = <usize>load<u16>(inPtr);
    if (inEnd - inPtr - 2 < xlen) return INVALID;
    inPtr += 2 + xlen;
  }
  if (flg & 8 && !skipZeroTerminated()) return INVALID; // FNAME
  if (flg & 16 && !skipZeroTerminated()) return INVALID; // FCOMMENT
  if (flg & 2) {
    // FHCRC: low 16 bits of the CRC-32 of the header so far.
    if (inEnd - inPtr < 2) return INVALID;
    const want = <u32>load<u16>(inPtr);
    if ((crc32(head, <i32>(inPtr - head)) & 0xffff) != want) return INVALID;
    inPtr += 2;
  }
  const start = outBuf.length;
  const r = inflateStream();
  if (r != OK) return r;
  const q = inPtr;
  if (inEnd - q < 8) return INVALID;
  const n = outBuf.length - start;
  if (crc32(outBuf.ptr + <usize>start, n) != load<u32>(q)) return INVALID;
  if (<u32>n != load<u32>(q, 4)) return INVALID;
  inPtr = q + 8;
  return OK;
}

function inflateGzip(): i32 {
  // Concatenated members form one stream (RFC 1952 §2.2); anything after the last member
  // that does not start with the gzip magic is ignored, as gzip(1) and Node's zlib do.
  let r = gzipMember();
  while (r == OK && inEnd - inPtr >= 2 && load<u8>(inPtr) == 0x1f && load<u8>(inPtr, 1) == 0x8b) {
    r = gzipMember();
  }
  return r;
}

function run(src: usize, len: i32, wrapper: Wrapper): i32 {
  inPtr = src;
  inEnd = src + <usize>len;
  if (wrapper == Wrapper.Raw) return inflateStream();
  if (wrapper == Wrapper.Zlib) return inflateZlib();
  if (wrapper == Wrapper.Gzip) return inflateGzip();
  if (len >= 2) {
    const b0 = <u32>load<u8>(src);
    const b1 = <u32>load<u8>(src, 1);
    if (b0 == 0x1f && b1 == 0x8b) return inflateGzip();
    if (zlibHeaderOk(b0, b1)) {
      // "Content-Encoding: deflate" is sent both zlib-wrapped and raw; a raw stream can
      // start with bytes that pass the zlib header check, so fall back to raw.
      const start = outBuf.length;
      const r = inflateZlib();
      if (r != INVALID) return r;
      outBuf.length = start;
      inPtr = src;
    }
  }
  return inflateStream();
}

/**
 * Decompresses `len` bytes at `src`, appending at most `maxOutput` bytes to `out`.
 * On Invalid or LimitExceeded `out.length` is restored to its value on entry.
 */
export function inflate(src: usize, len: i32, wrapper: Wrapper, maxOutput: i32, out: ByteBuf): InflateResult {
  ensureScratch();
  const start = out.length;
  if (len < 0) len = 0;
  if (maxOutput < 0) maxOutput = 0;
  outBuf = out;
  outLimit = maxOutput > I32.MAX_VALUE - start ? I32.MAX_VALUE : start + maxOutput;
  // Typical text compresses 3-5x; start there and let doubling handle the rest.
  out.reserve(<i32>min<i64>(<i64>start + <i64>len * 4 + 256, <i64>outLimit));
  const r = run(src, len, wrapper);
  outBuf = NO_OUT;
  if (r == OK) return InflateResult.Ok;
  out.length = start;
  return r == LIMIT ? InflateResult.LimitExceeded : InflateResult.Invalid;
}
