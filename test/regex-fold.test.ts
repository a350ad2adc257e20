// The regex engine folds case (flag i) with its own table (assembly/lib/regex_fold.ts, made by
// scripts/regex-fold.ts) instead of AssemblyScript's Unicode case tables, which cost 4.7 KB of
// module. This checks, for every UTF-16 unit, that the engine folds exactly as the reference
// computation over those tables does (test/fixtures/regex-fold-reference.ts).
import { before, test } from "node:test";
import assert from "node:assert/strict";
import { buildRegexHarness } from "./fixtures/build-regex-harness.ts";
import { referenceFold } from "../scripts/regex-fold.ts";


let fold: (c: number) => number;

before(async () => {
  const { instance } = await WebAssembly.instantiate(await buildRegexHarness("regex-fold-harness.wasm"), {
    env: { abort: () => { throw new Error("wasm abort"); } },
  });
  fold = instance.exports.fold as (c: number) => number;
});

/** JavaScript's own Canonicalize (non-unicode ignoreCase), from this Node's Unicode data. */
function jsCanonicalize(c: number): number {
  if (c >= 0xd800 && c <= 0xdfff) return c;
  const u = String.fromCharCode(c).toUpperCase();
  if (u.length !== 1) return c;
  return c >= 128 && u.charCodeAt(0) < 128 ? c : u.charCodeAt(0);
}

test("every UTF-16 unit folds as AssemblyScript's case tables say", async (t) => {
  const reference = await referenceFold();
  const wrong: string[] = [];
  let folded = 0;
  let newerUnicode = 0;
  for (let c = 0; c < 0x10000; c++) {
    const got = fold(c);
    if (got !== reference[c]) wrong.push(`U+${c.toString(16)}: ${got.toString(16)}, expected ${reference[c].toString(16)}`);
    if (reference[c] !== c) folded++;
    if (jsCanonicalize(c) !== reference[c]) newerUnicode++;
  }
  assert.deepEqual(wrong.slice(0, 20), []);
  assert.ok(folded > 1000, `${folded} units fold`);
  // For information: units this Node's Unicode version folds differently (characters newer
  // than AssemblyScript's tables).
  t.diagnostic(`${folded} units fold; ${newerUnicode} differ from Node ${process.versions.node} (Unicode ${process.versions.unicode})`);
});
