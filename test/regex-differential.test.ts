// Differential test: assembly/lib/regex.ts against JavaScript's RegExp (the semantics Moesif
// rule authors expect). Seeded random patterns from a grammar of the supported syntax, plus
// a few syntax errors, each tried on several inputs; every verdict must agree.
import { test, before } from "node:test";
import assert from "node:assert/strict";
import { buildRegexHarness } from "./fixtures/build-regex-harness.ts";
import { mulberry32 } from "../scripts/prng.ts";

const SEED = Number(process.env.REGEX_DIFF_SEED ?? 20240611);
const PATTERNS = Number(process.env.REGEX_DIFF_PATTERNS ?? 1500);
const INPUTS_PER_PATTERN = 4;

interface Harness {
  memory: WebAssembly.Memory;
  buffer(units: number): number;
  compile(patternUnits: number, flagsUnits: number): number;
  test(handle: number, inputUnits: number): number;
  release(): void;
  setStepBudget(steps: number): void;
}

let h: Harness;

before(async () => {
  const instance = await WebAssembly.instantiate(await WebAssembly.compile(await buildRegexHarness("regex-harness.wasm")), {
    env: {
      abort(_msg: number, _file: number, line: number, column: number) {
        throw new Error(`wasm abort at ${line}:${column}`);
      },
    },
  });
  h = instance.exports as unknown as Harness;
});

function write(text: string): void {
  const at = h.buffer(text.length);
  const units = new Uint16Array(h.memory.buffer, at, text.length);
  for (let i = 0; i < text.length; i++) units[i] = text.charCodeAt(i);
}

/** Handle of the compiled pattern, or -1 when Regex.compile returned null. */
function compile(pattern: string, flags: string): number {
  write(pattern + flags);
  return h.compile(pattern.length, flags.length);
}

/** 1 match, 0 no match, 2 step budget exhausted. */
function run(handle: number, input: string): number {
  write(input);
  return h.test(handle, input.length);
}

function jsRegExp(pattern: string, flags: string): RegExp | null {
  try {
    return new RegExp(pattern, flags);
  } catch {
    return null;
  }
}


const LITERALS = ["a", "b", "c", "A", "B", "k", "1", "2", "/", "-", "_", " ", "é", "É", "\n", "{", "}", "]", ","];
const ESCAPES = [
  "\\d", "\\D", "\\w", "\\W", "\\s", "\\S", "\\.", "\\/", "\\-", "\\n", "\\t", "\\r", "\\f", "\\v",
  "\\x61", "\\x2F", "\\u0062", "\\u00e9", "\\0", "\\cJ", "\\c", "\\q", "\\*", "\\(", "\\\\", "\\]", "\\{",
  "\\11", "\\8",
];
const CLASS_ITEMS = [
  "a", "b", "c", "B", "1", "/", ".", "é", "a-c", "A-Z", "0-9", "a-z", "\\x20-\\x2f", "à-ÿ", "\\d", "\\w",
  "\\s", "\\W", "\\D", "\\]", "\\\\", "\\b", "\\-", "\\n", "^", "[", "\\d-z", "_",
];
const INVALID = ["(", ")", "[", "*", "+", "?", "{2,1}", "\\", "[c-a]", "a**", "(?", "$+", "\\b*"];
const FLAGS = ["", "", "", "i", "m", "s", "im", "is", "ms", "ims", "y", "gi", "my"];

/** How often each atom kind is drawn (cumulative thresholds over [0, 1)). */
interface Profile {
  literals: readonly string[];
  literal: number;
  escape: number;
  dot: number;
  cls: number;
  backref: number;
}

// Mixed syntax over route-like characters.
const BROAD: Profile = { literals: LITERALS, literal: 0.4, escape: 0.55, dot: 0.62, cls: 0.77, backref: 0.82 };
// Groups, backreferences and nested quantifiers over "ab": stresses capture and empty-loop rules.
const DENSE: Profile = { literals: ["a", "b"], literal: 0.35, escape: 0.37, dot: 0.4, cls: 0.43, backref: 0.6 };

class Generator {
  constructor(
    private readonly rnd: () => number,
    private readonly profile: Profile,
  ) {}

  int(n: number): number {
    return Math.floor(this.rnd() * n);
  }

  pick<T>(items: readonly T[]): T {
    return items[this.int(items.length)];
  }

  pattern(): string {
    let p = this.disjunction(0);
    if (this.rnd() < 0.06) {
      const at = this.int(p.length + 1);
      p = p.slice(0, at) + this.pick(INVALID) + p.slice(at);
    }
    return p;
  }

  disjunction(depth: number): string {
    const alts = this.rnd() < 0.75 ? 1 : 2 + this.int(2);
    const out: string[] = [];
    for (let i = 0; i < alts; i++) out.push(this.alternative(depth));
    return out.join("|");
  }

  alternative(depth: number): string {
    const terms = this.rnd() < 0.05 ? 0 : 1 + this.int(4);
    let s = "";
    for (let i = 0; i < terms; i++) s += this.term(depth);
    return s;
  }

  term(depth: number): string {
    if (this.rnd() < 0.1) return this.pick(["^", "$", "\\b", "\\B"]);
    const atom = this.atom(depth);
    return this.rnd() < 0.35 ? atom + this.quantifier() : atom;
  }

  atom(depth: number): string {
    const p = this.profile;
    const r = this.rnd();
    if (r < p.literal) return this.pick(p.literals);
    if (r < p.escape) return this.pick(ESCAPES);
    if (r < p.dot) return ".";
    if (r < p.cls) return this.cls();
    if (r < p.backref) return "\\" + (1 + this.int(3));
    if (depth >= 3) return this.pick(p.literals);
    const open = this.pick(["(", "(", "(?:", "(?=", "(?!"]);
    return open + this.disjunction(depth + 1) + ")";
  }

