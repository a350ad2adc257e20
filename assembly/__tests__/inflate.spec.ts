import { ByteBuf } from "../lib/bytes";
import { deflate } from "../lib/deflate";
import { inflate, InflateResult, Wrapper } from "../lib/inflate";

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
