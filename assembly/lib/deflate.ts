// DEFLATE compressor (RFC 1951) with zlib (RFC 1950) and gzip (RFC 1952) wrappers.
//
// LZ77 over the whole input held in memory: a 4-byte hash with chains through a 32 KiB
// window, lazy matching with zlib level-6-like limits. Symbols are collected per block
// (16 Ki symbols) and each block is sent as whichever of dynamic Huffman, fixed Huffman or
// stored is smallest; dynamic codes are built with Moffat-Katajainen's in-place algorithm
// and limited to 15 bits (7 for the code-length code) by folding long codes and repairing the
// Kraft sum. All working memory is one module-level scratch buffer (~270 KiB) allocated on
// first use.

import { ByteBuf } from "./bytes";
import { adler32, crc32 } from "./checksum";
import {
  CL_ORDER,
  DIST_BASE,
  DIST_EXTRA,
  LEN_BASE,
  LEN_EXTRA,
  reverseBits,
  Wrapper,
} from "./inflate";

const WSIZE = 32768;
const WMASK = WSIZE - 1;
const MAX_DIST = WSIZE - 1;
const MAX_HASH_BITS = 15;
const MIN_MATCH = 3;
const MAX_MATCH = 258;
const SYM_MAX = 16384;
// zlib level 6: shorten the chain when the previous match is already good, skip the lazy
// search past LAZY, stop searching at NICE, and drop 3-byte matches (only hash collisions
// find them) that are far away: their distance code costs more than the literals.
const GOOD = 8;
const LAZY = 16;
const NICE = 128;
const CHAIN = 128;
const TOO_FAR = 4096;

// Scratch layout (byte offsets).
const OFF_HEAD = 0; // i32[1 << MAX_HASH_BITS]: last position + 1 per hash
const OFF_PREV = OFF_HEAD + (4 << MAX_HASH_BITS); // u16[WSIZE]: distance to previous same-hash position
const OFF_SYMS = OFF_PREV + 2 * WSIZE; // u32[SYM_MAX]: literal byte, or dist << 8 | (len - 3)
const OFF_LITF = OFF_SYMS + 4 * SYM_MAX; // u32[288] frequencies
const OFF_DISTF = OFF_LITF + 4 * 288; // u32[32]
const OFF_CLF = OFF_DISTF + 4 * 32; // u32[20]
const OFF_LITL = OFF_CLF + 4 * 20; // u8[288] code lengths
const OFF_DISTL = OFF_LITL + 288; // u8[32]
const OFF_CLL = OFF_DISTL + 32; // u8[20]
const OFF_LITC = OFF_CLL + 20; // u16[288] bit-reversed codes
const OFF_DISTC = OFF_LITC + 2 * 288; // u16[32]
const OFF_CLC = OFF_DISTC + 2 * 32; // u16[20]
const OFF_FLITL = OFF_CLC + 2 * 20; // fixed code: u8[288], u16[288], u8[32], u16[32]
const OFF_FLITC = OFF_FLITL + 288;
const OFF_FDISTL = OFF_FLITC + 2 * 288;
const OFF_FDISTC = OFF_FDISTL + 32;
const OFF_KEYS = OFF_FDISTC + 2 * 32; // u32[288]: freq << 16 | symbol, sorted
const OFF_TMP = OFF_KEYS + 4 * 288; // u32[288]
const OFF_DEPTH = OFF_TMP + 4 * 288; // i32[288]
const OFF_HIST = OFF_DEPTH + 4 * 288; // u32[256]
const OFF_BLCOUNT = OFF_HIST + 4 * 256; // u32[32]
const OFF_NEXTC = OFF_BLCOUNT + 4 * 32; // u32[16]
const OFF_LCODE = OFF_NEXTC + 4 * 16; // u8[256]: length - 3 → length code index
const OFF_DCODE = OFF_LCODE + 256; // u8[512]: distance → distance code (see distCode)
const OFF_SEQ = OFF_DCODE + 512; // u8[320]: litlen + dist code lengths, back to back
const OFF_RLE = OFF_SEQ + 320; // u16[320]: code-length symbols, extra bits << 5
const SCRATCH_SIZE = OFF_RLE + 2 * 320;

