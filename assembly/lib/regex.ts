// Regular expressions for Moesif sampling and governance rules.
//
// The Lua plugin matches rule values with Lua patterns; the Moesif UI and the other SDKs
// treat them as JavaScript regular expressions, so this is an ECMAScript RegExp engine with
// `new RegExp(pattern, flags).test(value)` semantics (unanchored search), without the `u` flag:
// the input is a sequence of UTF-16 code units, and the Annex B (web) syntax leniencies apply.
//
// Supported syntax:
//   literals; escapes \\ \/ \. \- \n \t \r \f \v \0 \xHH \uHHHH \cX, legacy octal \1..\377 and
//     identity escapes (\q = q) where JavaScript accepts them; lone ] } and a { that does not
//     start a quantifier are literals
//   .  (no line terminator; any unit with flag s)      ^ $ (line-wise with flag m)   \b \B
//   [...] [^...] with ranges, escapes, \d \D \s \S \w \W (also outside classes), [\b] = backspace
//   (...) capturing, (?:...), (?=...), (?!...), |, backreferences \1..\N (JS rules: a group that
//     has not matched matches empty)
//   * + ? {n} {n,} {n,m} and the lazy forms *? +? ?? {n,m}?
//   flags: i (JavaScript's simple uppercase folding), m, s; g and d are accepted and have no
//     effect on test(); y anchors at index 0.
// Not supported (compile returns null): lookbehind, named groups, flags u and v, and patterns
// whose compiled program would exceed MAX_CODE words (large counted repeats such as a{1,50000}).
//
// Engine: the pattern compiles to a flat Int32 program (counted repeats are unrolled, so captures,
// loops and JavaScript's empty-iteration check need no counters) run by a backtracking VM with an
// explicit stack shared by all regexes. Every test() call has a step budget (Regex.stepBudget):
// a catastrophic pattern such as (a+)+$ returns false once it is spent and sets `exhausted`.
// Backtracking (rather than a Pike VM) keeps backreferences and lookahead exact.

import { FOLD_RUN_COUNT, FOLD_RUNS } from "./regex_fold";

// Opcodes. Jump offsets are relative to the instruction's own index, so a compiled atom can be
// copied when a counted repeat is unrolled.
const OP_CHAR: i32 = 0; //    c
const OP_CHARI: i32 = 1; //   canon(c)
const OP_STR: i32 = 2; //     n c1..cn
const OP_STRI: i32 = 3; //    n canon(c1)..canon(cn)
const OP_ANY: i32 = 4; //     (not a line terminator)
const OP_ANYNL: i32 = 5; //   (any unit)
const OP_CLASS: i32 = 6; //   size flags bits0..bits3 n lo1 hi1 .. lon hin   (ranges >= 128)
const OP_BOL: i32 = 7;
const OP_BOLM: i32 = 8;
const OP_EOL: i32 = 9;
const OP_EOLM: i32 = 10;
const OP_WB: i32 = 11;
const OP_NWB: i32 = 12;
const OP_JMP: i32 = 13; //    off
const OP_SPLIT: i32 = 14; //  offFirst offLater
const OP_SAVE: i32 = 15; //   slot
const OP_RESET: i32 = 16; //  fromSlot toSlot(exclusive)
const OP_CHECK: i32 = 17; //  slot: fail when the loop iteration started at pos made no progress
const OP_BREF: i32 = 18; //   group
const OP_BREFI: i32 = 19; //  group
const OP_LOOK: i32 = 20; //   negative(0/1) offToAfterLookEnd
const OP_LOOKEND: i32 = 21;
const OP_MATCH: i32 = 22;

const CLS_NEG: i32 = 1;
const CLS_CANON: i32 = 2;

// Backtrack stack entries: three words, [kind, a, b].
const T_BRANCH: i32 = 0; //  pc, pos
const T_UNDO: i32 = 1; //    slot, old value
const T_LOOK: i32 = 2; //    continuation pc, pos (positive lookahead)
const T_NLOOK: i32 = 3; //   continuation pc, pos (negative lookahead)

/** Largest compiled program, in 32-bit words (bounds the memory one rule can take). */
const MAX_CODE: i32 = 32768;
/** Deepest group nesting the recursive-descent parser accepts (keeps the wasm stack safe). */
const MAX_DEPTH: i32 = 64;
/** Hard cap on the backtrack stack, in words, whatever stepBudget says. */
const MAX_STACK: i32 = 3 << 20;
const STACK_INIT: i32 = 3 << 8;

const KIND_LIT: i32 = 0;
const KIND_ATOM: i32 = 1;
const KIND_ASSERT: i32 = 2;

// The backtrack stack, shared: test() does not reenter.
let stack = new StaticArray<i32>(STACK_INIT);
// Scratch bitset over all UTF-16 units, for case-folding a class (compile time only).
let foldBits: StaticArray<u32> | null = null;

// ---------------------------------------------------------------------------------------------
// Character helpers

@inline function isLineTerm(c: i32): bool {
  return c == 10 || c == 13 || c == 0x2028 || c == 0x2029;
}

@inline function isWordChar(c: i32): bool {
  return (c >= 0x30 && c <= 0x39) || (c >= 0x41 && c <= 0x5a) || (c >= 0x61 && c <= 0x7a) || c == 0x5f;
}

/** JavaScript's Canonicalize for non-unicode ignoreCase: the single-unit uppercase, but never
 *  from non-ASCII to ASCII and never when the full uppercase has more than one unit. */
@inline function canon(c: i32): i32 {
  if (c < 128) return c >= 0x61 && c <= 0x7a ? c - 32 : c;
  return canonWide(c);
}

