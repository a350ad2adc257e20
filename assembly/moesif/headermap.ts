// A header map as the host serializes it (u32 count, then u32 key/value sizes, then the
// NUL-terminated bytes), read in place: one host call per map instead of one buffer per
// header. Pseudo headers (":path", ":status", ...) come first.
import { HeaderLookup } from "./headers";
import { ByteBuf } from "../lib/bytes";
import { writeJsonLowerAsciiStringBytes, writeJsonStringBytes } from "../lib/json";
import { utf8 } from "../lib/utf8";

/** Per pair, 5 u32: key pointer, key length, value pointer, value length, name hash. */
const ENTRY: usize = 20;

export class HeaderMap extends HeaderLookup {
  /** The serialized map, reused from request to request (the host writes into it directly). */
  readonly bytes: ByteBuf = new ByteBuf(0);
  /** The pairs' entries, reused from request to request (grown when a map is larger). */
  private entries: ArrayBuffer = new ArrayBuffer(<i32>(32 * ENTRY));
  count: i32 = 0;
  /** Whether some header name occurs more than once (found while indexing). */
  private repeats: bool = false;

  /** Forgets the map; a buffer grown by a huge map is given back. */
  clear(): void {
    this.bytes.clear();
    if (this.bytes.capacity > (1 << 16)) this.bytes.shrinkTo(1024);
    this.count = 0;
    this.repeats = false;
  }

  /** Indexes the serialized map the caller put in `bytes` (nothing there: an empty map). */
  index(): void {
    this.count = 0;
    this.repeats = false;
    const base = this.bytes.ptr;
    const size = <usize>this.bytes.length;
    if (size < 4) return;
    const n = <usize>load<u32>(base);
    if (n == 0 || <usize>4 + n * 8 > size) return;
    if (n * ENTRY > <usize>this.entries.byteLength) this.entries = new ArrayBuffer(<i32>(n * ENTRY));
    const e = changetype<usize>(this.entries);
    let seen: u64 = 0;
    let data = base + 4 + n * 8;
    const end = base + size;
    for (let i: usize = 0; i < n; i++) {
      const kl = <usize>load<u32>(base + 4 + i * 8);
      const vl = <usize>load<u32>(base + 8 + i * 8);
      if (data + kl + 1 + vl + 1 > end) break; // malformed: keep what was complete
      const p = e + i * ENTRY;
      store<u32>(p, <u32>data);
      store<u32>(p, <u32>kl, 4);
      store<u32>(p, <u32>(data + kl + 1), 8);
      store<u32>(p, <u32>vl, 12);
      const h = lowerHash(data, kl);
      store<u32>(p, h, 16);
      data += kl + 1 + vl + 1;
      this.count++;
      // Repeated names are rare: a 64-bit filter of the hashes rules most names out, and only
      // a name whose bit is already set is compared with the earlier ones.
      const bit = (<u64>1) << <u64>((h * 0x9e3779b1) >>> 26);
      if ((seen & bit) != 0 && !this.repeats) {
        for (let j = 0; j < <i32>i; j++) {
          if (this.hash(j) == h && this.sameName(<i32>i, j)) {
            this.repeats = true;
            break;
          }
        }
      }
      seen |= bit;
    }
  }

  @inline private entry(i: i32): usize { return changetype<usize>(this.entries) + <usize>i * ENTRY; }
  @inline keyPtr(i: i32): usize { return <usize>load<u32>(this.entry(i)); }
  @inline keyLen(i: i32): i32 { return <i32>load<u32>(this.entry(i), 4); }
  @inline valuePtr(i: i32): usize { return <usize>load<u32>(this.entry(i), 8); }
  @inline valueLen(i: i32): i32 { return <i32>load<u32>(this.entry(i), 12); }
  @inline hash(i: i32): u32 { return load<u32>(this.entry(i), 16); }

  /** Index of the first pair whose name equals `lowerName` ignoring ASCII case, or -1. */
  find(lowerName: string): i32 {
    return this.findFrom(lowerName, 0);
  }

  findFrom(lowerName: string, from: i32): i32 {
    const h = stringHash(lowerName);
    for (let i = from; i < this.count; i++) {
      if (this.hash(i) == h && this.nameEquals(i, lowerName)) return i;
    }
    return -1;
  }

  /** Whether pair i's name equals `lowerName` (a lowercase name), ignoring ASCII case. */
  nameEquals(i: i32, lowerName: string): bool {
    const n = lowerName.length;
    if (this.keyLen(i) != n) return false;
    const np = changetype<usize>(lowerName);
    const kp = this.keyPtr(i);
    for (let j = 0; j < n; j++) {
      let c = <u32>load<u8>(kp + <usize>j);
      if (c >= 65 && c <= 90) c += 32;
      if (c != <u32>load<u16>(np + (<usize>j << 1))) return false;
    }
    return true;
  }

