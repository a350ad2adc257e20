import { adler32, crc32 } from "../lib/checksum";

function ascii(s: string): ArrayBuffer {
  return String.UTF8.encode(s);
}

describe("crc32", () => {
  it("matches the standard check value", () => {
    const b = ascii("123456789");
    expect(crc32(changetype<usize>(b), b.byteLength)).toBe(0xcbf43926);
  });
  it("matches a known vector and is 0 for no input", () => {
    const b = ascii("The quick brown fox jumps over the lazy dog");
    expect(crc32(changetype<usize>(b), b.byteLength)).toBe(0x414fa339);
    expect(crc32(changetype<usize>(b), 0)).toBe(0);
  });
  it("continues from a seed the same as one pass, at every split point", () => {
    const b = ascii("The quick brown fox jumps over the lazy dog");
    const p = changetype<usize>(b);
    const whole = crc32(p, b.byteLength);
    for (let i = 0; i <= b.byteLength; i++) {
      expect(crc32(p + i, b.byteLength - i, crc32(p, i))).toBe(whole);
    }
  });
});

describe("adler32", () => {
  it("matches the Wikipedia example", () => {
    const b = ascii("Wikipedia");
    expect(adler32(changetype<usize>(b), b.byteLength)).toBe(0x11e60398);
  });
  it("is 1 for no input and continues from a seed", () => {
    const b = ascii("Wikipedia");
    const p = changetype<usize>(b);
    expect(adler32(p, 0)).toBe(1);
    expect(adler32(p + 4, 5, adler32(p, 4))).toBe(0x11e60398);
  });
  it("reduces correctly on long runs of 0xff (sums past 5552 bytes)", () => {
    const n = 100000;
    const b = new ArrayBuffer(n);
    memory.fill(changetype<usize>(b), 0xff, n);
    // Reference: the straightforward per-byte modulo definition.
    let a: u32 = 1;
    let s: u32 = 0;
    for (let i = 0; i < n; i++) {
      a = (a + 0xff) % 65521;
      s = (s + a) % 65521;
    }
    expect(adler32(changetype<usize>(b), n)).toBe((s << 16) | a);
  });
});