/** canon() for units >= 128: a binary search in the folding table's runs (regex_fold.ts). */
function canonWide(c: i32): i32 {
  let lo = 0;
  let hi = FOLD_RUN_COUNT - 1;
  while (lo <= hi) {
    const mid = (lo + hi) >>> 1;
    const run = FOLD_RUNS + <usize>mid * 6;
    const start = <i32>load<u16>(run);
    if (c < start) {
      hi = mid - 1;
      continue;
    }
    const shape = <i32>load<u16>(run, 2);
    const stride = (shape & 1) + 1;
    const off = c - start;
    // Past this run's last unit: a later run may hold c (runs are disjoint and sorted).
    if (off > ((shape >> 1) - 1) * stride) {
      lo = mid + 1;
      continue;
    }
    return off % stride == 0 ? (c + <i32>load<u16>(run, 4)) & 0xffff : c;
  }
  return c;
}

/** JavaScript's Canonicalize (non-unicode ignoreCase) of a UTF-16 unit; exported for tests. */
export function canonicalize(c: i32): i32 {
  return canon(c);
}

function hexVal(c: i32): i32 {
  if (c >= 0x30 && c <= 0x39) return c - 0x30;
  if (c >= 0x41 && c <= 0x46) return c - 0x37;
  if (c >= 0x61 && c <= 0x66) return c - 0x57;
  return -1;
}

@inline function isAsciiLetter(c: i32): bool {
  return (c >= 0x41 && c <= 0x5a) || (c >= 0x61 && c <= 0x7a);
}

// Class escape sets, as sorted [lo, hi] pairs.
function addDigits(r: Array<i32>): void {
  r.push(0x30); r.push(0x39);
}
function addWord(r: Array<i32>): void {
  r.push(0x30); r.push(0x39); r.push(0x41); r.push(0x5a);
  r.push(0x5f); r.push(0x5f); r.push(0x61); r.push(0x7a);
}
function addSpace(r: Array<i32>): void {
  r.push(0x09); r.push(0x0d); r.push(0x20); r.push(0x20);
  r.push(0xa0); r.push(0xa0); r.push(0x1680); r.push(0x1680);
  r.push(0x2000); r.push(0x200a); r.push(0x2028); r.push(0x2029);
  r.push(0x202f); r.push(0x202f); r.push(0x205f); r.push(0x205f);
  r.push(0x3000); r.push(0x3000); r.push(0xfeff); r.push(0xfeff);
}

/** Sort [lo, hi] pairs and merge overlapping or adjacent ones. */
function normalize(r: Array<i32>): Array<i32> {
  const n = r.length >> 1;
  // Insertion sort on pairs: classes are short.
  for (let i = 1; i < n; i++) {
    const lo = r[i << 1];
    const hi = r[(i << 1) + 1];
    let j = i - 1;
    while (j >= 0 && r[j << 1] > lo) {
      r[(j + 1) << 1] = r[j << 1];
      r[((j + 1) << 1) + 1] = r[(j << 1) + 1];
      j--;
    }
    r[(j + 1) << 1] = lo;
    r[((j + 1) << 1) + 1] = hi;
  }
  const out = new Array<i32>();
  for (let i = 0; i < n; i++) {
    const lo = r[i << 1];
    const hi = r[(i << 1) + 1];
    const m = out.length;
    if (m > 0 && lo <= out[m - 1] + 1) {
      if (hi > out[m - 1]) out[m - 1] = hi;
    } else {
      out.push(lo);
      out.push(hi);
    }
  }
  return out;
}

/** Complement of normalized pairs within 0..0xFFFF. */
function complement(r: Array<i32>): Array<i32> {
  const out = new Array<i32>();
  let next = 0;
  for (let i = 0; i < r.length; i += 2) {
    if (r[i] > next) {
      out.push(next);
      out.push(r[i] - 1);
    }
    next = r[i + 1] + 1;
  }
  if (next <= 0xffff) {
    out.push(next);
    out.push(0xffff);
  }
  return out;
}

// ---------------------------------------------------------------------------------------------
// Compiler: recursive descent over the pattern, emitting code directly.

class Compiler {
  src: string;
  len: i32;
  at: i32 = 0;
  icase: bool;
  multiline: bool;
  dotAll: bool;
  code: Array<i32> = new Array<i32>();
  totalGroups: i32 = 0;
  groups: i32 = 0;
  regs: i32 = 0;
  bad: bool = false;
  depth: i32 = 0;
  /** Whether the atom parsed last can match the empty string. */
  atomNullable: bool = false;
  qmin: i32 = 0;
  qmax: i32 = 0;
  qgreedy: bool = true;
  /** Where the digits read by readInt() end. */
  intEnd: i32 = 0;

  constructor(src: string, icase: bool, multiline: bool, dotAll: bool) {
    this.src = src;
    this.len = src.length;
    this.icase = icase;
    this.multiline = multiline;
    this.dotAll = dotAll;
    this.totalGroups = this.countGroups();
  }

  @inline peek(): i32 {
    return this.at < this.len ? <i32>this.src.charCodeAt(this.at) : -1;
  }

  @inline peekAt(i: i32): i32 {
    return i < this.len ? <i32>this.src.charCodeAt(i) : -1;
  }

  @inline emit(w: i32): void {
    this.code.push(w);
  }

  fail(): void {
    this.bad = true;
  }

  /** Capturing groups in the whole pattern: decides whether \N is a backreference (Annex B). */
  countGroups(): i32 {
    let n = 0;
    let i = 0;
    let inClass = false;
    while (i < this.len) {
      const c = <i32>this.src.charCodeAt(i);
      if (c == 0x5c) {
        i += 2;
        continue;
      }
      if (inClass) {
        if (c == 0x5d) inClass = false;
      } else if (c == 0x5b) {
        inClass = true;
      } else if (c == 0x28 && this.peekAt(i + 1) != 0x3f) {
        n++;
      }
      i++;
    }
    return n;
  }

  slotCount(): i32 {
    return ((this.totalGroups + 1) << 1) + this.regs;
  }

