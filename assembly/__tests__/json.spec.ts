import { ByteBuf } from "../lib/bytes";
import {
  copyJsonMasked,
  isValidJson,
  writeJsonLowerAsciiStringBytes,
  writeJsonString,
  writeJsonStringBytes,
} from "../lib/json";

// Output starts with this marker so tests also see that a failed copy leaves `out` as it was.
const MARK = "#";

function copyBytes(b: Uint8Array, masks: Array<string> | null): string | null {
  const out = new ByteBuf(8);
  out.str(MARK);
  const ok = copyJsonMasked(b.dataStart, b.length, masks, out);
  if (!ok) {
    expect(out.toString()).toBe(MARK, "failed copy must restore out");
    return null;
  }
  return out.toString().substring(1);
}

function copy(s: string, masks: Array<string> | null = null): string | null {
  return copyBytes(Uint8Array.wrap(String.UTF8.encode(s)), masks);
}

function valid(s: string): bool {
  const b = String.UTF8.encode(s);
  return isValidJson(changetype<usize>(b), b.byteLength);
}

function bytes(values: Array<i32>): Uint8Array {
  const b = new Uint8Array(values.length);
  for (let i = 0; i < values.length; i++) b[i] = <u8>values[i];
  return b;
}

/** `"` + the given bytes + `"` */
function quoted(values: Array<i32>): Uint8Array {
  const b = new Uint8Array(values.length + 2);
  b[0] = 0x22;
  for (let i = 0; i < values.length; i++) b[i + 1] = <u8>values[i];
  b[values.length + 1] = 0x22;
  return b;
}

function validBytes(b: Uint8Array): bool {
  return isValidJson(b.dataStart, b.length);
}

function nested(depth: i32, open: string, close: string): string {
  return open.repeat(depth) + close.repeat(depth);
}

describe("copyJsonMasked without masks", () => {
  it("keeps values byte-exact", () => {
    expect(copy("12345678901234567890")).toBe("12345678901234567890");
    expect(copy('{"id":12345678901234567890,"f":1.50e+10,"n":-0}')).toBe(
      '{"id":12345678901234567890,"f":1.50e+10,"n":-0}',
    );
    expect(copy("[]")).toBe("[]");
    expect(copy("{}")).toBe("{}");
    expect(copy('{"a":[],"b":{},"c":[{}]}')).toBe('{"a":[],"b":{},"c":[{}]}');
    expect(copy('{"u":"a\\/b","e":"\\u00e9","t":"\\t\\"\\\\"}')).toBe('{"u":"a\\/b","e":"\\u00e9","t":"\\t\\"\\\\"}');
    expect(copy('{ "a" : [ 1 , 2 ] ,\n\t"b" : null }')).toBe('{ "a" : [ 1 , 2 ] ,\n\t"b" : null }');
    expect(copy('"héllo €𝄞"')).toBe('"héllo €𝄞"');
    expect(copy("true")).toBe("true");
    expect(copy("false")).toBe("false");
    expect(copy("null")).toBe("null");
    expect(copy("1e999")).toBe("1e999");
  });
  it("drops leading and trailing whitespace", () => {
    expect(copy(" \n\t\r[1]\r\n ")).toBe("[1]");
    expect(copy('\n  {"a":1}')).toBe('{"a":1}');
  });
  it("appends after existing content", () => {
    const out = new ByteBuf();
    out.str('{"body":');
    const b = String.UTF8.encode("[1,2]");
    expect(copyJsonMasked(changetype<usize>(b), b.byteLength, null, out)).toBe(true);
    expect(copyJsonMasked(changetype<usize>(b), b.byteLength, [], out)).toBe(true);
    expect(out.toString()).toBe('{"body":[1,2][1,2]');
  });
  it("copies long strings (fast scan path) exactly", () => {
    const long = "abcdefghij0123456789".repeat(50);
    expect(copy('{"k":"' + long + '\\n' + long + 'é"}')).toBe('{"k":"' + long + '\\n' + long + 'é"}');
  });
});