  cls(): string {
    let s = this.rnd() < 0.25 ? "[^" : "[";
    if (this.rnd() < 0.1) s += "-";
    const n = this.int(4);
    for (let i = 0; i < n; i++) {
      const item = this.pick(CLASS_ITEMS);
      // A leading ^ would negate the class instead of being a member.
      s += item === "^" && (s === "[" || s === "[^") ? "\\^" : item;
    }
    if (this.rnd() < 0.1) s += "-";
    return s + "]";
  }

  quantifier(): string {
    const n = this.int(3);
    const q = this.pick(["*", "+", "?", `{${n}}`, `{${n},}`, `{${n},${n + this.int(3)}}`]);
    return this.rnd() < 0.3 ? q + "?" : q;
  }

  /** Inputs mostly made of the pattern's own characters, so that matches are common. */
  input(pattern: string): string {
    const own = [...pattern].filter((c) => !"\\^$|()[]?*+".includes(c));
    const extra = this.profile.literals;
    const pool = own.length > 0 && this.rnd() < 0.8 ? own.concat(extra.slice(0, 6)) : extra;
    const len = this.int(25);
    let s = "";
    for (let i = 0; i < len; i++) s += this.pick(pool);
    return s;
  }
}

function differential(t: { diagnostic(message: string): void }, name: string, profile: Profile): void {
  const gen = new Generator(mulberry32(SEED), profile);
  const counts = {
    pairs: 0, agreeMatch: 0, agreeNoMatch: 0, disagree: 0, exhausted: 0,
    bothRejected: 0, weRejectedOnly: 0, weAcceptedOnly: 0,
  };
  const failures: string[] = [];
  for (let n = 0; n < PATTERNS; n++) {
    if (n % 200 === 0) h.release();
    const pattern = gen.pattern();
    const flags = gen.pick(FLAGS);
    const js = jsRegExp(pattern, flags);
    const handle = compile(pattern, flags);
    if (js === null) {
      if (handle < 0) counts.bothRejected++;
      else {
        counts.weAcceptedOnly++;
        failures.push(`accepted invalid /${pattern}/${flags}`);
      }
      continue;
    }
    if (handle < 0) {
      counts.weRejectedOnly++;
      failures.push(`rejected valid /${pattern}/${flags}`);
      continue;
    }
    for (let k = 0; k < INPUTS_PER_PATTERN; k++) {
      const input = gen.input(pattern);
      counts.pairs++;
      const ours = run(handle, input);
      if (ours === 2) {
        counts.exhausted++;
        continue;
      }
      js.lastIndex = 0; // g and y make test() stateful in JavaScript; ours starts at 0 every time
      const expected = js.test(input);
      if ((ours === 1) !== expected) {
        counts.disagree++;
        failures.push(`/${pattern}/${flags} on ${JSON.stringify(input)}: JS ${expected}, ours ${ours === 1}`);
      } else if (expected) counts.agreeMatch++;
      else counts.agreeNoMatch++;
    }
  }
  t.diagnostic(`${name}, seed ${SEED}: ${JSON.stringify(counts)}`);
  assert.deepEqual(failures.slice(0, 20), []);
  assert.ok(counts.pairs >= 3000, `only ${counts.pairs} pairs`);
  // Both verdicts must be well represented, or agreement says little.
  assert.ok(counts.agreeMatch > counts.pairs / 5 && counts.agreeNoMatch > counts.pairs / 5);
  assert.ok(counts.bothRejected > 0);
  assert.ok(counts.exhausted <= counts.pairs / 200, `${counts.exhausted} budget exhaustions`);
}

test("agrees with JavaScript RegExp on seeded generated patterns (broad syntax)", (t) => {
  differential(t, "broad", BROAD);
});

test("agrees with JavaScript RegExp on seeded generated patterns (captures, backreferences, loops)", (t) => {
  differential(t, "dense", DENSE);
});

test("flag i folds every BMP unit like JavaScript (bar letters newer than AssemblyScript's case tables)", () => {
  // Case pairs added in Unicode 14-16, known to V8's ICU but not to AssemblyScript's tables.
  const newer = (c: number) => c === 0x19b || c === 0x264 || c === 0x1c89 || c === 0x1c8a ||
    c === 0x2c2f || c === 0x2c5f || (c >= 0xa7c0 && c <= 0xa7dc);
  const mismatches: string[] = [];
  for (let c = 0; c < 0x10000; c++) {
    if (c % 1000 === 0) h.release();
    const pattern = "\\u" + c.toString(16).padStart(4, "0");
    const ch = String.fromCharCode(c);
    const handle = compile(pattern, "i");
    const re = new RegExp(pattern, "i");
    for (const other of new Set([ch, ch.toUpperCase(), ch.toLowerCase()])) {
      if (other.length !== 1) continue;
      const expected = re.test(other);
      if ((run(handle, other) === 1) !== expected && !(newer(c) || newer(other.charCodeAt(0)))) {
        mismatches.push(`${pattern} on U+${other.charCodeAt(0).toString(16)}: JS ${expected}`);
      }
    }
  }
  assert.deepEqual(mismatches.slice(0, 20), []);
});

test("catastrophic backtracking ends within the step budget", () => {
  h.release();
  const handle = compile("(a+)+$", "");
  assert.equal(run(handle, "a".repeat(40) + "b"), 2);
  // The same pattern still answers true where a match exists.
  assert.equal(run(handle, "a".repeat(40)), 1);
  h.setStepBudget(1000);
  assert.equal(run(compile("^(\\w+\\s?)*$", ""), "an ordinary sentence that will not match!"), 2);
  h.setStepBudget(100000);
});
