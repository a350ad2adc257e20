// ISO-8601 UTC timestamps with zero-padded milliseconds (the Lua plugin wrote ".45" for
// 45 ms and no "Z"; reference/moesif.md §2).

import { ByteBuf } from "./bytes";

/** 9999-12-31T23:59:59.999Z: the last instant with a four-digit year. */
const MAX_MS: i64 = 253402300799999;
const ISO_LEN: i32 = 24;

const scratch = memory.data(ISO_LEN);

@inline
function two(w: usize, v: u32): void {
  store<u8>(w, <u8>(0x30 + v / 10));
  store<u8>(w + 1, <u8>(0x30 + (v % 10)));
}

/** Writes `YYYY-MM-DDTHH:MM:SS.mmmZ` (24 bytes) at `w`; out-of-range times are clamped. */
function format(w: usize, epochMs: i64): void {
  const ms = epochMs < 0 ? 0 : epochMs > MAX_MS ? MAX_MS : epochMs;
  const days = <i32>(ms / 86400000);
  const msOfDay = <u32>(ms % 86400000);
  // Civil date from days since 1970-01-01 (H. Hinnant's algorithm; days >= 0 here).
  const z = days + 719468;
  const era = z / 146097;
  const doe = z - era * 146097;
  const yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
  const doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
  const mp = (5 * doy + 2) / 153;
  const day = doy - (153 * mp + 2) / 5 + 1;
  const month = mp < 10 ? mp + 3 : mp - 9;
  const year = yoe + era * 400 + (month <= 2 ? 1 : 0);
  two(w, <u32>year / 100);
  two(w + 2, <u32>year % 100);
  store<u8>(w + 4, 0x2d);
  two(w + 5, <u32>month);
  store<u8>(w + 7, 0x2d);
  two(w + 8, <u32>day);
  store<u8>(w + 10, 0x54);
  const secs = msOfDay / 1000;
  two(w + 11, secs / 3600);
  store<u8>(w + 13, 0x3a);
  two(w + 14, (secs / 60) % 60);
  store<u8>(w + 16, 0x3a);
  two(w + 17, secs % 60);
  store<u8>(w + 19, 0x2e);
  const milli = msOfDay % 1000;
  store<u8>(w + 20, <u8>(0x30 + milli / 100));
  two(w + 21, milli % 100);
  store<u8>(w + 23, 0x5a);
}

/** Appends `YYYY-MM-DDTHH:MM:SS.mmmZ` (UTC) for milliseconds since the Unix epoch. */
export function writeIsoTime(out: ByteBuf, epochMs: i64): void {
  out.ensure(ISO_LEN);
  format(out.ptr + <usize>out.length, epochMs);
  out.length += ISO_LEN;
}

/** writeIsoTime as a string. */
export function isoTime(epochMs: i64): string {
  format(scratch, epochMs);
  return String.UTF8.decodeUnsafe(scratch, ISO_LEN);
}
