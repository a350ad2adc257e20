import { JsonType, JsonValue, memberText, parseJson, parseJsonBytes } from "../lib/json_value";

function text(v: JsonValue | null): string | null {
  return v === null ? null : v.toText();
}

describe("parseJson", () => {
  it("parses scalars", () => {
    expect(parseJson("null")!.isNull()).toBe(true);
    const t = parseJson(" true ")!;
    expect(t.isBool()).toBe(true);
    expect(t.bool).toBe(true);
    expect(parseJson("false")!.bool).toBe(false);
    const n = parseJson("-12.5e1")!;
    expect(n.isNumber()).toBe(true);
    expect(n.num).toBe(-125.0);
    expect(n.raw).toBe("-12.5e1");
    const s = parseJson('"hi"')!;
    expect(s.isString()).toBe(true);
    expect(s.str).toBe("hi");
  });
  it("keeps a number's source text (big integers exact)", () => {
    const v = parseJson('{"id":12345678901234567890}')!;
    expect(text(v.get("id"))).toBe("12345678901234567890");
    expect(parseJson("1e999")!.num).toBe(Infinity);
    expect(parseJson("123")!.num).toBe(123.0);
    expect(parseJson("-42")!.num).toBe(-42.0);
    expect(1 / parseJson("-0")!.num).toBe(-Infinity);
    expect(parseJson("0.1")!.num).toBe(0.1);
    expect(parseJson("2.5E-3")!.num).toBe(0.0025);
    expect(parseJson("999999999999999")!.num).toBe(999999999999999.0);
    expect(parseJson("12345678901234567890")!.num).toBe(12345678901234567890.0);
  });
  it("decodes every escape", () => {
    expect(parseJson('"a\\/b\\\\c\\"d"')!.str).toBe('a/b\\c"d');
    expect(parseJson('"\\b\\f\\n\\r\\t"')!.str).toBe("\b\f\n\r\t");
    expect(parseJson('"\\u00e9\\u20AC"')!.str).toBe("é€");
    expect(parseJson('"\\ud834\\udd1e"')!.str).toBe("𝄞");
    expect(parseJson('"\\ud800"')!.str).toBe(String.fromCharCode(0xd800));
    expect(parseJson('"é€𝄞 plain"')!.str).toBe("é€𝄞 plain");
    expect(parseJson('"x\\n𝄞é"')!.str).toBe("x\n𝄞é");
    // Kong encodes config with `\/`
    const cfg = parseJson('{"api_endpoint":"https:\\/\\/api.moesif.net"}')!;
    expect(text(cfg.get("api_endpoint"))).toBe("https://api.moesif.net");
  });
  it("builds arrays and objects", () => {
    const v = parseJson('{"a":[1,"two",[],{}],"b":{"c":{"d":true}},"a":0}')!;
    expect(v.isObject()).toBe(true);
    expect(v.keys.length).toBe(3);
    const a = v.get("a")!; // first member wins
    expect(a.isArray()).toBe(true);
    expect(a.items.length).toBe(4);
    expect(text(a.at(0))).toBe("1");
    expect(text(a.at(1))).toBe("two");
    expect(a.at(2)!.isArray()).toBe(true);
    expect(a.at(2)!.items.length).toBe(0);
    expect(a.at(3)!.isObject()).toBe(true);
    expect(a.at(4)).toBeNull();
    expect(a.at(-1)).toBeNull();
    expect(a.get("x")).toBeNull();
    expect(text(v.path("b.c.d"))).toBe("true");
    expect(v.path("b.c")!.type).toBe(JsonType.Object);
    expect(v.path("b.x")).toBeNull();
    expect(v.path("a.0")).toBeNull();
    expect(v.path("b.c.d.e")).toBeNull();
    expect(v.path("b.")).toBeNull();
    expect(text(parseJson('{"k":null}')!.get("k"))).toBeNull();
    expect(parseJson("[]")!.isArray()).toBe(true);
  });
  it("finds keys that contain dots", () => {
    const v = parseJson('{"https://example.com/org":"acme","a.b":{"c":1},"a":{"b":{"c":2}},"x":{"y.z":3}}')!;
    expect(text(v.path("https://example.com/org"))).toBe("acme");
    expect(text(v.path("a.b.c"))).toBe("1"); // longest key first
    expect(text(v.path("x.y.z"))).toBe("3");
  });
  it("returns null on invalid input", () => {
    const bad: Array<string> = ["", " ", "[1,]", '{"a"}', "01", "1.", ".5", "+1", '"\\x"', '"a', "[1] 2", "{", "tru", '"\t"'];
    for (let i = 0; i < bad.length; i++) expect(parseJson(bad[i])).toBeNull(bad[i]);
  });
  it("does not trap on text that is not valid UTF-16", () => {
    const lone = String.fromCharCode(0xd800);
    expect(parseJson('"a' + lone + '"')!.str).toBe("a\uFFFD");
    expect(parseJson(lone)).toBeNull();
  });
  it("bounds nesting depth", () => {
    expect(parseJson("[".repeat(64) + "]".repeat(64))).not.toBeNull();
    expect(parseJson("[".repeat(65) + "]".repeat(65))).toBeNull();
    expect(parseJson('{"a":'.repeat(3) + "1" + "}".repeat(3), 2)).toBeNull();
    expect(parseJson('{"a":'.repeat(2) + "1" + "}".repeat(2), 2)).not.toBeNull();
    expect(parseJson("[".repeat(100000) + "]".repeat(100000), 100000)).toBeNull();
  });
  it("parses from bytes", () => {
    const b = String.UTF8.encode('  {"sub":"u1"}\n');
    const v = parseJsonBytes(changetype<usize>(b), b.byteLength)!;
    expect(text(v.get("sub"))).toBe("u1");
    const bad = new Uint8Array(3);
    bad[0] = 0x22;
    bad[1] = 0xc0;
    bad[2] = 0x22;
    expect(parseJsonBytes(bad.dataStart, 3)).toBeNull();
    expect(parseJsonBytes(bad.dataStart, 0)).toBeNull();
  });
});