let scratch: ArrayBuffer | null = null;
let base: usize = 0;

function ensureScratch(): void {
  if (scratch != null) return;
  const s = new ArrayBuffer(SCRATCH_SIZE);
  scratch = s;
  base = changetype<usize>(s);
  for (let c = 0; c < 28; c++) {
    const b = <i32>load<u16>(LEN_BASE + (<usize>c << 1));
    const n = 1 << load<u8>(LEN_EXTRA + c);
    for (let k = 0; k < n; k++) if (b + k < MAX_MATCH) store<u8>(base + OFF_LCODE + b + k - MIN_MATCH, <u8>c);
  }
  store<u8>(base + OFF_LCODE + MAX_MATCH - MIN_MATCH, 28);
  for (let c = 0; c < 30; c++) {
    const b = <i32>load<u16>(DIST_BASE + (<usize>c << 1));
    const n = 1 << load<u8>(DIST_EXTRA + c);
    for (let d = b; d < b + n; d++) {
      const i = d <= 256 ? d - 1 : 256 + ((d - 1) >> 7);
      store<u8>(base + OFF_DCODE + i, <u8>c);
    }
  }
  const fl = base + OFF_FLITL;
  for (let i = 0; i < 288; i++) store<u8>(fl + i, i < 144 ? 8 : i < 256 ? 9 : i < 280 ? 7 : 8);
  canonicalCodes(fl, base + OFF_FLITC, 288);
  memory.fill(base + OFF_FDISTL, 5, 32);
  canonicalCodes(base + OFF_FDISTL, base + OFF_FDISTC, 32);
}

@inline function distCode(dist: u32): u32 {
  const i = dist <= 256 ? dist - 1 : 256 + ((dist - 1) >> 7);
  return <u32>load<u8>(base + OFF_DCODE + <usize>i);
}

// ---- Huffman code construction -------------------------------------------------------

/** Assigns canonical (RFC 1951 §3.2.2), bit-reversed codes to the lengths at `lens`. */
function canonicalCodes(lens: usize, codes: usize, n: i32): void {
  const blc = base + OFF_BLCOUNT;
  const next = base + OFF_NEXTC;
  memory.fill(blc, 0, 4 * 16);
  for (let s = 0; s < n; s++) {
    const p = blc + (<usize>load<u8>(lens + s) << 2);
    store<u32>(p, load<u32>(p) + 1);
  }
  store<u32>(blc, 0);
  let code: u32 = 0;
  for (let bits = 1; bits < 16; bits++) {
    code = (code + load<u32>(blc + (<usize>(bits - 1) << 2))) << 1;
    store<u32>(next + (<usize>bits << 2), code);
  }
  for (let s = 0; s < n; s++) {
    const l = <u32>load<u8>(lens + s);
    if (l == 0) continue;
    const p = next + (<usize>l << 2);
    const c = load<u32>(p);
    store<u32>(p, c + 1);
    store<u16>(codes + (<usize>s << 1), <u16>reverseBits(c, l));
  }
}

@inline function getA(i: i32): i32 {
  return load<i32>(base + OFF_DEPTH + (<usize>i << 2));
}

@inline function setA(i: i32, v: i32): void {
  store<i32>(base + OFF_DEPTH + (<usize>i << 2), v);
}

/**
 * Optimal code lengths for the `n` ascending weights in A (Moffat & Katajainen, "In-place
 * calculation of minimum-redundancy codes", 1995). On return A[i] is the depth of leaf i.
 */