  compile(): StaticArray<i32> | null {
    this.parseDisjunction();
    if (this.at < this.len) this.fail(); // an unmatched ')'
    this.emit(OP_MATCH);
    if (this.bad || this.code.length > MAX_CODE) return null;
    const n = this.code.length;
    const out = new StaticArray<i32>(n);
    for (let i = 0; i < n; i++) unchecked((out[i] = this.code[i]));
    return out;
  }

  /** Returns whether the disjunction can match empty. */
  parseDisjunction(): bool {
    const start = this.code.length;
    let nullable = this.parseAlternative();
    if (this.bad || this.peek() != 0x7c) return nullable;
    const ends = new Array<i32>();
    ends.push(this.code.length);
    while (!this.bad && this.peek() == 0x7c) {
      this.at++;
      if (this.parseAlternative()) nullable = true;
      ends.push(this.code.length);
    }
    if (this.bad) return nullable;
    // Re-emit as SPLIT alt1 / JMP end chains.
    const body = this.code.slice(start);
    this.code.length = start;
    const k = ends.length;
    let total = 0;
    let prev = start;
    for (let i = 0; i < k; i++) {
      const l = ends[i] - prev;
      total += i < k - 1 ? l + 5 : l;
      prev = ends[i];
    }
    if (start + total > MAX_CODE) {
      this.fail();
      return nullable;
    }
    const end = start + total;
    prev = start;
    for (let i = 0; i < k; i++) {
      const l = ends[i] - prev;
      if (i < k - 1) {
        this.emit(OP_SPLIT);
        this.emit(3);
        this.emit(3 + l + 2);
      }
      for (let j = prev - start; j < ends[i] - start; j++) this.emit(body[j]);
      if (i < k - 1) {
        const here = this.code.length;
        this.emit(OP_JMP);
        this.emit(end - here);
      }
      prev = ends[i];
    }
    return nullable;
  }

  parseAlternative(): bool {
    let nullable = true;
    let litStart = -1; // a literal run (CHAR/STR) ending at the code tail, to extend
    while (!this.bad && this.at < this.len) {
      const c = this.peek();
      if (c == 0x7c || c == 0x29) break;
      const start = this.code.length;
      const g0 = this.groups;
      const kind = this.parseAtom();
      if (this.bad) break;
      let atomNullable = this.atomNullable;
      let quantified = false;
      if (this.parseQuantifier()) {
        if (kind == KIND_ASSERT) {
          this.fail();
          break;
        }
        quantified = true;
        this.repeat(start, g0, atomNullable);
        if (this.bad) break;
        if (this.qmin == 0) atomNullable = true;
        // A quantifier directly after a quantifier has nothing to repeat.
        const n = this.peek();
        if (n == 0x2a || n == 0x2b || n == 0x3f) {
          this.fail();
          break;
        }
      }
      if (kind == KIND_LIT && !quantified) {
        if (litStart >= 0) this.mergeLiteral(litStart, start);
        else litStart = start;
      } else {
        litStart = -1;
      }
      if (!atomNullable) nullable = false;
      if (this.code.length > MAX_CODE) this.fail();
    }
    return nullable;
  }

  /** Fold the CHAR at `start` (the code tail) into the literal run at `run`. */
  mergeLiteral(run: i32, start: i32): void {
    const code = this.code;
    const c = code[start + 1];
    if (code[run] == OP_CHAR || code[run] == OP_CHARI) {
      const c0 = code[run + 1];
      code[run] = code[run] == OP_CHAR ? OP_STR : OP_STRI;
      code[run + 1] = 2;
      code[run + 2] = c0;
      code[run + 3] = c;
    } else {
      code.length = start;
      code.push(c);
      code[run + 1] = code[run + 1] + 1;
    }
  }

  /** Parses one atom or assertion, emitting its code; sets atomNullable. */
  parseAtom(): i32 {
    const c = this.peek();
    this.at++;
    this.atomNullable = false;
    switch (c) {
      case 0x5e: // ^
        this.emit(this.multiline ? OP_BOLM : OP_BOL);
        this.atomNullable = true;
        return KIND_ASSERT;
      case 0x24: // $
        this.emit(this.multiline ? OP_EOLM : OP_EOL);
        this.atomNullable = true;
        return KIND_ASSERT;
      case 0x2e: // .
        this.emit(this.dotAll ? OP_ANYNL : OP_ANY);
        return KIND_ATOM;
      case 0x28: // (
        return this.parseGroup();
      case 0x5b: // [
        this.parseClass();
        return KIND_ATOM;
      case 0x5c: // backslash
        return this.parseEscape();
      case 0x2a: // * + ? with nothing to repeat
      case 0x2b:
      case 0x3f:
        this.fail();
        return KIND_ATOM;
      case 0x7b: // {
        this.at--;
        if (this.parseQuantifier()) {
          this.fail();
          return KIND_ATOM;
        }
        this.at++;
        break;
    }
    this.emitLiteral(c);
    return KIND_LIT;
  }

  emitLiteral(c: i32): void {
    if (this.icase) {
      this.emit(OP_CHARI);
      this.emit(canon(c));
    } else {
      this.emit(OP_CHAR);
      this.emit(c);
    }
  }

