import { ByteBuf } from "../lib/bytes";
import { deflate } from "../lib/deflate";
import { DIST_BASE, DIST_EXTRA, inflate, InflateResult, LEN_BASE, LEN_EXTRA, reverseBits, Wrapper } from "../lib/inflate";

// Streams below were produced with Node's zlib (deflateRawSync / deflateSync / gzipSync) or
// written bit by bit where zlib cannot produce them; comments give the source.

const TEXT = "The quick brown fox jumps over the lazy dog. The quick brown fox jumps over the lazy dog. ";

// deflateRawSync("stored block!", { level: 0 })
const STORED: u8[] = [1, 13, 0, 242, 255, 115, 116, 111, 114, 101, 100, 32, 98, 108, 111, 99, 107, 33];
// deflateRawSync(TEXT, { strategy: Z_FIXED })
const FIXED: u8[] = [
  11, 201, 72, 85, 40, 44, 205, 76, 206, 86, 72, 42, 202, 47, 207, 83, 72, 203, 175, 80, 200, 42, 205,
  45, 40, 86, 200, 47, 75, 45, 82, 40, 201, 72, 85, 200, 73, 172, 170, 84, 72, 201, 79, 215, 83, 8, 33,
  69, 49, 0,
];
// deflateRawSync(JSON_TEXT, { level: 9 }): one dynamic-Huffman block
const DYNAMIC: u8[] = [
  117, 209, 59, 10, 128, 48, 16, 64, 193, 187, 108, 29, 200, 63, 209, 220, 70, 80, 208, 74, 49, 209, 70,
  188, 187, 96, 41, 207, 126, 186, 185, 100, 25, 165, 24, 37, 219, 208, 102, 41, 162, 79, 171, 215, 125,
  156, 246, 170, 141, 40, 169, 109, 104, 71, 149, 226, 140, 185, 213, 245, 90, 75, 54, 179, 117, 100,
  109, 96, 236, 9, 59, 203, 56, 32, 238, 24, 71, 194, 62, 50, 78, 132, 131, 99, 156, 17, 247, 140, 59,
  194, 49, 49, 238, 9, 39, 255, 115, 130, 129, 249, 111, 144, 11, 191, 135, 15,
];
// deflateSync(TEXT)
const ZLIB: u8[] = [
  120, 156, 11, 201, 72, 85, 40, 44, 205, 76, 206, 86, 72, 42, 202, 47, 207, 83, 72, 203, 175, 80, 200,
  42, 205, 45, 40, 86, 200, 47, 75, 45, 82, 40, 201, 72, 85, 200, 73, 172, 170, 84, 72, 201, 79, 215, 83,
  8, 33, 69, 49, 0, 207, 32, 32, 79,
];
// gzipSync(TEXT)
const GZIP: u8[] = [
  31, 139, 8, 0, 0, 0, 0, 0, 0, 3, 11, 201, 72, 85, 40, 44, 205, 76, 206, 86, 72, 42, 202, 47, 207, 83,
  72, 203, 175, 80, 200, 42, 205, 45, 40, 86, 200, 47, 75, 45, 82, 40, 201, 72, 85, 200, 73, 172, 170,
  84, 72, 201, 79, 215, 83, 8, 33, 69, 49, 0, 4, 16, 68, 161, 90, 0, 0, 0,
];

function jsonText(): string {
  let s = "";
  for (let i = 0; i < 12; i++) {
    if (i > 0) s += ",";
    s += '{"id":' + i.toString() + ',"path":"/v1/orders/' + (i * 7).toString() + '","status":200}';
  }
  return s;
}

function bytes(a: u8[]): Uint8Array {
  const u = new Uint8Array(a.length);
  for (let i = 0; i < a.length; i++) u[i] = a[i];
  return u;
}

function run(a: Uint8Array, w: Wrapper, out: ByteBuf, max: i32 = 1 << 24): InflateResult {
  return inflate(a.dataStart, a.length, w, max, out);
}

function decodes(a: u8[], w: Wrapper, expected: string): void {
  const out = new ByteBuf();
  expect(run(bytes(a), w, out)).toBe(InflateResult.Ok);
  expect(out.toString()).toBe(expected);
}