describe("invalid JSON", () => {
  it("rejects malformed documents", () => {
    const bad: Array<string> = [
      "",
      "   ",
      "[1] x",
      "[1][2]",
      "01",
      "-01",
      "1.",
      ".5",
      "+1",
      "-",
      "1e",
      "1e+",
      "0x10",
      "NaN",
      "Infinity",
      "[1,]",
      "[,1]",
      "[1 2]",
      '{"a"}',
      '{"a":}',
      '{"a":1,}',
      '{,"a":1}',
      "{a:1}",
      "{'a':1}",
      '{"a":1 "b":2}',
      '{"a" 1}',
      "]",
      "}",
      "[",
      "{",
      "[1",
      '{"a":1',
      '"abc',
      '"abc\\"',
      '"\\x"',
      '"\\u12"',
      '"\\u12G4"',
      "tru",
      "nul",
      "fals",
      "truex",
      "True",
      "[1]]",
      '"a\tb"',
      '"a\nb"',
      '"\u0000"',
      '"\u001f"',
    ];
    for (let i = 0; i < bad.length; i++) {
      expect(valid(bad[i])).toBe(false, bad[i]);
      expect(copy(bad[i])).toBeNull(bad[i]);
      expect(copy(bad[i], ["a"])).toBeNull(bad[i]);
    }
  });
  it("rejects empty and negative lengths", () => {
    expect(isValidJson(0, -1)).toBe(false);
    const out = new ByteBuf(4);
    expect(copyJsonMasked(0, -1, ["a"], out)).toBe(false);
    expect(copyJsonMasked(0, 0, null, out)).toBe(false);
    writeJsonStringBytes(out, 0, -5);
    expect(out.toString()).toBe('""');
  });
  it("rejects deep nesting without trapping", () => {
    expect(copy(nested(128, "[", "]"))).toBe(nested(128, "[", "]"));
    expect(copy(nested(129, "[", "]"))).toBeNull();
    const deep = nested(100000, "[", "]");
    expect(valid(deep)).toBe(false);
    expect(copy(deep)).toBeNull();
    expect(copy(deep, ["a"])).toBeNull();
    expect(valid("[".repeat(100000))).toBe(false);
    expect(valid('{"a":'.repeat(100000))).toBe(false);
  });
  it("rejects ill-formed UTF-8 inside strings", () => {
    expect(validBytes(quoted([0xc3, 0xa9]))).toBe(true); // é
    expect(validBytes(quoted([0xe2, 0x82, 0xac]))).toBe(true); // €
    expect(validBytes(quoted([0xf0, 0x9d, 0x84, 0x9e]))).toBe(true); // 𝄞
    expect(validBytes(quoted([0xf4, 0x8f, 0xbf, 0xbf]))).toBe(true); // U+10FFFF
    expect(validBytes(quoted([0xed, 0x9f, 0xbf]))).toBe(true); // U+D7FF
    expect(validBytes(quoted([0xc0, 0x80]))).toBe(false); // overlong NUL
    expect(validBytes(quoted([0xc1, 0xbf]))).toBe(false); // overlong
    expect(validBytes(quoted([0xe0, 0x80, 0xaf]))).toBe(false); // overlong "/"
    expect(validBytes(quoted([0xf0, 0x80, 0x80, 0xaf]))).toBe(false); // overlong
    expect(validBytes(quoted([0xed, 0xa0, 0x80]))).toBe(false); // U+D800 encoded
    expect(validBytes(quoted([0xed, 0xbf, 0xbf]))).toBe(false); // U+DFFF encoded
    expect(validBytes(quoted([0xf4, 0x90, 0x80, 0x80]))).toBe(false); // > U+10FFFF
    expect(validBytes(quoted([0xf5, 0x80, 0x80, 0x80]))).toBe(false);
    expect(validBytes(quoted([0xff]))).toBe(false);
    expect(validBytes(quoted([0x80]))).toBe(false); // lone continuation
    expect(validBytes(quoted([0xc3]))).toBe(false); // truncated
    expect(validBytes(quoted([0xe2, 0x82]))).toBe(false); // truncated
    expect(validBytes(quoted([0xc3, 0x41]))).toBe(false); // bad continuation
    expect(validBytes(bytes([0xc3, 0xa9]))).toBe(false); // outside a string
    expect(copyBytes(bytes([0x7b, 0x22, 0x61, 0x22, 0x3a, 0x22, 0xff, 0x22, 0x7d]), ["a"])).toBeNull();
  });
  it("accepts lone surrogate escapes (the grammar allows them)", () => {
    expect(valid('"\\ud800"')).toBe(true);
    expect(valid('"\\uD83D\\uDE00"')).toBe(true);
  });
});

