// Byte helpers shared by the host and the loopback HTTP code (no Wasm dependency).

export const EMPTY = new Uint8Array(0);

/** A copy that skips zero-filling first (Uint8Array#slice is several times slower here). */
export function copyOf(src: Uint8Array): Uint8Array {
  const copy = Buffer.allocUnsafeSlow(src.length);
  copy.set(src);
  return new Uint8Array(copy.buffer, copy.byteOffset, src.length);
}

export function concat(parts: Uint8Array[]): Uint8Array {
  if (parts.length === 1) return parts[0];
  const n = parts.reduce((a, b) => a + b.length, 0);
  const out = new Uint8Array(n);
  let o = 0;
  for (const p of parts) {
    out.set(p, o);
    o += p.length;
  }
  return out;
}

export function splitChunk(c: Uint8Array, size: number): Uint8Array[] {
  if (c.length <= size) return [c];
  const out: Uint8Array[] = [];
  for (let i = 0; i < c.length; i += size) out.push(c.subarray(i, i + size));
  return out;
}
