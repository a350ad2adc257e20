// Checksums used by the gzip (CRC-32, RFC 1952) and zlib (Adler-32, RFC 1950) wrappers.

// CRC-32 with the reflected polynomial 0xEDB88320, "slicing by 8": eight 256-entry tables let
// the loop consume 8 bytes per step (about twice the speed of 4). Built on first use (8 KiB)
// so modules that never checksum pay nothing.
let crcTable: StaticArray<u32> | null = null;

function crcTables(): usize {
  let t = crcTable;
  if (t == null) {
    t = new StaticArray<u32>(2048);
    for (let n: u32 = 0; n < 256; n++) {
      let c = n;
      for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
      unchecked((t[n] = c));
    }
    // Table k advances a byte followed by k zero bytes.
    for (let n = 0; n < 256; n++) {
      let c = unchecked(t[n]);
      for (let k = 1; k < 8; k++) {
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
  while (n >= 8) {
    const lo = c ^ load<u32>(p);
    const hi = load<u32>(p, 4);
    c =
      load<u32>(t + (7 << 10) + ((lo & 0xff) << 2)) ^
      load<u32>(t + (6 << 10) + (((lo >>> 8) & 0xff) << 2)) ^
      load<u32>(t + (5 << 10) + (((lo >>> 16) & 0xff) << 2)) ^
      load<u32>(t + (4 << 10) + ((lo >>> 24) << 2)) ^
      load<u32>(t + (3 << 10) + ((hi & 0xff) << 2)) ^
      load<u32>(t + (2 << 10) + (((hi >>> 8) & 0xff) << 2)) ^
      load<u32>(t + (1 << 10) + (((hi >>> 16) & 0xff) << 2)) ^
      load<u32>(t + ((hi >>> 24) << 2));
    p += 8;
    n -= 8;
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
