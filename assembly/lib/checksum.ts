// Checksums used by the gzip (CRC-32, RFC 1952) and zlib (Adler-32, RFC 1950) wrappers.

// CRC-32 with the reflected polynomial 0xEDB88320, "slicing by 16": sixteen 256-entry tables
// let the loop consume 16 bytes per step (gunzip checks every inflated byte, so this is a
// third of its time at 8). Built on first use (16 KiB) so modules that never checksum pay nothing.
let crcTable: StaticArray<u32> | null = null;

function crcTables(): usize {
  let t = crcTable;
  if (t == null) {
    t = new StaticArray<u32>(4096);
    for (let n: u32 = 0; n < 256; n++) {
      let c = n;
      for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
      unchecked((t[n] = c));
    }
    // Table k advances a byte followed by k zero bytes.
    for (let n = 0; n < 256; n++) {
      let c = unchecked(t[n]);
      for (let k = 1; k < 16; k++) {
        c = unchecked(t[c & 0xff]) ^ (c >>> 8);
        unchecked((t[(k << 8) + n] = c));
      }
    }
    crcTable = t;
  }
  return changetype<usize>(t);
}

/** CRC-32 of `len` bytes at `src`, continuing from `seed` (the CRC of the preceding data). */
export function crc32(src: usize, len: i32, seed: u32 = 0): u32 {
  const t = crcTables();
  let c = ~seed;
  let p = src;
  let n = len;
  while (n >= 16) {
    const w0 = c ^ load<u32>(p);
    const w1 = load<u32>(p, 4);
    const w2 = load<u32>(p, 8);
    const w3 = load<u32>(p, 12);
    c =
      load<u32>(t + (15 << 10) + ((w0 & 0xff) << 2)) ^
      load<u32>(t + (14 << 10) + (((w0 >>> 8) & 0xff) << 2)) ^
      load<u32>(t + (13 << 10) + (((w0 >>> 16) & 0xff) << 2)) ^
      load<u32>(t + (12 << 10) + ((w0 >>> 24) << 2)) ^
      load<u32>(t + (11 << 10) + ((w1 & 0xff) << 2)) ^
      load<u32>(t + (10 << 10) + (((w1 >>> 8) & 0xff) << 2)) ^
      load<u32>(t + (9 << 10) + (((w1 >>> 16) & 0xff) << 2)) ^
      load<u32>(t + (8 << 10) + ((w1 >>> 24) << 2)) ^
      load<u32>(t + (7 << 10) + ((w2 & 0xff) << 2)) ^
      load<u32>(t + (6 << 10) + (((w2 >>> 8) & 0xff) << 2)) ^
      load<u32>(t + (5 << 10) + (((w2 >>> 16) & 0xff) << 2)) ^
      load<u32>(t + (4 << 10) + ((w2 >>> 24) << 2)) ^
      load<u32>(t + (3 << 10) + ((w3 & 0xff) << 2)) ^
      load<u32>(t + (2 << 10) + (((w3 >>> 8) & 0xff) << 2)) ^
      load<u32>(t + (1 << 10) + (((w3 >>> 16) & 0xff) << 2)) ^
      load<u32>(t + ((w3 >>> 24) << 2));
    p += 16;
    n -= 16;
  }
  while (n > 0) {
    c = load<u32>(t + (((c ^ load<u8>(p)) & 0xff) << 2)) ^ (c >>> 8);
    p++;
    n--;
  }
  return ~c;
}

/** Adler-32 of `len` bytes at `src`, continuing from `seed` (1 for a fresh checksum). */
export function adler32(src: usize, len: i32, seed: u32 = 1): u32 {
  const MOD: u32 = 65521;
  // 5552 is the largest run whose sums cannot overflow 32 bits before the modulo.
  const NMAX = 5552;
  let a = seed & 0xffff;
  let b = seed >>> 16;
  let p = src;
  let n = len;
  while (n > 0) {
    let k = n < NMAX ? n : NMAX;
    n -= k;
    while (k >= 4) {
      a += <u32>load<u8>(p);
      b += a;
      a += <u32>load<u8>(p, 1);
      b += a;
      a += <u32>load<u8>(p, 2);
      b += a;
      a += <u32>load<u8>(p, 3);
      b += a;
      p += 4;
      k -= 4;
    }
    while (k > 0) {
      a += <u32>load<u8>(p);
      b += a;
      p++;
      k--;
    }
    a %= MOD;
    b %= MOD;
  }
  return (b << 16) | a;
}