function minimumRedundancy(n: i32): void {
  setA(0, getA(0) + getA(1));
  let root = 0;
  let leaf = 2;
  for (let next = 1; next < n - 1; next++) {
    // First child: the smaller of the next internal node and the next leaf.
    if (leaf >= n || getA(root) < getA(leaf)) {
      setA(next, getA(root));
      setA(root++, next);
    } else setA(next, getA(leaf++));
    // Second child, same choice.
    if (leaf >= n || (root < next && getA(root) < getA(leaf))) {
      setA(next, getA(next) + getA(root));
      setA(root++, next);
    } else setA(next, getA(next) + getA(leaf++));
  }
  // Parent pointers → internal node depths.
  setA(n - 2, 0);
  for (let next = n - 3; next >= 0; next--) setA(next, getA(getA(next)) + 1);
  // Internal depths → leaf depths.
  let avail = 1;
  let used = 0;
  let depth = 0;
  let root2 = n - 2;
  let next = n - 1;
  while (avail > 0) {
    while (root2 >= 0 && getA(root2) == depth) {
      used++;
      root2--;
    }
    while (avail > used) {
      setA(next--, depth);
      avail--;
    }
    avail = 2 * used;
    depth++;
    used = 0;
  }
}

/** Builds length-limited Huffman code lengths and codes for `n` symbol frequencies. */
function buildCode(freq: usize, n: i32, lens: usize, codes: usize, limit: i32): void {
  const keys = base + OFF_KEYS;
  const tmp = base + OFF_TMP;
  let cnt = 0;
  for (let s = 0; s < n; s++) {
    store<u8>(lens + s, 0);
    const f = load<u32>(freq + (<usize>s << 2));
    if (f != 0) store<u32>(keys + (<usize>(cnt++) << 2), (min<u32>(f, 0xffff) << 16) | <u32>s);
  }
  // Every code gets at least two symbols: a one-symbol code would have a zero-bit code,
  // which DEFLATE cannot express (zlib does the same).
  for (let s = 0; cnt < 2; s++) {
    if (load<u32>(freq + (<usize>s << 2)) == 0) store<u32>(keys + (<usize>(cnt++) << 2), (1 << 16) | <u32>s);
  }
  // Radix sort by weight (bits 16-31), one byte per pass.
  radixPass(keys, tmp, cnt, 16);
  radixPass(tmp, keys, cnt, 24);
  for (let i = 0; i < cnt; i++) setA(i, <i32>(load<u32>(keys + (<usize>i << 2)) >>> 16));
  minimumRedundancy(cnt);
  const blc = base + OFF_BLCOUNT;
  memory.fill(blc, 0, 4 * 32);
  let maxLen = 0;
  for (let i = 0; i < cnt; i++) {
    const d = min(getA(i), 31);
    if (d > maxLen) maxLen = d;
    const p = blc + (<usize>d << 2);
    store<u32>(p, load<u32>(p) + 1);
  }
  if (maxLen > limit) {
    // Fold over-long codes to `limit`, then restore the Kraft sum: each step moves one
    // code from the limit up a level by splitting the longest shorter code.
    const lp = blc + (<usize>limit << 2);
    for (let l = limit + 1; l <= maxLen; l++) {
      store<u32>(lp, load<u32>(lp) + load<u32>(blc + (<usize>l << 2)));
      store<u32>(blc + (<usize>l << 2), 0);
    }
    let total: u32 = 0;
    for (let l = 1; l <= limit; l++) total += load<u32>(blc + (<usize>l << 2)) << (limit - l);
    while (total > (<u32>1 << limit)) {
      store<u32>(lp, load<u32>(lp) - 1);
      for (let l = limit - 1; l > 0; l--) {
        const p = blc + (<usize>l << 2);
        const c = load<u32>(p);
        if (c != 0) {
          store<u32>(p, c - 1);
          store<u32>(p + 4, load<u32>(p + 4) + 2);
          break;
        }
      }
      total--;
    }
    maxLen = limit;
  }
  // Least frequent symbols (sorted first) get the longest codes.
  let idx = 0;
  for (let l = maxLen; l > 0; l--) {
    const c = <i32>load<u32>(blc + (<usize>l << 2));
    for (let k = 0; k < c; k++) {
      store<u8>(lens + <usize>(load<u32>(keys + (<usize>(idx++) << 2)) & 0xffff), <u8>l);
    }
  }
  canonicalCodes(lens, codes, n);
}

