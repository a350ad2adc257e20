// request.uri for the event: scheme://host + request target with query masks applied
// (SPEC §4). Unlike the Lua plugin's gsub (reference/moesif.md §7), names are compared
// exactly (no Lua pattern, no substring), empty values are masked, every occurrence is
// masked and only the query is ever touched.

import { ByteBuf } from "../lib/bytes";

const MASKED = "*****";

const QUESTION: u16 = 0x3f; // ?
const HASH: u16 = 0x23; // #
const AMP: u16 = 0x26; // &
const EQ: u16 = 0x3d; // =

@inline function codeAt(s: string, i: i32): u16 {
  return load<u16>(changetype<usize>(s) + (<usize>i << 1));
}

/** Index of `c` in s[from, to), or `to` when absent. */
function find(s: string, c: u16, from: i32, to: i32): i32 {
  for (let i = from; i < to; i++) if (codeAt(s, i) == c) return i;
  return to;
}

/** Append s[start, end) as UTF-8 without allocating in the (usual) ASCII case. Ranges are
 *  cut only at ASCII delimiters, so a surrogate pair is never split. */
function writeRange(out: ByteBuf, s: string, start: i32, end: i32): void {
  const n = end - start;
  if (n <= 0) return;
  out.ensure(n);
  let i = start;
  for (; i < end; i++) {
    const c = codeAt(s, i);
    if (c >= 0x80) break;
    store<u8>(out.ptr + <usize>out.length, <u8>c);
    out.length++;
  }
  if (i < end) out.buffer(String.UTF8.encode(s.substring(i, end)));
}

/** Whether s[start, end) equals `name` code unit for code unit. */
function rangeEquals(s: string, start: i32, end: i32, name: string): bool {
  const n = end - start;
  if (n != name.length) return false;
  return memory.compare(changetype<usize>(s) + (<usize>start << 1), changetype<usize>(name), <usize>n << 1) == 0;
}

/** End of the path part: the first `?` or `#`. */
function pathEnd(target: string): i32 {
  const n = target.length;
  for (let i = 0; i < n; i++) {
    const c = codeAt(target, i);
    if (c == QUESTION || c == HASH) return i;
  }
  return n;
}

/** Write `scheme://host` + `path` (the request target, e.g. `:path`) into `out`, with every
 *  query parameter whose name equals one of `queryMasks` rewritten to `name=*****`.
 *  An empty path part is written as `/`. */
export function writeRequestUri(out: ByteBuf, scheme: string, host: string, path: string, queryMasks: Array<string>): void {
  out.str(scheme);
  out.str("://");
  out.str(host);

  const n = path.length;
  const pEnd = pathEnd(path);
  if (pEnd == 0) out.byte(0x2f);
  else writeRange(out, path, 0, pEnd);
  if (pEnd == n) return;

  if (codeAt(path, pEnd) == QUESTION) {
    const qStart = pEnd + 1;
    const qEnd = find(path, HASH, qStart, n);
    out.byte(0x3f);
    writeQuery(out, path, qStart, qEnd, queryMasks);
    // The fragment (never sent by clients, but possible in a raw target) is kept verbatim.
    writeRange(out, path, qEnd, n);
  } else {
    writeRange(out, path, pEnd, n);
  }
}

function writeQuery(out: ByteBuf, s: string, start: i32, end: i32, masks: Array<string>): void {
  const maskCount = masks.length;
  let p = start;
  while (true) {
    const pe = find(s, AMP, p, end);
    const eq = find(s, EQ, p, pe);
    let masked = false;
    if (eq < pe) {
      for (let m = 0; m < maskCount; m++) {
        if (rangeEquals(s, p, eq, unchecked(masks[m]))) {
          masked = true;
          break;
        }
      }
    }
    if (masked) {
      writeRange(out, s, p, eq + 1);
      out.str(MASKED);
    } else {
      writeRange(out, s, p, pe);
    }
    if (pe >= end) break;
    out.byte(0x26);
    p = pe + 1;
  }
}

/** The path without query or fragment (`/` when empty), for rule matching. */
export function routeOf(path: string): string {
  const end = pathEnd(path);
  if (end == 0) return "/";
  return end == path.length ? path : path.substring(0, end);
}