  parseGroup(): i32 {
    if (++this.depth > MAX_DEPTH) {
      this.fail();
      return KIND_ATOM;
    }
    if (this.peek() == 0x3f) {
      const t = this.peekAt(this.at + 1);
      this.at += 2;
      if (t == 0x3a) {
        // (?: )
        this.atomNullable = this.parseDisjunction();
      } else if (t == 0x3d || t == 0x21) {
        // (?= ) and (?! ): quantifiable in Annex B, always nullable
        const p = this.code.length;
        this.emit(OP_LOOK);
        this.emit(t == 0x21 ? 1 : 0);
        this.emit(0);
        this.parseDisjunction();
        this.emit(OP_LOOKEND);
        if (!this.bad) this.code[p + 2] = this.code.length - p;
        this.atomNullable = true;
      } else {
        // lookbehind and named groups are not supported; anything else is a syntax error
        this.fail();
        return KIND_ATOM;
      }
    } else {
      const g = ++this.groups;
      this.emit(OP_SAVE);
      this.emit(g << 1);
      const nullable = this.parseDisjunction();
      this.emit(OP_SAVE);
      this.emit((g << 1) + 1);
      this.atomNullable = nullable;
    }
    if (this.peek() != 0x29) {
      this.fail();
      return KIND_ATOM;
    }
    this.at++;
    this.depth--;
    return KIND_ATOM;
  }

  /** Parses a quantifier at the cursor into qmin/qmax/qgreedy; false (cursor unchanged) if none. */
  parseQuantifier(): bool {
    const c = this.peek();
    let min = 0;
    let max = -1;
    if (c == 0x2a) {
      this.at++;
    } else if (c == 0x2b) {
      min = 1;
      this.at++;
    } else if (c == 0x3f) {
      max = 1;
      this.at++;
    } else if (c == 0x7b) {
      let i = this.at + 1;
      const m0 = this.readInt(i);
      if (m0 < 0) return false;
      i = this.intEnd;
      min = m0;
      max = m0;
      if (this.peekAt(i) == 0x2c) {
        i++;
        if (this.peekAt(i) == 0x7d) {
          max = -1;
        } else {
          const m1 = this.readInt(i);
          if (m1 < 0) return false;
          i = this.intEnd;
          max = m1;
        }
      }
      if (this.peekAt(i) != 0x7d) return false;
      this.at = i + 1;
      if (max >= 0 && min > max) {
        this.fail();
        return false;
      }
    } else {
      return false;
    }
    this.qgreedy = true;
    if (this.peek() == 0x3f) {
      this.qgreedy = false;
      this.at++;
    }
    this.qmin = min;
    this.qmax = max;
    return true;
  }

  /** Decimal digits at i, saturating at 1e9; -1 when there is none. Sets intEnd. */
  readInt(i: i32): i32 {
    let v: i32 = 0;
    let any = false;
    while (true) {
      const d = this.peekAt(i);
      if (d < 0x30 || d > 0x39) break;
      any = true;
      v = v >= 100000000 ? 1000000000 : v * 10 + (d - 0x30);
      i++;
    }
    this.intEnd = i;
    return any ? v : -1;
  }

  /** Unrolls the atom compiled at [start, tail) according to qmin/qmax/qgreedy. */
  repeat(start: i32, g0: i32, nullable: bool): void {
    const body = this.code.slice(start);
    this.code.length = start;
    const min = this.qmin;
    const max = this.qmax;
    const greedy = this.qgreedy;
    if (max == 0) return;
    const blen = body.length;
    const hasGroups = this.groups > g0;
    const resetLen = hasGroups ? 3 : 0;
    const markLen = nullable ? 4 : 0;
    const mandatory = <f64>min * <f64>(resetLen + blen);
    const optional = max < 0
      ? <f64>(3 + resetLen + markLen + blen + 2)
      : <f64>(max - min) * <f64>(3 + resetLen + markLen + blen);
    if (<f64>start + mandatory + optional > <f64>MAX_CODE) {
      this.fail();
      return;
    }
    const lo = (g0 + 1) << 1;
    const hi = (this.groups + 1) << 1;
    for (let i = 0; i < min; i++) {
      if (hasGroups) {
        this.emit(OP_RESET);
        this.emit(lo);
        this.emit(hi);
      }
      for (let j = 0; j < blen; j++) this.emit(unchecked(body[j]));
    }
    if (max == min) return;
    let reg = -1;
    if (nullable) reg = ((this.totalGroups + 1) << 1) + this.regs++;
    const iter = 3 + resetLen + markLen + blen;
    const count = max < 0 ? 1 : max - min;
    const exit = this.code.length + (max < 0 ? iter + 2 : count * iter);
    for (let k = 0; k < count; k++) {
      const p = this.code.length;
      this.emit(OP_SPLIT);
      this.emit(greedy ? 3 : exit - p);
      this.emit(greedy ? exit - p : 3);
      if (hasGroups) {
        this.emit(OP_RESET);
        this.emit(lo);
        this.emit(hi);
      }
      if (nullable) {
        this.emit(OP_SAVE);
        this.emit(reg);
      }
      for (let j = 0; j < blen; j++) this.emit(unchecked(body[j]));
      if (nullable) {
        this.emit(OP_CHECK);
        this.emit(reg);
      }
      if (max < 0) {
        const q = this.code.length;
        this.emit(OP_JMP);
        this.emit(p - q);
      }
    }
  }

  /** After a backslash outside a class. */
  parseEscape(): i32 {
    if (this.at >= this.len) {
      this.fail();
      return KIND_ATOM;
    }
    const e = this.peek();
    switch (e) {
      case 0x62: // \b
        this.at++;
        this.emit(OP_WB);
        this.atomNullable = true;
        return KIND_ASSERT;
      case 0x42: // \B
        this.at++;
        this.emit(OP_NWB);
        this.atomNullable = true;
        return KIND_ASSERT;
      case 0x64: case 0x44: case 0x73: case 0x53: case 0x77: case 0x57: {
        this.at++;
        // With i these sets are closed under JavaScript's non-unicode folding: no CANON needed.
        const r = new Array<i32>();
        const lower = e | 0x20;
        if (lower == 0x64) addDigits(r);
        else if (lower == 0x73) addSpace(r);
        else addWord(r);
        this.emitClass(r, e != lower, false);
        return KIND_ATOM;
      }
    }
    if (e >= 0x31 && e <= 0x39) {
      const v = this.readInt(this.at);
      if (v <= this.totalGroups) {
        this.at = this.intEnd;
        this.emit(this.icase ? OP_BREFI : OP_BREF);
        this.emit(v);
        this.atomNullable = true;
        return KIND_ATOM;
      }
    }
    this.emitLiteral(this.characterEscape(false));
    return KIND_LIT;
  }

