// request.ip_address (SPEC §4): the Lua plugin's forwarding headers, in its order, then the
// peer address. Fixed against the Lua plugin (reference/moesif.md §2 "Client-IP details"):
// compressed IPv6 is valid in every header, `[v6]:port` and `v4:port` lose their port in
// every header, and RFC 7239 `for=` parameters are parsed (in `forwarded` and in any other
// header whose entry is a parameter list).
// IPv4 parts with leading zeros ("010.1.2.3") are rejected: libraries disagree on whether
// they are octal, so such an entry is not trusted to name one address.

import { HeaderLookup } from "./headers";
import { HeaderMap } from "./headermap";

const SOURCES: StaticArray<string> = [
  "x-client-ip",
  "x-forwarded-for",
  "cf-connecting-ip",
  "fastly-client-ip",
  "true-client-ip",
  "x-real-ip",
  "x-cluster-client-ip",
  "x-forwarded",
  "forwarded-for",
  "forwarded",
];

/** The client's IP: the first valid address of the first forwarding header that has one,
 *  else `sourceAddress` (the peer address, as the host reports it). A header sent several
 *  times counts as one comma-separated list (RFC 9110 §5.3), in the order received. */
export function clientIp(get: HeaderLookup, sourceAddress: string): string {
  if (get instanceof HeaderMap) return fromAllValues(changetype<HeaderMap>(get), sourceAddress);
  for (let i = 0; i < SOURCES.length; i++) {
    const value = get.get(unchecked(SOURCES[i]));
    if (value === null) continue;
    const ip = firstValidIp(value);
    if (ip !== null) return ip;
  }
  return sourceAddress;
}

function fromAllValues(map: HeaderMap, sourceAddress: string): string {
  for (let i = 0; i < SOURCES.length; i++) {
    const name = unchecked(SOURCES[i]);
    for (let j = map.find(name); j >= 0; j = map.findFrom(name, j + 1)) {
      const ip = firstValidIp(map.value(j));
      if (ip !== null) return ip;
    }
  }
  return sourceAddress;
}

@inline function codeAt(s: string, i: i32): u32 {
  return <u32>load<u16>(changetype<usize>(s) + (<usize>i << 1));
}

@inline function isSpace(c: u32): bool {
  return c == 0x20 || c == 0x09;
}

@inline function isDigit(c: u32): bool {
  return c - 0x30 < 10;
}

@inline function isHex(c: u32): bool {
  return c - 0x30 < 10 || (c | 0x20) - 0x61 < 6;
}

/** Index of `c` in s[from, to), or `to`. */
function find(s: string, c: u32, from: i32, to: i32): i32 {
  for (let i = from; i < to; i++) if (codeAt(s, i) == c) return i;
  return to;
}

/** First valid address among the comma-separated entries of a header value. */
function firstValidIp(v: string): string | null {
  const n = v.length;
  let p = 0;
  while (p <= n) {
    const e = find(v, 0x2c, p, n);
    const ip = entryIp(v, p, e);
    if (ip !== null) return ip;
    p = e + 1;
  }
  return null;
}

/** An entry is either an address or an RFC 7239 parameter list (`for=…;proto=…`). */
function entryIp(v: string, s: i32, e: i32): string | null {
  if (find(v, 0x3d, s, e) == e) return address(v, s, e);
  let p = s;
  while (p < e) {
    const pe = find(v, 0x3b, p, e);
    const eq = find(v, 0x3d, p, pe);
    let ns = p;
    let ne = eq;
    while (ns < ne && isSpace(codeAt(v, ns))) ns++;
    while (ne > ns && isSpace(codeAt(v, ne - 1))) ne--;
    // Parameter names are case-insensitive (RFC 7239 §4).
    if (eq < pe && ne - ns == 3 && (codeAt(v, ns) | 0x20) == 0x66 && (codeAt(v, ns + 1) | 0x20) == 0x6f && (codeAt(v, ns + 2) | 0x20) == 0x72) {
      return address(v, eq + 1, pe);
    }
    p = pe + 1;
  }
  return null;
}

/** A single address, optionally quoted, bracketed, or followed by `:port`. */
function address(v: string, s: i32, e: i32): string | null {
  while (s < e && isSpace(codeAt(v, s))) s++;
  while (e > s && isSpace(codeAt(v, e - 1))) e--;
  if (e - s >= 2 && codeAt(v, s) == 0x22 && codeAt(v, e - 1) == 0x22) {
    s++;
    e--;
  }
  if (s >= e) return null;

  if (codeAt(v, s) == 0x5b) {
    const close = find(v, 0x5d, s + 1, e);
    if (close == e) return null;
    if (close + 1 < e && !(codeAt(v, close + 1) == 0x3a && isPort(v, close + 2, e))) return null;
    return isIPv6(v, s + 1, close) ? v.substring(s + 1, close) : null;
  }

  const colon = find(v, 0x3a, s, e);
  if (colon == e) return isIPv4(v, s, e) ? v.substring(s, e) : null;
  if (find(v, 0x3a, colon + 1, e) == e) {
    // Exactly one colon: IPv4 with a port (no IPv6 address has a single colon).
    return isPort(v, colon + 1, e) && isIPv4(v, s, colon) ? v.substring(s, colon) : null;
  }
  return isIPv6(v, s, e) ? v.substring(s, e) : null;
}

function isPort(v: string, s: i32, e: i32): bool {
  if (e <= s || e - s > 5) return false;
  for (let i = s; i < e; i++) if (!isDigit(codeAt(v, i))) return false;
  return true;
}

/** Dotted quad, each part 0-255 in decimal without leading zeros. */
function isIPv4(v: string, s: i32, e: i32): bool {
  let parts = 0;
  let p = s;
  while (true) {
    let val: u32 = 0;
    let digits = 0;
    while (p < e && isDigit(codeAt(v, p))) {
      val = val * 10 + (codeAt(v, p) - 0x30);
      digits++;
      if (digits > 3) return false;
      p++;
    }
    if (digits == 0 || val > 255) return false;
    if (digits > 1 && codeAt(v, p - digits) == 0x30) return false;
    parts++;
    if (p == e) return parts == 4;
    if (codeAt(v, p) != 0x2e || parts == 4) return false;
    p++;
  }
}

/** RFC 4291 §2.2 text forms: full, `::`-compressed, and with a trailing dotted quad. */
function isIPv6(v: string, s: i32, e: i32): bool {
  if (e - s < 2) return false;
  let groups = 0;
  let compressed = false;
  let p = s;
  if (codeAt(v, p) == 0x3a) {
    if (codeAt(v, p + 1) != 0x3a) return false;
    compressed = true;
    p += 2;
    if (p == e) return true;
  }
  while (true) {
    let q = p;
    while (q < e && isHex(codeAt(v, q))) q++;
    if (q < e && codeAt(v, q) == 0x2e) {
      // The embedded IPv4 address ends the text and fills two groups.
      if (!isIPv4(v, p, e)) return false;
      groups += 2;
      break;
    }
    const h = q - p;
    if (h == 0 || h > 4) return false;
    groups++;
    if (q == e) break;
    if (codeAt(v, q) != 0x3a) return false;
    if (q + 1 < e && codeAt(v, q + 1) == 0x3a) {
      if (compressed) return false;
      compressed = true;
      p = q + 2;
      if (p == e) break;
    } else {
      p = q + 1;
      if (p == e) return false;
    }
  }
  return compressed ? groups <= 7 : groups == 8;
}