/**
 * Huffman code lengths for up to 288 symbol frequencies, limited to `limit` bits: the same
 * construction the compressor uses for its blocks, exposed so tests can check the limiting.
 */
export function codeLengths(freqs: u32[], limit: i32): u8[] {
  ensureScratch();
  const n = min(freqs.length, 288);
  const f = new StaticArray<u32>(288);
  for (let i = 0; i < n; i++) f[i] = freqs[i];
  const lens = new StaticArray<u8>(288);
  const codes = new StaticArray<u16>(288);
  buildCode(changetype<usize>(f), n, changetype<usize>(lens), changetype<usize>(codes), limit);
  const out = new Array<u8>(n);
  for (let i = 0; i < n; i++) out[i] = lens[i];
  return out;
}

function radixPass(from: usize, to: usize, n: i32, shift: u32): void {
  const hist = base + OFF_HIST;
  memory.fill(hist, 0, 4 * 256);
  for (let i = 0; i < n; i++) {
    const p = hist + (<usize>((load<u32>(from + (<usize>i << 2)) >>> shift) & 0xff) << 2);
    store<u32>(p, load<u32>(p) + 1);
  }
  let sum: u32 = 0;
  for (let b = 0; b < 256; b++) {
    const p = hist + (<usize>b << 2);
    const c = load<u32>(p);
    store<u32>(p, sum);
    sum += c;
  }
  for (let i = 0; i < n; i++) {
    const k = load<u32>(from + (<usize>i << 2));
    const p = hist + (<usize>((k >>> shift) & 0xff) << 2);
    const at = load<u32>(p);
    store<u32>(p, at + 1);
    store<u32>(to + (<usize>at << 2), k);
  }
}

// ---- Bit writer ----------------------------------------------------------------------

let wOut: ByteBuf = new ByteBuf(0);
const NO_OUT = wOut; // placeholder between calls so the caller's buffer is not retained
let wPtr: usize = 0;
let wPos: i32 = 0;
let wBits: u64 = 0;
let wCnt: u32 = 0;

/** Makes room for `n` more bytes (plus slack for the 4-byte flush stores). */
function reserveOut(n: i32): void {
  wOut.length = wPos;
  wOut.ensure(n + 8);
  wPtr = wOut.ptr;
}

/** Appends up to 32 bits (fewer than 32 are pending before each call). */
@inline function putBits(v: u32, n: u32): void {
  wBits |= (<u64>v) << (<u64>wCnt);
  wCnt += n;
  if (wCnt >= 32) {
    store<u32>(wPtr + <usize>wPos, <u32>wBits);
    wPos += 4;
    wBits >>= 32;
    wCnt -= 32;
  }
}

/** Pads the pending bits to a byte boundary and writes them out. */
function alignBits(): void {
  while (wCnt > 0) {
    store<u8>(wPtr + <usize>wPos, <u8>wBits);
    wPos++;
    wBits >>= 8;
    wCnt = wCnt > 8 ? wCnt - 8 : 0;
  }
}

// ---- Block encoding ------------------------------------------------------------------

let src: usize = 0;
let srcLen: i32 = 0;
let nsyms: i32 = 0;
let blockStart: i32 = 0; // first input byte of the current block
let covered: i32 = 0; // input bytes covered by the symbols emitted so far

