import { ByteBuf, leadingDecimal } from "../lib/bytes";
import { utf8, utf8Length } from "../lib/utf8";

describe("ByteBuf", () => {
  it("grows and keeps content", () => {
    const b = new ByteBuf(4);
    for (let i = 0; i < 1000; i++) b.byte(0x61 + (i % 26));
    expect(b.length).toBe(1000);
    expect(b.at(27)).toBe(0x62);
  });
  it("writes UTF-8 strings and numbers", () => {
    const b = new ByteBuf();
    b.str("é=");
    b.int(-1234567890123);
    b.byte(0x20);
    b.uint(0);
    expect(b.toString()).toBe("é=-1234567890123 0");
    expect(b.length).toBe(19);
  });
  it("writes ASCII four units at a time and switches to UTF-8 anywhere in a string", () => {
    // Every split of an ASCII prefix and a non-ASCII tail, across the 4-unit steps.
    for (let k = 0; k < 12; k++) {
      const ascii = "Hello, World!".substring(0, k);
      const s = ascii + "é€𝄞x";
      const b = new ByteBuf(1);
      b.str("[");
      b.str(s);
      b.str("]");
      expect(b.toString()).toBe("[" + s + "]");
      expect(b.length).toBe(2 + String.UTF8.byteLength(s));
    }
    const long = new ByteBuf(1);
    long.str("~".repeat(1001));
    expect(long.toString()).toBe("~".repeat(1001));
  });
  it("shrinks without losing small content", () => {
    const b = new ByteBuf(1 << 16);
    b.str("keep");
    b.shrinkTo(64);
    expect(b.capacity).toBe(64);
    expect(b.toString()).toBe("keep");
  });
  it("appends static UTF-8 text of any length, eight bytes a step, without writing past it", () => {
    const b = new ByteBuf(1);
    b.lit(utf8(""));
    b.lit(utf8("é€𝄞"));
    b.lit(utf8("-1234567-"));
    b.lit(utf8("x" + "y"));
    expect(utf8Length(utf8("é€𝄞"))).toBe(9);
    expect(b.toString()).toBe("é€𝄞-1234567-xy");
    expect(b.length).toBe(20);
    b.length = 10;
    b.lit(utf8("ab"));
    b.str("c");
    expect(b.toString()).toBe("é€𝄞-ab" + "c");
  });
});

describe("leadingDecimal", () => {
  it("reads the leading digits, from an offset, 0 without any", () => {
    expect(leadingDecimal("200")).toBe(200);
    expect(leadingDecimal("3.10.0", 2)).toBe(10);
    expect(leadingDecimal("9-enterprise")).toBe(9);
    expect(leadingDecimal("")).toBe(0);
    expect(leadingDecimal("x1")).toBe(0);
    expect(leadingDecimal("1", 1)).toBe(0);
    expect(leadingDecimal("99999999999")).toBe(i32.MAX_VALUE);
  });
});
