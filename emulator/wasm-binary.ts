// Minimal WebAssembly binary encoder: enough for the signature-checking stub module the
// host links through, and for hand-made test modules (odd imports, missing exports).

/** A signature as "<params>:<results>", one letter per value: i = i32, I = i64. */
export type Signature = string;

export interface ModuleSpec {
  /** Function imports: module, name, signature. */
  imports?: Array<{ module: string; name: string; sig: Signature }>;
  /** Defined functions: signature and code (instructions without locals and final `end`). */
  functions?: Array<{ sig: Signature; code: number[] }>;
  /** Memory with this many 64 KiB pages. */
  memoryPages?: number;
  /** Exports; func indices count imports first. */
  exports?: Array<{ name: string; kind: "func" | "memory"; index: number }>;
}

function uleb(n: number): number[] {
  const out: number[] = [];
  do {
    let b = n & 0x7f;
    n >>>= 7;
    if (n !== 0) b |= 0x80;
    out.push(b);
  } while (n !== 0);
  return out;
}

function str(s: string): number[] {
  const b = Array.from(new TextEncoder().encode(s));
  return [...uleb(b.length), ...b];
}

function section(id: number, body: number[]): number[] {
  return [id, ...uleb(body.length), ...body];
}

function vec(items: number[][]): number[] {
  return [...uleb(items.length), ...items.flat()];
}

function valtypes(s: string): number[] {
  return vec(Array.from(s).map((c) => [c === "I" ? 0x7e : 0x7f]));
}

export function encodeModule(spec: ModuleSpec): Uint8Array<ArrayBuffer> {
  const sigs: Signature[] = [];
  const typeIndex = (sig: Signature): number => {
    let i = sigs.indexOf(sig);
    if (i < 0) i = sigs.push(sig) - 1;
    return i;
  };
  const imports = (spec.imports ?? []).map((im) => [
    ...str(im.module),
    ...str(im.name),
    0x00,
    ...uleb(typeIndex(im.sig)),
  ]);
  const funcs = (spec.functions ?? []).map((f) => uleb(typeIndex(f.sig)));
  const types = sigs.map((sig) => {
    const [p, r] = sig.split(":");
    return [0x60, ...valtypes(p), ...valtypes(r)];
  });
  const out: number[] = [0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00];
  if (types.length) out.push(...section(1, vec(types)));
  if (imports.length) out.push(...section(2, vec(imports)));
  if (funcs.length) out.push(...section(3, vec(funcs)));
  if (spec.memoryPages !== undefined) out.push(...section(5, vec([[0x00, ...uleb(spec.memoryPages)]])));
  if (spec.exports?.length) {
    out.push(
      ...section(
        7,
        vec(spec.exports.map((e) => [...str(e.name), e.kind === "func" ? 0x00 : 0x02, ...uleb(e.index)])),
      ),
    );
  }
  if (spec.functions?.length) {
    const bodies = spec.functions.map((f) => {
      const body = [0x00, ...f.code, 0x0b];
      return [...uleb(body.length), ...body];
    });
    out.push(...section(10, vec(bodies)));
  }
  return new Uint8Array(out);
}