function writeSymbols(lc: usize, ll: usize, dc: usize, dl: usize): void {
  const syms = base + OFF_SYMS;
  const lcode = base + OFF_LCODE;
  const ptr = wPtr;
  let pos = wPos;
  let bits = wBits;
  let cnt = wCnt;
  for (let i = 0; i < nsyms; i++) {
    const v = load<u32>(syms + (<usize>i << 2));
    if (v < 256) {
      bits |= (<u64>load<u16>(lc + (<usize>v << 1))) << (<u64>cnt);
      cnt += <u32>load<u8>(ll + v);
    } else {
      const l = v & 0xff;
      const d = v >> 8;
      const c = <usize>load<u8>(lcode + l);
      const sym = <usize>257 + c;
      const n = <u32>load<u8>(ll + sym);
      const extra = l + MIN_MATCH - <u32>load<u16>(LEN_BASE + (c << 1));
      bits |= (<u64>(<u32>load<u16>(lc + (sym << 1)) | (extra << n))) << (<u64>cnt);
      cnt += n + <u32>load<u8>(LEN_EXTRA + c);
      if (cnt >= 32) {
        store<u32>(ptr + <usize>pos, <u32>bits);
        pos += 4;
        bits >>= 32;
        cnt -= 32;
      }
      const dcode = <usize>distCode(d);
      const dn = <u32>load<u8>(dl + dcode);
      const dextra = d - <u32>load<u16>(DIST_BASE + (dcode << 1));
      bits |= (<u64>(<u32>load<u16>(dc + (dcode << 1)) | (dextra << dn))) << (<u64>cnt);
      cnt += dn + <u32>load<u8>(DIST_EXTRA + dcode);
    }
    if (cnt >= 32) {
      store<u32>(ptr + <usize>pos, <u32>bits);
      pos += 4;
      bits >>= 32;
      cnt -= 32;
    }
  }
  wPos = pos;
  wBits = bits;
  wCnt = cnt;
  putBits(load<u16>(lc + (256 << 1)), load<u8>(ll + 256)); // end of block
}

/** Run-length codes the code lengths (RFC 1951 §3.2.7); returns the number of RLE symbols. */
function rleLengths(total: i32): i32 {
  const seq = base + OFF_SEQ;
  const rle = base + OFF_RLE;
  const clf = base + OFF_CLF;
  memory.fill(clf, 0, 4 * 20);
  let n = 0;
  let i = 0;
  while (i < total) {
    const v = <u32>load<u8>(seq + i);
    let run = 1;
    while (i + run < total && <u32>load<u8>(seq + i + run) == v) run++;
    i += run;
    if (v == 0) {
      while (run >= 11) {
        const r = min(run, 138);
        store<u16>(rle + (<usize>(n++) << 1), <u16>(18 | ((r - 11) << 5)));
        run -= r;
      }
      if (run >= 3) {
        store<u16>(rle + (<usize>(n++) << 1), <u16>(17 | ((run - 3) << 5)));
        run = 0;
      }
    } else {
      store<u16>(rle + (<usize>(n++) << 1), <u16>v);
      run--;
      while (run >= 3) {
        const r = min(run, 6);
        store<u16>(rle + (<usize>(n++) << 1), <u16>(16 | ((r - 3) << 5)));
        run -= r;
      }
    }
    for (; run > 0; run--) store<u16>(rle + (<usize>(n++) << 1), <u16>v);
  }
  for (let k = 0; k < n; k++) {
    const p = clf + (<usize>(load<u16>(rle + (<usize>k << 1)) & 0x1f) << 2);
    store<u32>(p, load<u32>(p) + 1);
  }
  return n;
}

@inline function weighted(freq: usize, lens: usize, n: i32): i64 {
  let sum: i64 = 0;
  for (let s = 0; s < n; s++) sum += <i64>load<u32>(freq + (<usize>s << 2)) * <i64>load<u8>(lens + s);
  return sum;
}

