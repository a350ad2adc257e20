// Reads the function imports of a wasm binary with their signatures ("ii:i" style), for
// import audits (the engine links only its own host functions).
import assert from "node:assert/strict";

interface Import { module: string; name: string; params: string; results: string }

export function functionImports(bin: Uint8Array): Import[] {
  let pos = 8;
  const u32 = (): number => {
    let result = 0;
    let shift = 0;
    for (;;) {
      const b = bin[pos++];
      result |= (b & 0x7f) << shift;
      if ((b & 0x80) === 0) return result >>> 0;
      shift += 7;
    }
  };
  const name = (): string => {
    const n = u32();
    const s = new TextDecoder().decode(bin.subarray(pos, pos + n));
    pos += n;
    return s;
  };
  const valType = (t: number): string => ({ 0x7f: "i", 0x7e: "I", 0x7d: "f", 0x7c: "F" } as Record<number, string>)[t] ?? "?";
  const types: Array<{ params: string; results: string }> = [];
  const imports: Import[] = [];
  while (pos < bin.length) {
    const id = bin[pos++];
    const size = u32();
    const end = pos + size;
    if (id === 1) {
      const count = u32();
      for (let i = 0; i < count; i++) {
        pos++; // 0x60
        const np = u32();
        let params = "";
        for (let k = 0; k < np; k++) params += valType(bin[pos++]);
        const nr = u32();
        let results = "";
        for (let k = 0; k < nr; k++) results += valType(bin[pos++]);
        types.push({ params, results });
      }
    } else if (id === 2) {
      const count = u32();
      for (let i = 0; i < count; i++) {
        const module = name();
        const field = name();
        const kind = bin[pos++];
        assert.equal(kind, 0, `${module}.${field}: only function imports are allowed (the engine rejects others)`);
        const t = types[u32()];
        imports.push({ module, name: field, ...t });
      }
    }
    pos = end;
  }
  return imports;
}