  /** A CharacterEscape (Annex B) at the cursor, after the backslash; returns the unit. */
  characterEscape(inClass: bool): i32 {
    const e = this.peek();
    this.at++;
    switch (e) {
      case 0x66: return 0x0c; // f
      case 0x6e: return 0x0a; // n
      case 0x72: return 0x0d; // r
      case 0x74: return 0x09; // t
      case 0x76: return 0x0b; // v
      case 0x63: { // c
        const l = this.peek();
        if (isAsciiLetter(l) || (inClass && ((l >= 0x30 && l <= 0x39) || l == 0x5f))) {
          this.at++;
          return l & 0x1f;
        }
        // Not a control escape: the backslash is literal and 'c' is read again.
        this.at--;
        return 0x5c;
      }
      case 0x78: { // xHH
        const h1 = hexVal(this.peek());
        const h2 = hexVal(this.peekAt(this.at + 1));
        if (h1 >= 0 && h2 >= 0) {
          this.at += 2;
          return (h1 << 4) | h2;
        }
        return e;
      }
      case 0x75: { // uHHHH
        let v = 0;
        for (let i = 0; i < 4; i++) {
          const h = hexVal(this.peekAt(this.at + i));
          if (h < 0) return e;
          v = (v << 4) | h;
        }
        this.at += 4;
        return v;
      }
    }
    if (e >= 0x30 && e <= 0x37) {
      // Legacy octal: \0..\377
      let v = e - 0x30;
      let d = this.peek();
      if (d >= 0x30 && d <= 0x37) {
        v = v * 8 + (d - 0x30);
        this.at++;
        d = this.peek();
        if (v < 32 && d >= 0x30 && d <= 0x37) {
          v = v * 8 + (d - 0x30);
          this.at++;
        }
      }
      return v;
    }
    return e; // identity escape, including \8 and \9
  }

  parseClass(): void {
    let neg = false;
    if (this.peek() == 0x5e) {
      neg = true;
      this.at++;
    }
    const r = new Array<i32>();
    while (true) {
      if (this.at >= this.len) {
        this.fail();
        return;
      }
      if (this.peek() == 0x5d) {
        this.at++;
        break;
      }
      const a = this.classAtom(r);
      if (this.bad) return;
      if (this.peek() == 0x2d) {
        this.at++;
        if (this.at >= this.len) {
          this.fail();
          return;
        }
        if (this.peek() == 0x5d) {
          if (a >= 0) {
            r.push(a);
            r.push(a);
          }
          r.push(0x2d);
          r.push(0x2d);
          continue;
        }
        const b = this.classAtom(r);
        if (this.bad) return;
        if (a < 0 || b < 0) {
          // Annex B: a class escape next to '-' makes '-' a literal.
          if (a >= 0) {
            r.push(a);
            r.push(a);
          }
          if (b >= 0) {
            r.push(b);
            r.push(b);
          }
          r.push(0x2d);
          r.push(0x2d);
          continue;
        }
        if (a > b) {
          this.fail();
          return;
        }
        r.push(a);
        r.push(b);
      } else if (a >= 0) {
        r.push(a);
        r.push(a);
      }
    }
    this.emitClass(r, neg, this.icase);
  }

  /** One class atom: returns its unit, or -1 after adding a class escape's ranges to r. */
  classAtom(r: Array<i32>): i32 {
    const c = this.peek();
    this.at++;
    if (c != 0x5c) return c;
    if (this.at >= this.len) {
      this.fail();
      return -1;
    }
    const e = this.peek();
    switch (e) {
      case 0x62: // [\b] is backspace
        this.at++;
        return 8;
      case 0x64: case 0x44: case 0x73: case 0x53: case 0x77: case 0x57: {
        this.at++;
        const s = new Array<i32>();
        const lower = e | 0x20;
        if (lower == 0x64) addDigits(s);
        else if (lower == 0x73) addSpace(s);
        else addWord(s);
        const set = e != lower ? complement(s) : s;
        for (let i = 0; i < set.length; i++) r.push(set[i]);
        return -1;
      }
    }
    return this.characterEscape(true);
  }

  /** Emits a CLASS for the pairs in r; with fold, matches by canonical unit like JavaScript. */
  emitClass(r: Array<i32>, neg: bool, fold: bool): void {
    let set = normalize(r);
    if (fold) set = foldSet(set);
    const bits = new StaticArray<i32>(4);
    const wide = new Array<i32>();
    for (let i = 0; i < set.length; i += 2) {
      const lo = set[i];
      const hi = set[i + 1];
      for (let c = lo; c <= hi && c < 128; c++) bits[c >> 5] |= 1 << (c & 31);
      if (hi >= 128) {
        wide.push(lo < 128 ? 128 : lo);
        wide.push(hi);
      }
    }
    this.emit(OP_CLASS);
    this.emit(8 + wide.length);
    this.emit((neg ? CLS_NEG : 0) | (fold ? CLS_CANON : 0));
    for (let i = 0; i < 4; i++) this.emit(bits[i]);
    this.emit(wide.length >> 1);
    for (let i = 0; i < wide.length; i++) this.emit(wide[i]);
  }
}

