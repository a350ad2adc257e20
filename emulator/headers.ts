// proxy-wasm header map wire format (ngx_proxy_wasm_marshal / pairs_unmarshal) and the
// header-list operations nginx applies for the map setters.

export type Pairs = Array<[string, string]>;

const dec = new TextDecoder();

/** UTF-8 length; ASCII strings (nearly every header) without a native call. */
function utf8Length(s: string): number {
  for (let i = 0; i < s.length; i++) if (s.charCodeAt(i) >= 0x80) return Buffer.byteLength(s);
  return s.length;
}

/** Writes `s` at `at`, returns its byte length. Short ASCII strings are copied in a loop. */
export function writeUtf8(out: Buffer, s: string, at: number): number {
  const n = s.length;
  if (n > 64) return out.write(s, at, "utf8");
  for (let i = 0; i < n; i++) {
    const c = s.charCodeAt(i);
    if (c >= 0x80) return out.write(s, at, "utf8");
    out[at + i] = c;
  }
  return n;
}

/** Size of a map in the wire format: u32 count, (u32 key_len, u32 value_len)*, then key\0value\0 ... */
export function marshalSize(pairs: Pairs): number {
  const n = pairs.length;
  let size = 4 + n * 8;
  for (let i = 0; i < n; i++) size += utf8Length(pairs[i][0]) + utf8Length(pairs[i][1]) + 2;
  return size;
}

/**
 * Writes the map at `at` (marshalSize bytes, e.g. straight into the filter's memory), no
 * intermediate arrays. This runs for every map read, and its cost counts inside the
 * filter's measured time (benchmarks).
 */
export function marshalInto(pairs: Pairs, out: Buffer, at: number): void {
  const n = pairs.length;
  out.writeUInt32LE(n, at);
  let p = at + 4 + n * 8;
  for (let i = 0; i < n; i++) {
    const kl = writeUtf8(out, pairs[i][0], p);
    out[p + kl] = 0;
    p += kl + 1;
    const vl = writeUtf8(out, pairs[i][1], p);
    out[p + vl] = 0;
    p += vl + 1;
    out.writeUInt32LE(kl, at + 4 + i * 8);
    out.writeUInt32LE(vl, at + 8 + i * 8);
  }
}

/** Returns null when the buffer is malformed (the engine then answers InternalFailure). */
export function unmarshal(buf: Uint8Array): Pairs | null {
  if (buf.length === 0) return [];
  if (buf.length < 4) return null;
  const dv = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
  const n = dv.getUint32(0, true);
  if (4 + n * 8 > buf.length) return null;
  const out: Pairs = [];
  let p = 4 + n * 8;
  for (let i = 0; i < n; i++) {
    const kl = dv.getUint32(4 + i * 8, true);
    const vl = dv.getUint32(8 + i * 8, true);
    if (p + kl + vl + 2 > buf.length) return null;
    const k = dec.decode(buf.subarray(p, p + kl));
    p += kl + 1;
    const v = dec.decode(buf.subarray(p, p + vl));
    p += vl + 1;
    out.push([k, v]);
  }
  return out;
}

export function findHeader(pairs: Pairs, name: string): string | undefined {
  const lc = name.toLowerCase();
  for (const [k, v] of pairs) if (k.toLowerCase() === lc) return v;
  return undefined;
}

export function removeHeader(pairs: Pairs, name: string): void {
  const lc = name.toLowerCase();
  for (let i = pairs.length - 1; i >= 0; i--) if (pairs[i][0].toLowerCase() === lc) pairs.splice(i, 1);
}

/** MAP_SET: the first match takes the value, later matches go; appended when absent. */
export function setHeader(pairs: Pairs, name: string, value: string): void {
  const lc = name.toLowerCase();
  const first = pairs.findIndex(([k]) => k.toLowerCase() === lc);
  if (first < 0) {
    pairs.push([name, value]);
    return;
  }
  pairs[first] = [pairs[first][0], value];
  for (let i = pairs.length - 1; i > first; i--) if (pairs[i][0].toLowerCase() === lc) pairs.splice(i, 1);
}