function flushBlock(final: bool): void {
  const litf = base + OFF_LITF;
  const distf = base + OFF_DISTF;
  store<u32>(litf + (256 << 2), 1);
  buildCode(litf, 286, base + OFF_LITL, base + OFF_LITC, 15);
  buildCode(distf, 30, base + OFF_DISTL, base + OFF_DISTC, 15);
  let extra: i64 = 0;
  for (let c = 0; c < 29; c++) {
    extra += <i64>load<u32>(litf + (<usize>(257 + c) << 2)) * <i64>load<u8>(LEN_EXTRA + c);
  }
  for (let c = 0; c < 30; c++) {
    extra += <i64>load<u32>(distf + (<usize>c << 2)) * <i64>load<u8>(DIST_EXTRA + c);
  }

  // Dynamic: trim trailing unused lengths, run-length code them, size the header.
  let hlit = 286;
  while (hlit > 257 && load<u8>(base + OFF_LITL + hlit - 1) == 0) hlit--;
  let hdist = 30;
  while (hdist > 1 && load<u8>(base + OFF_DISTL + hdist - 1) == 0) hdist--;
  memory.copy(base + OFF_SEQ, base + OFF_LITL, hlit);
  memory.copy(base + OFF_SEQ + hlit, base + OFF_DISTL, hdist);
  const nrle = rleLengths(hlit + hdist);
  const clf = base + OFF_CLF;
  const cll = base + OFF_CLL;
  buildCode(clf, 19, cll, base + OFF_CLC, 7);
  let hclen = 19;
  while (hclen > 4 && load<u8>(cll + load<u8>(CL_ORDER + hclen - 1)) == 0) hclen--;
  const dynBits: i64 =
    17 +
    3 * <i64>hclen +
    weighted(clf, cll, 19) +
    2 * <i64>load<u32>(clf + (16 << 2)) +
    3 * <i64>load<u32>(clf + (17 << 2)) +
    7 * <i64>load<u32>(clf + (18 << 2)) +
    weighted(litf, base + OFF_LITL, 286) +
    weighted(distf, base + OFF_DISTL, 30) +
    extra;
  const fixBits: i64 = 3 + weighted(litf, base + OFF_FLITL, 286) + weighted(distf, base + OFF_FDISTL, 30) + extra;
  const rawLen = covered - blockStart;
  const chunks = rawLen == 0 ? 1 : (rawLen + 65534) / 65535;
  // Header bits, worst-case padding and LEN/NLEN per stored block.
  const storedBits: i64 = <i64>chunks * 42 + (<i64>rawLen << 3);

  if (storedBits <= dynBits && storedBits <= fixBits) {
    reserveOut(<i32>(storedBits >> 3) + 16);
    let p = blockStart;
    let left = rawLen;
    for (let k = 0; k < chunks; k++) {
      const n = min(left, 65535);
      left -= n;
      putBits(final && left == 0 ? 1 : 0, 3);
      alignBits();
      store<u16>(wPtr + <usize>wPos, <u16>n);
      store<u16>(wPtr + <usize>wPos + 2, <u16>~n);
      memory.copy(wPtr + <usize>wPos + 4, src + <usize>p, <usize>n);
      wPos += 4 + n;
      p += n;
    }
  } else if (fixBits <= dynBits) {
    reserveOut(<i32>(fixBits >> 3) + 16);
    putBits(final ? 3 : 2, 3);
    writeSymbols(base + OFF_FLITC, base + OFF_FLITL, base + OFF_FDISTC, base + OFF_FDISTL);
  } else {
    reserveOut(<i32>(dynBits >> 3) + 16);
    putBits(final ? 5 : 4, 3);
    putBits(hlit - 257, 5);
    putBits(hdist - 1, 5);
    putBits(hclen - 4, 4);
    for (let i = 0; i < hclen; i++) putBits(load<u8>(cll + load<u8>(CL_ORDER + i)), 3);
    const rle = base + OFF_RLE;
    const clc = base + OFF_CLC;
    for (let k = 0; k < nrle; k++) {
      const r = <u32>load<u16>(rle + (<usize>k << 1));
      const sym = r & 0x1f;
      putBits(load<u16>(clc + (<usize>sym << 1)), load<u8>(cll + sym));
      if (sym == 16) putBits(r >> 5, 2);
      else if (sym == 17) putBits(r >> 5, 3);
      else if (sym == 18) putBits(r >> 5, 7);
    }
    writeSymbols(base + OFF_LITC, base + OFF_LITL, base + OFF_DISTC, base + OFF_DISTL);
  }
  memory.fill(litf, 0, 4 * 288);
  memory.fill(distf, 0, 4 * 32);
  nsyms = 0;
  blockStart = covered;
}