describe("inflate: Node's zlib streams", () => {
  it("decodes a stored block", () => {
    decodes(STORED, Wrapper.Raw, "stored block!");
  });
  it("decodes a fixed-Huffman block with matches", () => {
    expect((FIXED[0] >> 1) & 3).toBe(1);
    decodes(FIXED, Wrapper.Raw, TEXT);
  });
  it("decodes a dynamic-Huffman block", () => {
    expect((DYNAMIC[0] >> 1) & 3).toBe(2);
    decodes(DYNAMIC, Wrapper.Raw, jsonText());
  });
  it("decodes zlib and gzip wrappers, and detects each with Auto", () => {
    decodes(ZLIB, Wrapper.Zlib, TEXT);
    decodes(GZIP, Wrapper.Gzip, TEXT);
    decodes(ZLIB, Wrapper.Auto, TEXT);
    decodes(GZIP, Wrapper.Auto, TEXT);
    decodes(FIXED, Wrapper.Auto, TEXT);
    decodes(DYNAMIC, Wrapper.Auto, jsonText());
  });
  it("decodes concatenated gzip members as one body", () => {
    const two = new Array<u8>();
    for (let i = 0; i < GZIP.length; i++) two.push(GZIP[i]);
    for (let i = 0; i < GZIP.length; i++) two.push(GZIP[i]);
    decodes(two, Wrapper.Gzip, TEXT + TEXT);
  });
  it("appends after existing content", () => {
    const out = new ByteBuf();
    out.str("prefix:");
    expect(run(bytes(GZIP), Wrapper.Gzip, out)).toBe(InflateResult.Ok);
    expect(out.toString()).toBe("prefix:" + TEXT);
  });
});