/** The canonical units of a normalized set, as normalized pairs. */
function foldSet(set: Array<i32>): Array<i32> {
  let bits = foldBits;
  if (bits == null) {
    bits = new StaticArray<u32>(2048);
    foldBits = bits;
  }
  memory.fill(changetype<usize>(bits), 0, 2048 << 2);
  for (let i = 0; i < set.length; i += 2) {
    const hi = set[i + 1];
    for (let c = set[i]; c <= hi; c++) {
      const u = canon(c);
      unchecked((bits[u >> 5] |= 1 << (u & 31)));
    }
  }
  const out = new Array<i32>();
  let c = 0;
  while (c <= 0xffff) {
    const w = unchecked(bits[c >> 5]);
    if (w == 0 && (c & 31) == 0) {
      c += 32;
      continue;
    }
    if ((w >>> (c & 31)) & 1) {
      const lo = c;
      while (c <= 0xffff && ((unchecked(bits[c >> 5]) >>> (c & 31)) & 1)) c++;
      out.push(lo);
      out.push(c - 1);
    } else {
      c++;
    }
  }
  return out;
}

// ---------------------------------------------------------------------------------------------
// Matcher

function classMatch(code: usize, pc: i32, c: i32): bool {
  const p = code + (<usize>pc << 2);
  const flags = load<i32>(p, 8);
  if (flags & CLS_CANON) c = canon(c);
  let found = false;
  if (c < 128) {
    found = ((load<u32>(p + (<usize>(3 + (c >> 5)) << 2)) >>> (c & 31)) & 1) != 0;
  } else {
    const n = load<i32>(p, 28);
    const base = p + 32;
    let lo = 0;
    let hi = n - 1;
    while (lo <= hi) {
      const mid = (lo + hi) >>> 1;
      const q = base + (<usize>mid << 3);
      if (c < load<i32>(q)) hi = mid - 1;
      else if (c > load<i32>(q, 4)) lo = mid + 1;
      else {
        found = true;
        break;
      }
    }
  }
  return found != ((flags & CLS_NEG) != 0);
}

@inline function unit(inp: usize, i: i32): i32 {
  return <i32>load<u16>(inp + (<usize>i << 1));
}

/** Size in words of the instruction at pc. */
function opSize(code: StaticArray<i32>, pc: i32): i32 {
  switch (code[pc]) {
    case OP_STR:
    case OP_STRI:
      return 2 + code[pc + 1];
    case OP_CLASS:
      return code[pc + 1];
    case OP_SPLIT:
    case OP_RESET:
    case OP_LOOK:
      return 3;
    case OP_CHAR:
    case OP_CHARI:
    case OP_JMP:
    case OP_SAVE:
    case OP_CHECK:
    case OP_BREF:
    case OP_BREFI:
      return 2;
  }
  return 1;
}

/** The units a match can start with (see Regex.starts), following every path from pc 0 up to
 *  its first consuming instruction; null when a path can match empty or starts with a
 *  backreference. Lookahead bodies are skipped: the continuation must match at the start too. */
function startSet(code: StaticArray<i32>): StaticArray<u32> | null {
  const set = new StaticArray<u32>(5);
  const seen = new Uint8Array(code.length);
  const todo = new Array<i32>();
  todo.push(0);
  const base = changetype<usize>(code);
  while (todo.length > 0) {
    const pc = todo.pop();
    if (seen[pc]) continue;
    seen[pc] = 1;
    const op = code[pc];
    if (op == OP_CHAR || op == OP_STR || op == OP_CHARI || op == OP_STRI) {
      const c = code[pc + (op == OP_CHAR || op == OP_CHARI ? 1 : 2)];
      if (c >= 128) {
        set[4] = 1;
      } else {
        set[c >> 5] |= 1 << (c & 31);
        // A folded ASCII capital also matches its lower case (and only ASCII folds to ASCII).
        if ((op == OP_CHARI || op == OP_STRI) && c >= 0x41 && c <= 0x5a) set[(c + 32) >> 5] |= 1 << ((c + 32) & 31);
      }
    } else if (op == OP_ANY || op == OP_ANYNL || op == OP_CLASS) {
      for (let c = 0; c < 128; c++) {
        const ok = op == OP_CLASS ? classMatch(base, pc, c) : op == OP_ANYNL || !isLineTerm(c);
        if (ok) set[c >> 5] |= 1 << (c & 31);
      }
      // Units >= 128: any for . and negated classes, else only if the class lists some.
      if (op != OP_CLASS || (code[pc + 2] & CLS_NEG) != 0 || code[pc + 7] > 0) set[4] = 1;
    } else if (op == OP_JMP) {
      todo.push(pc + code[pc + 1]);
    } else if (op == OP_SPLIT) {
      todo.push(pc + code[pc + 1]);
      todo.push(pc + code[pc + 2]);
    } else if (op == OP_LOOK) {
      todo.push(pc + code[pc + 2]);
    } else if (op == OP_MATCH || op == OP_BREF || op == OP_BREFI) {
      return null;
    } else {
      // Assertions, SAVE, RESET, CHECK: no unit consumed yet.
      todo.push(pc + opSize(code, pc));
    }
  }
  if (set[0] == 0xffffffff && set[1] == 0xffffffff && set[2] == 0xffffffff && set[3] == 0xffffffff && set[4] != 0) {
    return null;
  }
  return set;
}

/** Makes room for `words` on the shared stack; returns its address, or 0 beyond MAX_STACK. */
function stackRoom(words: i32): usize {
  if (words > stack.length) {
    if (words > MAX_STACK) return 0;
    let cap = stack.length << 1;
    while (cap < words) cap <<= 1;
    const next = new StaticArray<i32>(cap);
    memory.copy(changetype<usize>(next), changetype<usize>(stack), <usize>stack.length << 2);
    stack = next;
  }
  return changetype<usize>(stack);
}

export class Regex {
  /** VM steps one test() call may take before it gives up and returns false. */
  static stepBudget: i32 = 100000;

  /** Set by test() when it returned false because the step budget ran out. */
  exhausted: bool = false;