// ---- LZ77 ----------------------------------------------------------------------------

let hashShift: u32 = 0;
let matchDist: i32 = 0;

@inline function hashAt(p: i32): usize {
  // Four bytes, so chains hold only candidates for matches of 4 or more: on JSON batches
  // 3-byte matches cost about as much as the literals they replace, and skipping them made
  // the output ~3% smaller (and faster). Needs p + 4 ≤ srcLen.
  return <usize>((load<u32>(src + <usize>p) * 0x9e3779b1) >>> hashShift);
}

/** Inserts position `p` into its hash chain; returns the previous head (-1 if none). */
@inline function insert(p: i32): i32 {
  const hp = base + OFF_HEAD + (hashAt(p) << 2);
  const old = load<i32>(hp) - 1;
  const d = p - old;
  store<u16>(base + OFF_PREV + (<usize>(p & WMASK) << 1), <u16>(old >= 0 && d <= MAX_DIST ? d : 0));
  store<i32>(hp, p + 1);
  return old;
}

/** Longest match at `pos` longer than `prevLen` along the chain from `cand`; 0 if none. */
function longestMatch(pos: i32, cand: i32, prevLen: i32): i32 {
  const maxLen = min(MAX_MATCH, srcLen - pos);
  let best = prevLen < MIN_MATCH - 1 ? MIN_MATCH - 1 : prevLen;
  if (best >= maxLen) return 0;
  let chain = prevLen >= GOOD ? CHAIN >> 2 : CHAIN;
  const nice = min(NICE, maxLen);
  const limit = pos - MAX_DIST;
  const scan = src + <usize>pos;
  const prev = base + OFF_PREV;
  let bestDist = 0;
  while (true) {
    const m = src + <usize>cand;
    // Cheap rejections first: the byte that would extend the best match, then the first two.
    if (load<u8>(m + <usize>best) == load<u8>(scan + <usize>best) && load<u16>(m) == load<u16>(scan)) {
      let l = 2;
      while (l + 8 <= maxLen) {
        const x = load<u64>(scan + <usize>l) ^ load<u64>(m + <usize>l);
        if (x != 0) {
          l += <i32>(ctz(x) >> 3);
          break;
        }
        l += 8;
      }
      if (l + 8 > maxLen) {
        while (l < maxLen && load<u8>(scan + <usize>l) == load<u8>(m + <usize>l)) l++;
      }
      if (l > best) {
        best = l;
        bestDist = pos - cand;
        if (l >= nice) break;
      }
    }
    if (--chain == 0) break;
    const d = <i32>load<u16>(prev + (<usize>(cand & WMASK) << 1));
    if (d == 0) break;
    cand -= d;
    if (cand < limit) break;
  }
  matchDist = bestDist;
  return bestDist == 0 ? 0 : best;
}

@inline function emitLiteral(c: u32): void {
  store<u32>(base + OFF_SYMS + (<usize>nsyms << 2), c);
  const p = base + OFF_LITF + (<usize>c << 2);
  store<u32>(p, load<u32>(p) + 1);
  covered++;
  if (++nsyms == SYM_MAX) flushBlock(false);
}

function emitMatch(len: i32, dist: i32): void {
  const l = <u32>(len - MIN_MATCH);
  store<u32>(base + OFF_SYMS + (<usize>nsyms << 2), (<u32>dist << 8) | l);
  const lp = base + OFF_LITF + (<usize>(257 + <u32>load<u8>(base + OFF_LCODE + l)) << 2);
  store<u32>(lp, load<u32>(lp) + 1);
  const dp = base + OFF_DISTF + (<usize>distCode(<u32>dist) << 2);
  store<u32>(dp, load<u32>(dp) + 1);
  covered += len;
  if (++nsyms == SYM_MAX) flushBlock(false);
}

