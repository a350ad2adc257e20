import { ByteBuf } from "../lib/bytes";
import { codeLengths, deflate } from "../lib/deflate";
import { inflate, InflateResult, Wrapper } from "../lib/inflate";

let seed: u32 = 0x9e3779b9;

/** xorshift32: repeatable pseudo-random bytes. */
function next(): u32 {
  seed ^= seed << 13;
  seed ^= seed >>> 17;
  seed ^= seed << 5;
  return seed;
}

function randomData(n: i32): ByteBuf {
  const b = new ByteBuf(n);
  for (let i = 0; i < n; i++) b.byte(next() & 0xff);
  return b;
}

/** JSON-like text with many repeats at varying distances. */
function repetitiveData(n: i32): ByteBuf {
  const words: string[] = ['{"id":', '"path":"/v1/orders/', '"status":200', "},", "application/json", "\n"];
  const b = new ByteBuf(n + 32);
  while (b.length < n) {
    const r = next();
    if (r % 5 == 0) b.uint(r % 100000);
    else b.str(words[r % 6]);
  }
  b.length = n;
  return b;
}

function roundTrip(data: ByteBuf, w: Wrapper): i32 {
  const packed = new ByteBuf();
  deflate(data.ptr, data.length, packed, w);
  const back = new ByteBuf();
  expect(inflate(packed.ptr, packed.length, w, data.length, back)).toBe(InflateResult.Ok);
  expect(back.length).toBe(data.length);
  expect(memory.compare(back.ptr, data.ptr, data.length)).toBe(0);
  return packed.length;
}

const SIZES: i32[] = [0, 1, 2, 3, 4, 257, 65535, 65536, 65537, 300000];

describe("deflate", () => {
  it("round-trips random data of many sizes in every wrapper", () => {
    for (let i = 0; i < SIZES.length; i++) {
      const data = randomData(SIZES[i]);
      roundTrip(data, Wrapper.Raw);
      roundTrip(data, Wrapper.Zlib);
      roundTrip(data, Wrapper.Gzip);
    }
  });
  it("round-trips repetitive data of many sizes in every wrapper", () => {
    for (let i = 0; i < SIZES.length; i++) {
      const data = repetitiveData(SIZES[i]);
      roundTrip(data, Wrapper.Raw);
      roundTrip(data, Wrapper.Zlib);
      roundTrip(data, Wrapper.Gzip);
    }
  });
  it("compresses repetitive text well and random data barely grows", () => {
    expect(roundTrip(repetitiveData(300000), Wrapper.Raw)).toBeLessThan(300000 / 4);
    // Stored blocks: 5 bytes of framing per block of 16 Ki symbols.
    expect(roundTrip(randomData(300000), Wrapper.Raw)).toBeLessThanOrEqual(300000 + 5 * 19);
    const zeros = new ByteBuf(1 << 20);
    memory.fill(zeros.ptr, 0, 1 << 20);
    zeros.length = 1 << 20;
    expect(roundTrip(zeros, Wrapper.Raw)).toBeLessThan(1100);
  });
  it("writes the zlib and gzip framing", () => {
    const data = repetitiveData(1000);
    const z = new ByteBuf();
    deflate(data.ptr, data.length, z, Wrapper.Zlib);
    expect(z.at(0)).toBe(0x78);
    expect(((<u32>z.at(0) << 8) | z.at(1)) % 31).toBe(0);
    const g = new ByteBuf();
    deflate(data.ptr, data.length, g, Wrapper.Gzip);
    expect(g.at(0)).toBe(0x1f);
    expect(g.at(1)).toBe(0x8b);
    expect(g.at(2)).toBe(8);
    expect(load<u32>(g.ptr + g.length - 4)).toBe(1000);
  });
  it("appends after existing content and reuses its scratch across calls", () => {
    const data = repetitiveData(5000);
    const out = new ByteBuf();
    out.str("head");
    deflate(data.ptr, data.length, out, Wrapper.Raw);
    const first = out.length - 4;
    deflate(data.ptr, data.length, out, Wrapper.Raw);
    expect(out.length - 4).toBe(2 * first);
    expect(memory.compare(out.ptr + 4, out.ptr + 4 + first, first)).toBe(0);
    const back = new ByteBuf();
    expect(inflate(out.ptr + 4, first, Wrapper.Raw, 5000, back)).toBe(InflateResult.Ok);
    expect(memory.compare(back.ptr, data.ptr, 5000)).toBe(0);
  });
});

function kraftIsOne(lens: u8[], limit: i32): bool {
  let sum: u64 = 0;
  for (let i = 0; i < lens.length; i++) if (lens[i] > 0) sum += (<u64>1) << (limit - lens[i]);
  return sum == (<u64>1) << limit;
}

describe("Huffman code lengths", () => {
  it("are optimal when no limit applies", () => {
    const lens = codeLengths([1, 1, 2, 4, 0], 15);
    expect(lens[0]).toBe(3);
    expect(lens[1]).toBe(3);
    expect(lens[2]).toBe(2);
    expect(lens[3]).toBe(1);
    expect(lens[4]).toBe(0);
  });
  it("give a lone symbol a 1-bit code (plus a partner), as DEFLATE needs", () => {
    const lens = codeLengths([0, 0, 7], 15);
    expect(lens[2]).toBe(1);
    expect(lens[0]).toBe(1);
    expect(kraftIsOne(lens, 15)).toBe(true);
  });
  it("limit Fibonacci frequencies (unlimited depth far past 15) to 15 and 7 bits, still complete", () => {
    const fib = new Array<u32>(30);
    fib[0] = 1;
    fib[1] = 1;
    for (let i = 2; i < 30; i++) fib[i] = min<u32>(fib[i - 1] + fib[i - 2], 0xffff);
    const l15 = codeLengths(fib, 15);
    for (let i = 0; i < 30; i++) expect(<i32>l15[i]).toBeLessThanOrEqual(15);
    expect(kraftIsOne(l15, 15)).toBe(true);
    // More frequent symbols never get longer codes.
    for (let i = 1; i < 30; i++) expect(l15[i]).toBeLessThanOrEqual(l15[i - 1]);
    const l7 = codeLengths(fib.slice(0, 19), 7);
    for (let i = 0; i < 19; i++) expect(<i32>l7[i]).toBeLessThanOrEqual(7);
    expect(kraftIsOne(l7, 7)).toBe(true);
  });
});
