// A header map as the host serializes it (u32 count, then u32 key/value sizes, then the
// NUL-terminated bytes), read in place: one host call per map instead of one buffer per
// header. Pseudo headers (":path", ":status", ...) come first.
import { HeaderLookup } from "./headers";
import { ByteBuf } from "../lib/bytes";
import { writeJsonLowerAsciiStringBytes, writeJsonStringBytes } from "../lib/json";

export class HeaderMap extends HeaderLookup {
  private buffer: ArrayBuffer | null = null;
  /** Per pair: key offset, key length, value offset, value length (absolute pointers). */
  private index: Array<usize> = [];
  count: i32 = 0;

  load(buffer: ArrayBuffer | null): void {
    this.buffer = buffer;
    this.index.length = 0;
    this.count = 0;
    if (buffer === null) return;
    const base = changetype<usize>(buffer);
    const size = <usize>buffer.byteLength;
    if (size < 4) return;
    const n = <usize>load<u32>(base);
    if (n == 0 || <usize>4 + n * 8 > size) return;
    let data = base + 4 + n * 8;
    const end = base + size;
    for (let i: usize = 0; i < n; i++) {
      const kl = <usize>load<u32>(base + 4 + i * 8);
      const vl = <usize>load<u32>(base + 8 + i * 8);
      if (data + kl + 1 + vl + 1 > end) break; // malformed: keep what was complete
      this.index.push(data);
      this.index.push(kl);
      this.index.push(data + kl + 1);
      this.index.push(vl);
      data += kl + 1 + vl + 1;
      this.count++;
    }
  }

  @inline keyPtr(i: i32): usize { return unchecked(this.index[i << 2]); }
  @inline keyLen(i: i32): i32 { return <i32>unchecked(this.index[(i << 2) + 1]); }
  @inline valuePtr(i: i32): usize { return unchecked(this.index[(i << 2) + 2]); }
  @inline valueLen(i: i32): i32 { return <i32>unchecked(this.index[(i << 2) + 3]); }

  /** Index of the first pair whose name equals `lowerName` ignoring ASCII case, or -1. */
  find(lowerName: string): i32 {
    return this.findFrom(lowerName, 0);
  }

  findFrom(lowerName: string, from: i32): i32 {
    const n = lowerName.length;
    const np = changetype<usize>(lowerName);
    for (let i = from; i < this.count; i++) {
      if (this.keyLen(i) != n) continue;
      const kp = this.keyPtr(i);
      let j = 0;
      for (; j < n; j++) {
        let c = <u32>load<u8>(kp + <usize>j);
        if (c >= 65 && c <= 90) c += 32;
        if (c != <u32>load<u16>(np + (<usize>j << 1))) break;
      }
      if (j == n) return i;
    }
    return -1;
  }

  get(lowerName: string): string | null {
    const i = this.find(lowerName);
    if (i < 0) return null;
    return this.value(i);
  }

  value(i: i32): string {
    return String.UTF8.decodeUnsafe(this.valuePtr(i), <usize>this.valueLen(i));
  }

  /** Whether pairs i and j have the same name, ignoring ASCII case. */
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

  /** Whether pair i's name is one of `lowerNames`. */
  nameIn(i: i32, lowerNames: Array<string>): bool {
    for (let m = 0; m < lowerNames.length; m++) {
      const name = unchecked(lowerNames[m]);
      if (this.keyLen(i) == name.length && this.findFrom(name, i) == i) return true;
    }
    return false;
  }

  /**
   * Writes the real headers as a JSON object: lowercased names, repeated headers joined
   * with ", ", masked names left out, pseudo headers skipped.
   */
  writeJson(out: ByteBuf, masks: Array<string>): void {
    out.byte(0x7b);
    let first = true;
    const count = this.count;
    for (let i = 0; i < count; i++) {
      const kl = this.keyLen(i);
      if (kl == 0 || load<u8>(this.keyPtr(i)) == 0x3a) continue; // pseudo header
      let seen = false;
      for (let j = 0; j < i; j++) {
        if (this.sameName(i, j)) {
          seen = true;
          break;
        }
      }
      if (seen) continue;
      if (masks.length > 0 && this.nameIn(i, masks)) continue;
      if (!first) out.byte(0x2c);
      first = false;
      writeJsonLowerAsciiStringBytes(out, this.keyPtr(i), kl);
      out.byte(0x3a);
      let repeated = false;
      for (let j = i + 1; j < count; j++) {
        if (this.sameName(i, j)) {
          repeated = true;
          break;
        }
      }
      if (!repeated) {
        writeJsonStringBytes(out, this.valuePtr(i), this.valueLen(i));
        continue;
      }
      joined.clear();
      joined.raw(this.valuePtr(i), this.valueLen(i));
      for (let j = i + 1; j < count; j++) {
        if (!this.sameName(i, j)) continue;
        joined.str(", ");
        joined.raw(this.valuePtr(j), this.valueLen(j));
      }
      writeJsonStringBytes(out, joined.ptr, joined.length);
    }
    out.byte(0x7d);
  }
}

const joined = new ByteBuf(256);