function compress(): void {
  const len = srcLen;
  nsyms = 0;
  blockStart = 0;
  covered = 0;
  memory.fill(base + OFF_LITF, 0, 4 * 288);
  memory.fill(base + OFF_DISTF, 0, 4 * 32);
  // Hash table sized to the input so small bodies do not pay for clearing 128 KiB.
  let bits: u32 = 8;
  while (bits < <u32>MAX_HASH_BITS && 1 << bits < len) bits++;
  hashShift = 32 - bits;
  memory.fill(base + OFF_HEAD, 0, <usize>4 << bits);
  const lastHash = len - 3; // positions below this have the 4 readable bytes hashAt needs
  let pos = 0;
  let pending = false; // the byte at pos - 1 is not yet emitted
  let prevLen = 0; // match found at pos - 1 (when pending)
  let prevDist = 0;
  while (pos < len) {
    let curLen = 0;
    let curDist = 0;
    if (pos < lastHash) {
      const cand = insert(pos);
      if (cand >= 0 && prevLen < LAZY && pos - cand <= MAX_DIST) {
        curLen = longestMatch(pos, cand, prevLen);
        curDist = matchDist;
        if (curLen == MIN_MATCH && curDist > TOO_FAR) curLen = 0;
      }
    }
    if (pending && prevLen >= MIN_MATCH && curLen <= prevLen) {
      // Lazy evaluation: the match at pos - 1 is at least as good as the one at pos.
      emitMatch(prevLen, prevDist);
      const stop = pos - 1 + prevLen;
      const hashStop = min(stop, lastHash);
      for (let p = pos + 1; p < hashStop; p++) insert(p);
      pos = stop;
      pending = false;
      prevLen = 0;
      continue;
    }
    if (pending) emitLiteral(load<u8>(src + <usize>pos - 1));
    pending = true;
    prevLen = curLen;
    prevDist = curDist;
    pos++;
  }
  if (pending) emitLiteral(load<u8>(src + <usize>len - 1));
  flushBlock(true);
}

/**
 * Compresses `len` bytes at `src` and appends the result to `out`: a raw DEFLATE stream, or
 * wrapped as zlib or gzip (`Wrapper.Auto` is treated as gzip, the usual HTTP choice).
 */
export function deflate(srcPtr: usize, len: i32, out: ByteBuf, wrapper: Wrapper): void {
  ensureScratch();
  if (len < 0) len = 0;
  const gzip = wrapper == Wrapper.Gzip || wrapper == Wrapper.Auto;
  if (wrapper == Wrapper.Zlib) {
    out.byte(0x78); // deflate, 32 KiB window
    out.byte(0x9c); // default level, header check bits
  } else if (gzip) {
    out.ensure(10);
    const h = out.ptr + <usize>out.length;
    store<u32>(h, 0x00088b1f); // magic, CM = deflate, no flags
    store<u32>(h, 0, 4); // no modification time
    store<u16>(h, 0xff00, 8); // XFL 0, OS unknown
    out.length += 10;
  }
  src = srcPtr;
  srcLen = len;
  wOut = out;
  wPos = out.length;
  wPtr = out.ptr;
  wBits = 0;
  wCnt = 0;
  compress();
  reserveOut(8);
  alignBits();
  out.length = wPos;
  wOut = NO_OUT;
  if (wrapper == Wrapper.Zlib) {
    const a = adler32(srcPtr, len);
    out.ensure(4);
    store<u32>(out.ptr + <usize>out.length, bswap<u32>(a));
    out.length += 4;
  } else if (gzip) {
    out.ensure(8);
    store<u32>(out.ptr + <usize>out.length, crc32(srcPtr, len));
    store<u32>(out.ptr + <usize>out.length, <u32>len, 4);
    out.length += 8;
  }
}