describe("inflate: hostile input", () => {
  it("stops a decompression bomb at the cap and restores the output", () => {
    const zeros = new ByteBuf(1 << 20);
    memory.fill(zeros.ptr, 0, 1 << 20);
    zeros.length = 1 << 20;
    const bomb = new ByteBuf();
    deflate(zeros.ptr, zeros.length, bomb, Wrapper.Gzip);
    expect(bomb.length).toBeLessThan(2000);
    const out = new ByteBuf();
    out.str("keep");
    expect(inflate(bomb.ptr, bomb.length, Wrapper.Gzip, 1000, out)).toBe(InflateResult.LimitExceeded);
    expect(out.toString()).toBe("keep");
    expect(inflate(bomb.ptr, bomb.length, Wrapper.Gzip, 1 << 20, out)).toBe(InflateResult.Ok);
    expect(out.length).toBe(4 + (1 << 20));
  });
  it("caps literal output exactly", () => {
    const out = new ByteBuf();
    expect(run(bytes(STORED), Wrapper.Raw, out, 12)).toBe(InflateResult.LimitExceeded);
    expect(out.length).toBe(0);
    expect(run(bytes(FIXED), Wrapper.Raw, out, TEXT.length - 1)).toBe(InflateResult.LimitExceeded);
    expect(run(bytes(FIXED), Wrapper.Raw, out, TEXT.length)).toBe(InflateResult.Ok);
    expect(run(bytes(FIXED), Wrapper.Raw, out, 0)).toBe(InflateResult.LimitExceeded);
  });
  it("rejects every truncation", () => {
    const streams: u8[][] = [STORED, FIXED, DYNAMIC, ZLIB, GZIP];
    const wrappers: Wrapper[] = [Wrapper.Raw, Wrapper.Raw, Wrapper.Raw, Wrapper.Zlib, Wrapper.Gzip];
    const out = new ByteBuf();
    for (let s = 0; s < streams.length; s++) {
      const full = bytes(streams[s]);
      for (let n = 0; n < full.length; n++) {
        expect(inflate(full.dataStart, n, wrappers[s], 1 << 20, out)).toBe(InflateResult.Invalid);
        expect(out.length).toBe(0);
      }
    }
  });
  it("rejects bad checksums, sizes and header fields", () => {
    const out = new ByteBuf();
    const z = bytes(ZLIB);
    z[z.length - 1] ^= 1; // Adler-32
    expect(run(z, Wrapper.Zlib, out)).toBe(InflateResult.Invalid);
    const g = bytes(GZIP);
    g[g.length - 8] ^= 1; // CRC-32
    expect(run(g, Wrapper.Gzip, out)).toBe(InflateResult.Invalid);
    const s = bytes(GZIP);
    s[s.length - 4] ^= 1; // ISIZE
    expect(run(s, Wrapper.Gzip, out)).toBe(InflateResult.Invalid);
    const f = bytes(GZIP);
    f[3] = 0x20; // reserved flag
    expect(run(f, Wrapper.Gzip, out)).toBe(InflateResult.Invalid);
    const d = bytes(ZLIB);
    d[1] = 0xbb; // FDICT set (0x78bb is a valid header check): no preset dictionaries
    expect(run(d, Wrapper.Zlib, out)).toBe(InflateResult.Invalid);
    expect(out.length).toBe(0);
  });
  it("rejects malformed blocks written bit by bit", () => {
    const out = new ByteBuf();
    // Fixed block "a" + (length 3, distance 1) = "aaaa": the valid baseline.
    expect(run(bytes([75, 4, 2, 0]), Wrapper.Raw, out)).toBe(InflateResult.Ok);
    expect(out.toString()).toBe("aaaa");
    out.clear();
    // Match before any output (distance too far back).
    expect(run(bytes([3, 2, 0]), Wrapper.Raw, out)).toBe(InflateResult.Invalid);
    // Block type 3.
    expect(run(bytes([7]), Wrapper.Raw, out)).toBe(InflateResult.Invalid);
    // Distance code 30 and literal/length code 286 exist in the fixed code but are invalid.
    expect(run(bytes([75, 4, 62, 0]), Wrapper.Raw, out)).toBe(InflateResult.Invalid);
    expect(run(bytes([27, 3, 0]), Wrapper.Raw, out)).toBe(InflateResult.Invalid);
    // Dynamic header with 287 literal/length codes.
    expect(run(bytes([245, 224, 1]), Wrapper.Raw, out)).toBe(InflateResult.Invalid);
    // Over-subscribed code-length code.
    expect(run(bytes([5, 0, 146, 4]), Wrapper.Raw, out)).toBe(InflateResult.Invalid);
    // Stored block whose LEN and NLEN disagree.
    expect(run(bytes([1, 5, 0, 0, 0, 104, 101, 108, 108, 111]), Wrapper.Raw, out)).toBe(InflateResult.Invalid);
    expect(run(bytes([1, 5, 0, 250, 255, 104, 101, 108, 108, 111]), Wrapper.Raw, out)).toBe(InflateResult.Ok);
    expect(out.toString()).toBe("hello");
  });
  it("survives every single-bit flip of a dynamic block without passing the cap", () => {
    const out = new ByteBuf();
    const a = bytes(DYNAMIC);
    for (let i = 0; i < a.length; i++) {
      for (let bit = 0; bit < 8; bit++) {
        a[i] = a[i] ^ <u8>(<i32>1 << bit);
        out.clear();
        const r = run(a, Wrapper.Raw, out, 600);
        expect(out.length).toBeLessThanOrEqual(600);
        if (r != InflateResult.Ok) expect(out.length).toBe(0);
        a[i] = a[i] ^ <u8>(<i32>1 << bit);
      }
    }
  });
  it("treats empty and negative-length input as invalid", () => {
    const out = new ByteBuf();
    for (let w = 0; w < 4; w++) {
      expect(inflate(0, 0, <Wrapper>w, 100, out)).toBe(InflateResult.Invalid);
      expect(inflate(0, -5, <Wrapper>w, 100, out)).toBe(InflateResult.Invalid);
    }
  });
});

// Fixed-Huffman streams written here: `dist` literals, one match, three literals. Matches are
// copied in 16- or 8-byte steps when the distance allows and the buffer has room past the
// match, byte by byte otherwise; each (distance, length) is checked both ways, the second time
// with the output ending exactly at the buffer's capacity.
let bitBuf: u64 = 0;
let bitCount: u32 = 0;
function putBits(out: ByteBuf, v: u32, n: u32): void {
  bitBuf |= (<u64>v) << bitCount;
  bitCount += n;
  while (bitCount >= 8) {
    out.byte(<u32>(bitBuf & 0xff));
    bitBuf >>= 8;
    bitCount -= 8;
  }
}
function putCode(out: ByteBuf, code: u32, len: u32): void {
  putBits(out, reverseBits(code, len), len);
}
function putSymbol(out: ByteBuf, sym: u32): void {
  if (sym < 144) putCode(out, 0x30 + sym, 8);
  else if (sym < 256) putCode(out, 0x190 + sym - 144, 9);
  else if (sym < 280) putCode(out, sym - 256, 7);
  else putCode(out, 0xc0 + sym - 280, 8);
}
function putMatch(out: ByteBuf, length: u32, dist: u32): void {
  let i = 28;
  while (<u32>load<u16>(LEN_BASE + (<usize>i << 1)) > length) i--;
  putSymbol(out, 257 + i);
  putBits(out, length - <u32>load<u16>(LEN_BASE + (<usize>i << 1)), load<u8>(LEN_EXTRA + i));
  let d = 29;
  while (<u32>load<u16>(DIST_BASE + (<usize>d << 1)) > dist) d--;
  putCode(out, d, 5);
  putBits(out, dist - <u32>load<u16>(DIST_BASE + (<usize>d << 1)), load<u8>(DIST_EXTRA + d));
}