  private code: StaticArray<i32>;
  private nslots: i32;
  private slots: StaticArray<i32>;
  /** Only a match starting at index 0 is possible (^ without m, flag y, .* with s). */
  private anchored: bool;
  /** The pattern starts with .*: only line starts need to be tried as match starts. */
  private lineStart: bool;
  /** Units a match can start with: ASCII bits in words 0-3, word 4 non-zero if any unit >= 128
   *  may start one; null when any start is possible. Starts it rules out cost no VM steps. */
  private starts: StaticArray<u32> | null;
  private steps: i32 = 0;

  private constructor(code: StaticArray<i32>, nslots: i32, sticky: bool) {
    this.code = code;
    this.nslots = nslots;
    this.slots = new StaticArray<i32>(nslots);
    const op = code[0];
    let anchored = sticky || op == OP_BOL;
    let lineStart = false;
    if (op == OP_SPLIT && code.length > 6 && code[4] == OP_JMP && code[5] == -4 &&
        ((code[1] == 3 && code[2] == 6) || (code[1] == 6 && code[2] == 3))) {
      if (code[3] == OP_ANYNL) anchored = true;
      else if (code[3] == OP_ANY) lineStart = true;
    }
    this.anchored = anchored;
    this.lineStart = lineStart;
    this.starts = startSet(code);
  }

  /** Compiles `pattern`; null on a syntax error or an unsupported construct or flag. */
  static compile(pattern: string, flags: string = ""): Regex | null {
    let icase = false;
    let multiline = false;
    let dotAll = false;
    let sticky = false;
    let seen = 0;
    for (let i = 0; i < flags.length; i++) {
      const f = <i32>flags.charCodeAt(i);
      let bit = 0;
      if (f == 0x69) { icase = true; bit = 1; }
      else if (f == 0x6d) { multiline = true; bit = 2; }
      else if (f == 0x73) { dotAll = true; bit = 4; }
      else if (f == 0x79) { sticky = true; bit = 8; }
      else if (f == 0x67) bit = 16;
      else if (f == 0x64) bit = 32;
      else return null;
      if (seen & bit) return null;
      seen |= bit;
    }
    const c = new Compiler(pattern, icase, multiline, dotAll);
    const code = c.compile();
    if (code == null) return null;
    return new Regex(code, c.slotCount(), sticky);
  }

  /** Whether the pattern matches anywhere in `input` (false also when the budget ran out). */
  test(input: string): bool {
    const len = input.length;
    const inp = changetype<usize>(input);
    this.steps = 0;
    this.exhausted = false;
    const last = this.anchored ? 0 : len;
    let result = false;
    const starts = this.starts;
    for (let s = 0; s <= last; s++) {
      if (this.lineStart && s > 0 && !isLineTerm(unit(inp, s - 1))) continue;
      if (starts != null) {
        if (s >= len) break;
        const c = unit(inp, s);
        if (c < 128) {
          if (((unchecked(starts[c >> 5]) >>> (c & 31)) & 1) == 0) continue;
        } else if (unchecked(starts[4]) == 0) continue;
      }
      const r = this.exec(inp, len, s);
      if (r != 0) {
        result = r > 0;
        this.exhausted = r < 0;
        break;
      }
    }
    if (stack.length > 3 << 14) stack = new StaticArray<i32>(STACK_INIT);
    return result;
  }