describe("copyJsonMasked with masks", () => {
  it("removes first, middle and last members", () => {
    const m = ["password"];
    expect(copy('{"password":"x","a":1,"b":2}', m)).toBe('{"a":1,"b":2}');
    expect(copy('{"a":1,"password":"x","b":2}', m)).toBe('{"a":1,"b":2}');
    expect(copy('{"a":1,"b":2,"password":"x"}', m)).toBe('{"a":1,"b":2}');
    expect(copy('{"password":"x"}', m)).toBe("{}");
    expect(copy('{"password":1,"password":2}', m)).toBe("{}");
    expect(copy('{"password":1,"password":2,"a":3}', m)).toBe('{"a":3}');
    expect(copy('{"a":1,"password":1,"password":2,"b":3,"password":4}', m)).toBe('{"a":1,"b":3}');
  });
  it("keeps valid JSON with whitespace around removed members", () => {
    const m = ["p"];
    expect(copy('{ "p" : 1 , "a" : 2 }', m)).toBe('{  "a" : 2 }');
    expect(copy('{ "a" : 2 , "p" : 1 }', m)).toBe('{ "a" : 2  }');
    expect(copy('{ "p" : 1 }', m)).toBe("{  }");
    expect(copy('{\n  "p": {"x": [1, 2]},\n  "a": 2\n}', m)).toBe('{\n  "a": 2\n}');
  });
  it("removes at any depth and inside arrays", () => {
    const m = ["password", "secret"];
    expect(
      copy('{"password":"a","customer":{"password":"b","list":[{"password":"c","ok":1},{"secret":[1,{"password":2}]}]}}', m),
    ).toBe('{"customer":{"list":[{"ok":1},{}]}}');
    expect(copy('[{"secret":1},[{"secret":2,"k":[]}],"secret"]', m)).toBe('[{},[{"k":[]}],"secret"]');
    // a masked value that itself holds masked keys is removed whole
    expect(copy('{"secret":{"password":1},"x":{"y":{"password":[{}]}}}', m)).toBe('{"x":{"y":{}}}');
  });
  it("compares keys after unescaping, exactly and case-sensitively", () => {
    expect(copy('{"pass\\u0077ord":1,"a":2}', ["password"])).toBe('{"a":2}');
    expect(copy('{"a\\/b":1,"c":2}', ["a/b"])).toBe('{"c":2}');
    expect(copy('{"Password":1,"passwords":2,"passwor":3}', ["password"])).toBe(
      '{"Password":1,"passwords":2,"passwor":3}',
    );
    expect(copy('{"clé":1,"k":2}', ["clé"])).toBe('{"k":2}');
    expect(copy('{"cl\\u00e9":1,"k":2}', ["clé"])).toBe('{"k":2}');
    expect(copy('{"𝄞":1,"\\ud834\\udd1e":2,"k":3}', ["𝄞"])).toBe('{"k":3}');
    expect(copy('{"t\\tx":1,"k":2}', ["t\tx"])).toBe('{"k":2}');
    expect(copy('{"":1,"k":2}', [""])).toBe('{"k":2}');
    // long keys (the length prefilter works modulo 64)
    const long = "k".repeat(64);
    expect(copy('{"' + long + '":1,"k":2,"' + "k".repeat(65) + '":3}', [long])).toBe('{"k":2,"' + "k".repeat(65) + '":3}');
  });
  it("keeps the rest of the value byte-exact", () => {
    expect(copy('{"big":12345678901234567890,"p":1,"e":[],"s":"\\/"}', ["p"])).toBe(
      '{"big":12345678901234567890,"e":[],"s":"\\/"}',
    );
    expect(copy("  []  ", ["p"])).toBe("[]");
    expect(copy('"password"', ["password"])).toBe('"password"');
  });
});

function strOf(s: string): string {
  const out = new ByteBuf(4);
  writeJsonString(out, s);
  return out.toString();
}

function strOfBytes(b: Uint8Array, lower: bool = false): string {
  const out = new ByteBuf(4);
  if (lower) writeJsonLowerAsciiStringBytes(out, b.dataStart, b.length);
  else writeJsonStringBytes(out, b.dataStart, b.length);
  // Whatever the input, the output must be valid JSON.
  expect(isValidJson(out.ptr, out.length)).toBe(true);
  return out.toString();
}

