// Transaction ids: RFC 4122 version-4 UUIDs from 16 random bytes.

import { ByteBuf } from "./bytes";

const HEX = memory.data<u8>([
  0x30, 0x31, 0x32, 0x33, 0x34, 0x35, 0x36, 0x37, 0x38, 0x39, 0x61, 0x62, 0x63, 0x64, 0x65, 0x66,
]);

/**
 * Appends the 36-character lowercase UUID made of the 16 bytes at `random16`, with the
 * version (4) and variant (10xx) bits set. The source bytes are not modified.
 */
export function writeUuidV4(out: ByteBuf, random16: usize): void {
  out.ensure(36);
  let w = out.ptr + <usize>out.length;
  for (let i = 0; i < 16; i++) {
    let b = <u32>load<u8>(random16 + <usize>i);
    if (i == 6) b = (b & 0x0f) | 0x40;
    else if (i == 8) b = (b & 0x3f) | 0x80;
    if (i == 4 || i == 6 || i == 8 || i == 10) {
      store<u8>(w, 0x2d);
      w++;
    }
    store<u8>(w, load<u8>(HEX + <usize>(b >> 4)));
    store<u8>(w + 1, load<u8>(HEX + <usize>(b & 15)));
    w += 2;
  }
  out.length += 36;
}