  get(lowerName: string): string | null {
    const i = this.find(lowerName);
    if (i < 0) return null;
    return this.value(i);
  }

  getBytes(lowerName: string, out: ByteBuf): bool {
    const i = this.find(lowerName);
    if (i < 0) return false;
    out.raw(this.valuePtr(i), this.valueLen(i));
    return true;
  }

  value(i: i32): string {
    return String.UTF8.decodeUnsafe(this.valuePtr(i), <usize>this.valueLen(i));
  }

  /** Whether pairs i and j have the same name, ignoring ASCII case (callers compare hashes first). */
  sameName(i: i32, j: i32): bool {
    const n = this.keyLen(i);
    if (this.keyLen(j) != n) return false;
    const a = this.keyPtr(i);
    const b = this.keyPtr(j);
    for (let k = 0; k < n; k++) {
      let x = <u32>load<u8>(a + <usize>k);
      let y = <u32>load<u8>(b + <usize>k);
      if (x >= 65 && x <= 90) x += 32;
      if (y >= 65 && y <= 90) y += 32;
      if (x != y) return false;
    }
    return true;
  }

  /**
   * Writes the real headers as a JSON object: lowercased names, repeated headers joined
   * with ", ", masked names left out, pseudo headers skipped; then x-moesif-transaction-id
   * when `transactionId` (UTF-8) is given (added to the request after the map was read).
   */
  writeJson(out: ByteBuf, masks: Array<string>, transactionId: ByteBuf | null = null): void {
    out.byte(0x7b);
    let first = true;
    const count = this.count;
    const repeats = this.repeats;
    // Hashes of the masks, so a pair is compared in full only when its hash matches.
    maskHashes.length = 0;
    for (let m = 0; m < masks.length; m++) maskHashes.push(stringHash(unchecked(masks[m])));
    for (let i = 0; i < count; i++) {
      const kl = this.keyLen(i);
      if (kl == 0 || load<u8>(this.keyPtr(i)) == 0x3a) continue; // pseudo header
      const hi = this.hash(i);
      let seen = false;
      for (let j = 0; repeats && j < i; j++) {
        if (this.hash(j) == hi && this.sameName(i, j)) {
          seen = true;
          break;
        }
      }
      if (seen) continue; // written with its first occurrence
      let masked = false;
      for (let m = 0; m < maskHashes.length; m++) {
        if (unchecked(maskHashes[m]) == hi && this.nameEquals(i, unchecked(masks[m]))) {
          masked = true;
          break;
        }
      }
      if (masked) continue;
      if (!first) out.byte(0x2c);
      first = false;
      writeJsonLowerAsciiStringBytes(out, this.keyPtr(i), kl);
      out.byte(0x3a);
      let next = -1;
      for (let j = i + 1; repeats && j < count; j++) {
        if (this.hash(j) == hi && this.sameName(i, j)) {
          next = j;
          break;
        }
      }
      if (next < 0) {
        writeJsonStringBytes(out, this.valuePtr(i), this.valueLen(i));
        continue;
      }
      joined.clear();
      joined.raw(this.valuePtr(i), this.valueLen(i));
      for (let j = next; j < count; j++) {
        if (this.hash(j) != hi || !this.sameName(i, j)) continue;
        joined.str(", ");
        joined.raw(this.valuePtr(j), this.valueLen(j));
      }
      writeJsonStringBytes(out, joined.ptr, joined.length);
    }
    if (transactionId !== null && !masks.includes("x-moesif-transaction-id")) {
      if (!first) out.byte(0x2c);
      out.lit(utf8('"x-moesif-transaction-id":'));
      writeJsonStringBytes(out, transactionId.ptr, transactionId.length);
    }
    out.byte(0x7d);
  }
}

const maskHashes = new Array<u32>(8);

/** lowerHash of a lowercase ASCII name held in a string. */
function stringHash(s: string): u32 {
  const n = <usize>s.length;
  if (n == 0) return 0;
  const p = changetype<usize>(s);
  return nameHash(n, <u32>load<u16>(p), <u32>load<u16>(p + ((n >> 1) << 1)), <u32>load<u16>(p + ((n - 1) << 1)));
}

const joined = new ByteBuf(256);

/**
 * A name's hash from its length and three ASCII-lowercased bytes (first, middle, last): no
 * loop over the name. Lookups compare names in full on a hash match, so collisions only
 * cost a comparison.
 */
function lowerHash(p: usize, n: usize): u32 {
  if (n == 0) return 0;
  return nameHash(n, lower(<u32>load<u8>(p)), lower(<u32>load<u8>(p + (n >> 1))), lower(<u32>load<u8>(p + n - 1)));
}

@inline function lower(c: u32): u32 {
  return c - 65 < 26 ? c | 0x20 : c;
}

@inline function nameHash(n: usize, first: u32, middle: u32, last: u32): u32 {
  return (<u32>n & 0xff) | ((first & 0xff) << 8) | ((middle & 0xff) << 16) | (last << 24);
}