describe("writing JSON strings", () => {
  it("escapes quotes, backslashes and control characters", () => {
    expect(strOf("")).toBe('""');
    expect(strOf('a"b\\c/d')).toBe('"a\\"b\\\\c/d"');
    expect(strOf("\n\r\t\b\f\u0000\u001f\u0001")).toBe('"\\n\\r\\t\\b\\f\\u0000\\u001f\\u0001"');
    expect(strOf("é€𝄞")).toBe('"é€𝄞"');
  });
  it("turns lone surrogates into U+FFFD", () => {
    const hi = String.fromCharCode(0xd800);
    const lo = String.fromCharCode(0xdc00);
    expect(strOf("a" + hi + "b")).toBe('"a\uFFFDb"');
    expect(strOf(lo + hi)).toBe('"\uFFFD\uFFFD"');
    expect(strOf("x" + hi)).toBe('"x\uFFFD"');
  });
  it("handles strings longer than one chunk", () => {
    const s = "é\n".repeat(3000) + "end";
    const out = new ByteBuf(4);
    writeJsonString(out, s);
    expect(out.length).toBe(2 + 3000 * 4 + 3);
    expect(out.toString()).toBe('"' + "é\\n".repeat(3000) + 'end"');
  });
  it("writes raw bytes, replacing ill-formed UTF-8", () => {
    expect(strOfBytes(Uint8Array.wrap(String.UTF8.encode('Bearer "x"\n é')))).toBe('"Bearer \\"x\\"\\n é"');
    expect(strOfBytes(bytes([0x61, 0xff, 0x62]))).toBe('"a\uFFFDb"');
    expect(strOfBytes(bytes([0xe2, 0x82, 0x41]))).toBe('"\uFFFDA"'); // truncated: one U+FFFD
    expect(strOfBytes(bytes([0xed, 0xa0, 0x80]))).toBe('"\uFFFD\uFFFD\uFFFD"'); // surrogate
    expect(strOfBytes(bytes([0xc0, 0xaf]))).toBe('"\uFFFD\uFFFD"'); // overlong
    expect(strOfBytes(bytes([0xf0, 0x9f, 0x98]))).toBe('"\uFFFD"'); // cut at the end
    expect(strOfBytes(bytes([0xf0, 0x9f, 0x98, 0x80]))).toBe('"😀"');
    expect(strOfBytes(bytes([0x00, 0x7f]))).toBe('"\\u0000\x7f"');
  });
  it("lowercases ASCII header names only", () => {
    expect(strOfBytes(Uint8Array.wrap(String.UTF8.encode("X-Request-ID_Zz@[")), true)).toBe('"x-request-id_zz@["');
    expect(strOfBytes(Uint8Array.wrap(String.UTF8.encode("ÀB")), true)).toBe('"Àb"');
  });
  it("copies and lowercases whole words exactly as byte by byte, at every offset", () => {
    // Every printable ASCII byte, shifted through word positions, with and without lowercasing.
    for (let shift = 0; shift < 8; shift++) {
      let src = "";
      for (let i = 0; i < shift; i++) src += "a";
      for (let c = 0x20; c < 0x7f; c++) src += String.fromCharCode(c);
      let plain = "";
      let lowered = "";
      for (let i = 0; i < src.length; i++) {
        const c = src.charCodeAt(i);
        const esc = c == 0x22 ? '\\"' : c == 0x5c ? "\\\\" : String.fromCharCode(c);
        plain += esc;
        lowered += c >= 0x41 && c <= 0x5a ? String.fromCharCode(c + 32) : esc;
      }
      const b = Uint8Array.wrap(String.UTF8.encode(src));
      expect(strOfBytes(b)).toBe('"' + plain + '"');
      expect(strOfBytes(b, true)).toBe('"' + lowered + '"');
    }
  });
  it("handles byte input longer than one chunk", () => {
    // 5-byte units so a 4-byte sequence straddles the 2048-byte chunk boundary.
    const b = new Uint8Array(5000);
    for (let i = 0; i < b.length; i += 5) {
      b[i] = 0xf0;
      b[i + 1] = 0x9f;
      b[i + 2] = 0x98;
      b[i + 3] = 0x80;
      b[i + 4] = 0x61;
    }
    expect(strOfBytes(b)).toBe('"' + "😀a".repeat(1000) + '"');
  });
});