  /** Runs the program from `start`: 1 match, 0 no match, -1 budget or stack exhausted. */
  private exec(inp: usize, len: i32, start: i32): i32 {
    const code = changetype<usize>(this.code);
    const slots = changetype<usize>(this.slots);
    memory.fill(slots, 0xff, <usize>this.nslots << 2);
    const budget = Regex.stepBudget;
    let steps = this.steps;
    let stk = changetype<usize>(stack);
    let cap = stack.length;
    let sp = 0;
    let pc = 0;
    let pos = start;
    while (true) {
      if (++steps > budget) {
        this.steps = steps;
        return -1;
      }
      if (sp + 6 > cap) {
        stk = stackRoom(sp + 6);
        if (stk == 0) {
          this.steps = steps;
          return -1;
        }
        cap = stack.length;
      }
      const ip = code + (<usize>pc << 2);
      let ok = false;
      switch (load<i32>(ip)) {
        case OP_CHAR: {
          if (pos < len && unit(inp, pos) == load<i32>(ip, 4)) {
            pos++;
            pc += 2;
            ok = true;
          }
          break;
        }
        case OP_CHARI: {
          if (pos < len && canon(unit(inp, pos)) == load<i32>(ip, 4)) {
            pos++;
            pc += 2;
            ok = true;
          }
          break;
        }
        case OP_STR:
        case OP_STRI: {
          const n = load<i32>(ip, 4);
          if (pos + n <= len) {
            const fold = load<i32>(ip) == OP_STRI;
            let i = 0;
            for (; i < n; i++) {
              let c = unit(inp, pos + i);
              if (fold) c = canon(c);
              if (c != load<i32>(ip + (<usize>(2 + i) << 2))) break;
            }
            if (i == n) {
              pos += n;
              pc += 2 + n;
              ok = true;
            }
          }
          break;
        }
        case OP_ANY: {
          if (pos < len && !isLineTerm(unit(inp, pos))) {
            pos++;
            pc++;
            ok = true;
          }
          break;
        }
        case OP_ANYNL: {
          if (pos < len) {
            pos++;
            pc++;
            ok = true;
          }
          break;
        }
        case OP_CLASS: {
          if (pos < len && classMatch(code, pc, unit(inp, pos))) {
            pos++;
            pc += load<i32>(ip, 4);
            ok = true;
          }
          break;
        }
        case OP_BOL: {
          ok = pos == 0;
          pc++;
          break;
        }
        case OP_BOLM: {
          ok = pos == 0 || isLineTerm(unit(inp, pos - 1));
          pc++;
          break;
        }
        case OP_EOL: {
          ok = pos == len;
          pc++;
          break;
        }
        case OP_EOLM: {
          ok = pos == len || isLineTerm(unit(inp, pos));
          pc++;
          break;
        }
        case OP_WB:
        case OP_NWB: {
          const a = pos > 0 && isWordChar(unit(inp, pos - 1));
          const b = pos < len && isWordChar(unit(inp, pos));
          ok = (a != b) == (load<i32>(ip) == OP_WB);
          pc++;
          break;
        }
        case OP_JMP: {
          pc += load<i32>(ip, 4);
          ok = true;
          break;
        }
        case OP_SPLIT: {
          const e = stk + (<usize>sp << 2);
          store<i32>(e, T_BRANCH);
          store<i32>(e, pc + load<i32>(ip, 8), 4);
          store<i32>(e, pos, 8);
          sp += 3;
          pc += load<i32>(ip, 4);
          ok = true;
          break;
        }
        case OP_SAVE: {
          const slot = slots + (<usize>load<i32>(ip, 4) << 2);
          const e = stk + (<usize>sp << 2);
          store<i32>(e, T_UNDO);
          store<i32>(e, load<i32>(ip, 4), 4);
          store<i32>(e, load<i32>(slot), 8);
          sp += 3;
          store<i32>(slot, pos);
          pc += 2;
          ok = true;
          break;
        }
        case OP_RESET: {
          const hi = load<i32>(ip, 8);
          for (let s = load<i32>(ip, 4); s < hi; s++) {
            const slot = slots + (<usize>s << 2);
            const old = load<i32>(slot);
            if (old == -1) continue;
            steps++;
            if (sp + 3 > cap) {
              stk = stackRoom(sp + 3);
              if (stk == 0) {
                this.steps = steps;
                return -1;
              }
              cap = stack.length;
            }
            const e = stk + (<usize>sp << 2);
            store<i32>(e, T_UNDO);
            store<i32>(e, s, 4);
            store<i32>(e, old, 8);
            sp += 3;
            store<i32>(slot, -1);
          }
          pc += 3;
          ok = true;
          break;
        }
        case OP_CHECK: {
          ok = load<i32>(slots + (<usize>load<i32>(ip, 4) << 2)) != pos;
          pc += 2;
          break;
        }
        case OP_BREF:
        case OP_BREFI: {
          const g = load<i32>(ip, 4);
          const s0 = load<i32>(slots + (<usize>g << 3));
          const e0 = load<i32>(slots + (<usize>g << 3), 4);
          pc += 2;
          if (s0 < 0 || e0 < 0) {
            ok = true; // a group that did not participate matches empty
            break;
          }
          const n = e0 - s0;
          if (pos + n > len) break;
          const fold = load<i32>(ip) == OP_BREFI;
          let i = 0;
          for (; i < n; i++) {
            let a = unit(inp, s0 + i);
            let b = unit(inp, pos + i);
            if (fold) {
              a = canon(a);
              b = canon(b);
            }
            if (a != b) break;
          }
          steps += n >> 4;
          if (i == n) {
            pos += n;
            ok = true;
          }
          break;
        }
        case OP_LOOK: {
          const e = stk + (<usize>sp << 2);
          store<i32>(e, load<i32>(ip, 4) != 0 ? T_NLOOK : T_LOOK);
          store<i32>(e, pc + load<i32>(ip, 8), 4);
          store<i32>(e, pos, 8);
          sp += 3;
          pc += 3;
          ok = true;
          break;
        }
        case OP_LOOKEND: {
          // The lookahead body matched. Its frame is the topmost lookahead frame.
          let b = sp - 3;
          while (true) {
            const t = load<i32>(stk + (<usize>b << 2));
            if (t == T_LOOK || t == T_NLOOK) break;
            b -= 3;
          }
          steps += (sp - b) / 3;
          const be = stk + (<usize>b << 2);
          if (load<i32>(be) == T_LOOK) {
            // Atomic success: drop the body's branches, keep its capture undo records.
            pc = load<i32>(be, 4);
            pos = load<i32>(be, 8);
            let j = b;
            for (let k = b + 3; k < sp; k += 3) {
              const ke = stk + (<usize>k << 2);
              if (load<i32>(ke) == T_UNDO) {
                const je = stk + (<usize>j << 2);
                store<i32>(je, T_UNDO);
                store<i32>(je, load<i32>(ke, 4), 4);
                store<i32>(je, load<i32>(ke, 8), 8);
                j += 3;
              }
            }
            sp = j;
            ok = true;
          } else {
            // Negative lookahead whose body matched: undo the body, then fail.
            for (let k = sp - 3; k > b; k -= 3) {
              const ke = stk + (<usize>k << 2);
              if (load<i32>(ke) == T_UNDO) {
                store<i32>(slots + (<usize>load<i32>(ke, 4) << 2), load<i32>(ke, 8));
              }
            }
            sp = b;
          }
          break;
        }
        case OP_MATCH: {
          this.steps = steps;
          return 1;
        }
      }
      if (ok) continue;
      // Backtrack to the most recent choice point, undoing slot writes on the way.
      let resumed = false;
      while (sp > 0) {
        sp -= 3;
        const e = stk + (<usize>sp << 2);
        const t = load<i32>(e);
        if (t == T_UNDO) {
          store<i32>(slots + (<usize>load<i32>(e, 4) << 2), load<i32>(e, 8));
        } else if (t == T_BRANCH || t == T_NLOOK) {
          // A branch to retry, or a negative lookahead whose body failed (so it succeeds).
          pc = load<i32>(e, 4);
          pos = load<i32>(e, 8);
          resumed = true;
          break;
        }
        // T_LOOK: the lookahead body failed, keep unwinding.
      }
      if (!resumed) {
        this.steps = steps;
        return 0;
      }
    }
    return 0; // not reached; the compiler wants a return after the loop
  }
}