function member(doc: string, key: string): string | null {
  const b = String.UTF8.encode(doc);
  return memberText(changetype<usize>(b), b.byteLength, key);
}

describe("memberText (claims read in place)", () => {
  it("reads scalars as the DOM's toText does", () => {
    const doc = '{ "sub" : "user-1", "n": -12.50e1, "big": 12345678901234567890, "t": true, "f": false, "z": null, "o": {"sub": 1}, "a": [1] }';
    expect(member(doc, "sub")).toBe("user-1");
    expect(member(doc, "n")).toBe("-12.50e1");
    expect(member(doc, "big")).toBe("12345678901234567890");
    expect(member(doc, "t")).toBe("true");
    expect(member(doc, "f")).toBe("false");
    expect(member(doc, "z")).toBeNull();
    expect(member(doc, "o")).toBeNull();
    expect(member(doc, "a")).toBeNull();
    expect(member(doc, "missing")).toBeNull();
  });
  it("skips nested values with brackets and quotes inside strings", () => {
    const doc = '{"x": {"y": "}]\\\"{", "z": [[{}], "]"]}, "s": [ "a", {"sub": "no"} ], "sub": "yes"}';
    expect(member(doc, "sub")).toBe("yes");
  });
  it("takes the first of duplicate keys, and unescapes keys and values", () => {
    expect(member('{"k": "first", "k": "second"}', "k")).toBe("first");
    expect(member('{"\\\\u0073ub": "escaped key"}', "sub")).toBeNull();
    expect(member('{"\\u0073ub": "escaped key"}', "sub")).toBe("escaped key");
    expect(member('{"org": "caf\\u00e9 \\"q\\" \\ud834\\udd1e"}', "org")).toBe("café \"q\" 𝄞");
    expect(member('{"é": "non-ascii key"}', "é")).toBe("non-ascii key");
  });
  it("finds nothing in documents that are not objects", () => {
    expect(member('["sub"]', "sub")).toBeNull();
    expect(member('"sub"', "sub")).toBeNull();
    expect(member("{}", "sub")).toBeNull();
  });
});