describe("inflate: match copies", () => {
  it("repeats correctly at every distance 1-40 (and far ones) for lengths 3-258, with and without room after", () => {
    const DISTS: i32[] = [];
    for (let d = 1; d <= 40; d++) DISTS.push(d);
    DISTS.push(100);
    DISTS.push(1000);
    const LENGTHS: i32[] = [];
    for (let l = 3; l <= 40; l++) LENGTHS.push(l);
    LENGTHS.push(100);
    LENGTHS.push(257);
    LENGTHS.push(258);
    let failures = 0;
    let first = "";
    const stream = new ByteBuf();
    const want = new ByteBuf();
    for (let di = 0; di < DISTS.length; di++) {
      for (let li = 0; li < LENGTHS.length; li++) {
        const dist = DISTS[di];
        const length = LENGTHS[li];
        stream.clear();
        want.clear();
        bitBuf = 0;
        bitCount = 0;
        putBits(stream, 3, 3); // final block, fixed Huffman
        for (let i = 0; i < dist; i++) {
          const c = <u32>((i * 37 + dist * 11 + length) & 0xff);
          putSymbol(stream, c);
          want.byte(c);
        }
        putMatch(stream, <u32>length, <u32>dist);
        for (let i = 0; i < length; i++) want.byte(load<u8>(want.ptr + <usize>(want.length - dist)));
        for (let i = 0; i < 3; i++) {
          putSymbol(stream, 0x41 + i);
          want.byte(0x41 + i);
        }
        putSymbol(stream, 256);
        putBits(stream, 0, 7); // flush
        for (let tight = 0; tight < 2; tight++) {
          // tight: output that ends exactly at the buffer's capacity (no room to over-write).
          const out = new ByteBuf(4096);
          const pad = tight ? out.capacity - want.length : 0;
          for (let i = 0; i < pad; i++) out.byte(0x2e);
          const r = inflate(stream.ptr, stream.length, Wrapper.Raw, want.length, out);
          const ok =
            r == InflateResult.Ok &&
            out.length == pad + want.length &&
            memory.compare(out.ptr + <usize>pad, want.ptr, <usize>want.length) == 0;
          if (!ok) {
            if (failures == 0) first = "distance " + dist.toString() + " length " + length.toString() + (tight ? " tight" : "");
            failures++;
          }
        }
      }
    }
    expect(failures).toBe(0, first);
  });
});

describe("inflate: long dynamic blocks", () => {
  it("decodes literal-heavy blocks with 4 KB or more of input left (12-bit table, literal pairs)", () => {
    // Random letters from skewed alphabets: short codes that pair up, and long ones that
    // need sub-tables; little for the matcher to find.
    let seed: u32 = 12345;
    const text = new ByteBuf(40000);
    for (let i = 0; i < 40000; i++) {
      seed ^= seed << 13;
      seed ^= seed >> 17;
      seed ^= seed << 5;
      const r = seed % 100;
      text.byte(r < 60 ? 0x61 + (seed >> 8) % 8 : r < 95 ? 0x41 + (seed >> 8) % 26 : (seed >> 8) & 0xff);
    }
    const packed = new ByteBuf();
    deflate(text.ptr, text.length, packed, Wrapper.Raw);
    expect(packed.length).toBeGreaterThan(8192);
    const out = new ByteBuf();
    expect(inflate(packed.ptr, packed.length, Wrapper.Raw, 1 << 20, out)).toBe(InflateResult.Ok);
    expect(out.length).toBe(text.length);
    expect(memory.compare(out.ptr, text.ptr, <usize>text.length)).toBe(0);
    // Capped anywhere inside, the result is LimitExceeded with nothing appended.
    for (let cap = 1; cap < text.length; cap += 997) {
      out.clear();
      expect(inflate(packed.ptr, packed.length, Wrapper.Raw, cap, out)).toBe(InflateResult.LimitExceeded);
      expect(out.length).toBe(0);
    }
  });
});
