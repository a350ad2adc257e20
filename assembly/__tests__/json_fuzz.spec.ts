// Pseudo-random inputs through the JSON code: nothing may trap, the validator, the copier
// the DOM parser and the in-place member reader must agree, and a successful copy is the trimmed input (no masks) or
// valid JSON without any masked key (masks).
import { ByteBuf } from "../lib/bytes";
import { copyJsonMasked, isValidJson } from "../lib/json";
import { JsonValue, memberText, parseJsonBytes } from "../lib/json_value";

let seed: u32 = 0x9e3779b9;
function next(): u32 {
  // xorshift32
  seed ^= seed << 13;
  seed ^= seed >> 17;
  seed ^= seed << 5;
  return seed;
}

const ALPHABET = '{}[],:"\\ \n0123456789-+.eEtrufalsnpx/u';
const SEEDS: Array<string> = [
  '{"p":1,"a":[1,2,{"p":"x","b":null}],"c":{"p":{"p":2}},"d":"\\u00e9\\/"}',
  '[{"p":[]},{},[],"p",12345678901234567890,-0.5e-3,true,false,null]',
  ' {"a":{"b":{"c":[{"p":1,"q":2},{"q":3,"p":4}]}},"p":5} ',
  '"a string with \\"escapes\\" and é€𝄞"',
];
const MASKS: Array<string> = ["p", "q"];
const MEMBER_KEYS: Array<string> = ["p", "a", "c", "d", "é"];

function randomInput(): Uint8Array {
  const r = next();
  if (r & 1) {
    // Mutate a valid document: replace, insert or delete a few bytes, or insert whitespace
    // (which usually keeps it valid, so the copy checks get exercised).
    const base = String.UTF8.encode(SEEDS[(r >> 1) % SEEDS.length]);
    const src = Uint8Array.wrap(base);
    const b = new Uint8Array(src.length + 4);
    b.set(src);
    let n = src.length;
    const edits: u32 = 1 + ((r >> 4) % 3);
    for (let e: u32 = 0; e < edits; e++) {
      const pos = <i32>(next() % <u32>n);
      const kind = next() % 4;
      const byte = next() % 4 == 0 ? <u8>next() : <u8>ALPHABET.charCodeAt(<i32>(next() % <u32>ALPHABET.length));
      if (kind == 0) {
        b[pos] = byte;
      } else if (kind == 1) {
        b.copyWithin(pos + 1, pos, n);
        b[pos] = byte;
        n++;
      } else if (kind == 2 && n > 1) {
        b.copyWithin(pos, pos + 1, n);
        n--;
      } else if (kind == 3) {
        b.copyWithin(pos + 1, pos, n);
        b[pos] = next() & 1 ? 0x20 : 0x0a;
        n++;
      }
    }
    return b.slice(0, n);
  }
  const len = <i32>(next() % 24);
  const b = new Uint8Array(len);
  for (let i = 0; i < len; i++) {
    const x = next();
    b[i] = x % 8 == 0 ? <u8>(x >> 8) : <u8>ALPHABET.charCodeAt(<i32>((x >> 8) % <u32>ALPHABET.length));
  }
  return b;
}

@inline
function isWs(c: u8): bool {
  return c == 0x20 || c == 0x0a || c == 0x0d || c == 0x09;
}

function hasKey(v: JsonValue, masks: Array<string>): bool {
  for (let i = 0; i < v.keys.length; i++) {
    if (masks.includes(v.keys[i])) return true;
    if (hasKey(v.values[i], masks)) return true;
  }
  for (let i = 0; i < v.items.length; i++) if (hasKey(v.items[i], masks)) return true;
  return false;
}

// Checks are counted rather than asserted one by one: an as-pect assertion costs far more
// than the code under test.
let failures = 0;
let firstFailure = "";
function check(ok: bool, iter: i32, what: string): void {
  if (ok) return;
  if (failures == 0) firstFailure = "iteration " + iter.toString() + ": " + what;
  failures++;
}

describe("JSON fuzz", () => {
  it("never traps and stays consistent on 2,000 pseudo-random inputs", () => {
    let validCount = 0;
    const out = new ByteBuf(16);
    const masked = new ByteBuf(16);
    for (let iter = 0; iter < 2000; iter++) {
      const b = randomInput();
      const valid = isValidJson(b.dataStart, b.length);
      out.clear();
      check(copyJsonMasked(b.dataStart, b.length, null, out) == valid, iter, "copy vs validate");
      const parsed = parseJsonBytes(b.dataStart, b.length, 128);
      check((parsed !== null) == valid, iter, "parse vs validate");
      masked.clear();
      masked.byte(0x2a);
      check(copyJsonMasked(b.dataStart, b.length, MASKS, masked) == valid, iter, "masked copy vs validate");
      if (!valid) {
        check(out.length == 0 && masked.length == 1, iter, "output left after failure");
        continue;
      }
      validCount++;
      let s = 0;
      let e = b.length;
      while (s < e && isWs(b[s])) s++;
      while (e > s && isWs(b[e - 1])) e--;
      check(
        out.length == e - s && memory.compare(out.ptr, b.dataStart + <usize>s, e - s) == 0,
        iter,
        "copy differs from trimmed input",
      );
      // The in-place member reader gives what the DOM gives.
      for (let k = 0; k < MEMBER_KEYS.length; k++) {
        const key = MEMBER_KEYS[k];
        const member = parsed!.isObject() ? parsed!.get(key) : null;
        const want = member !== null ? member.toText() : null;
        const got = memberText(b.dataStart, b.length, key);
        check(want === null ? got === null : got !== null && got == want, iter, "memberText differs from the DOM for " + key);
      }
      const m = parseJsonBytes(masked.ptr + 1, masked.length - 1, 128);
      check(m !== null && !hasKey(m, MASKS), iter, "masked output invalid or still has a masked key");
    }
    expect(failures).toBe(0, firstFailure);
    // The mutated seeds must yield enough valid documents for the checks above to matter.
    expect(validCount).toBeGreaterThan(200);
  });
});
