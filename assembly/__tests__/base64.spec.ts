import { ByteBuf } from "../lib/bytes";
import { decodeBase64BytesInto, encodeBase64 } from "../lib/base64";

function bytesOf(out: ByteBuf): Uint8Array {
  const b = new Uint8Array(out.length);
  memory.copy(b.dataStart, out.ptr, <usize>out.length);
  return b;
}

function decodeBase64(s: string): Uint8Array | null {
  const src = String.UTF8.encode(s);
  return decodeBase64Bytes(changetype<usize>(src), src.byteLength);
}

function decodeBase64Bytes(src: usize, len: i32): Uint8Array | null {
  const out = new ByteBuf(0);
  return decodeBase64BytesInto(src, len, out) ? bytesOf(out) : null;
}

function enc(s: string): string {
  const b = String.UTF8.encode(s);
  const out = new ByteBuf(1);
  encodeBase64(changetype<usize>(b), b.byteLength, out);
  return out.toString();
}

function dec(s: string): string | null {
  const b = decodeBase64(s);
  return b === null ? null : String.UTF8.decode(b.buffer);
}

function decBytes(s: string): string | null {
  const src = String.UTF8.encode(s);
  const b = decodeBase64Bytes(changetype<usize>(src), src.byteLength);
  return b === null ? null : String.UTF8.decode(b.buffer);
}

describe("encodeBase64", () => {
  it("matches RFC 4648 test vectors", () => {
    expect(enc("")).toBe("");
    expect(enc("f")).toBe("Zg==");
    expect(enc("fo")).toBe("Zm8=");
    expect(enc("foo")).toBe("Zm9v");
    expect(enc("foob")).toBe("Zm9vYg==");
    expect(enc("fooba")).toBe("Zm9vYmE=");
    expect(enc("foobar")).toBe("Zm9vYmFy");
  });
  it("uses the standard alphabet and appends to existing content", () => {
    const b = new Uint8Array(3);
    b[0] = 0xfb;
    b[1] = 0xff;
    b[2] = 0xbf;
    const out = new ByteBuf(1);
    out.str("x:");
    encodeBase64(b.dataStart, 3, out);
    expect(out.toString()).toBe("x:+/+/");
  });
});

describe("decodeBase64", () => {
  it("decodes padded and unpadded input", () => {
    expect(dec("Zm9vYmFy")).toBe("foobar");
    expect(dec("Zm9vYmE=")).toBe("fooba");
    expect(dec("Zm9vYmE")).toBe("fooba");
    expect(dec("Zm9vYg==")).toBe("foob");
    expect(dec("Zm9vYg")).toBe("foob");
    expect(dec("")).toBe("");
    expect(dec(" \n Zg== \t")).toBe("f");
    expect(decBytes("Zm8")).toBe("fo");
    expect(decodeBase64Bytes(0, -1)).toBeNull();
  });
  it("accepts the url-safe alphabet", () => {
    const s = decodeBase64("-_-_")!;
    expect(s.length).toBe(3);
    expect(s[0]).toBe(0xfb);
    expect(s[1]).toBe(0xff);
    expect(s[2]).toBe(0xbf);
    const t = decodeBase64("+/+/")!;
    expect(t[2]).toBe(0xbf);
    // a JWT payload segment: base64url without padding
    expect(dec("eyJzdWIiOiIxMjM0NTY3ODkwIiwibmFtZSI6IkpvaG4gRG9lIn0")).toBe('{"sub":"1234567890","name":"John Doe"}');
  });
  it("rejects anything else", () => {
    const bad: Array<string> = ["Z", "Zm9vY", "Zm9v=", "Zg===", "Zg=", "Z===", "Zm 9v", "Zm9v!", "Zg==Zg==", "Zé==", "=", "Zm9.", "Zm\u00009v"];
    for (let i = 0; i < bad.length; i++) {
      expect(decodeBase64(bad[i])).toBeNull(bad[i]);
      expect(decBytes(bad[i])).toBeNull(bad[i]);
    }
  });
  it("appends, and leaves the output as it was on bad input", () => {
    const src = String.UTF8.encode("Bearer Zm9vYmFy.rest");
    const p = changetype<usize>(src);
    const out = new ByteBuf(1);
    out.str("x:");
    expect(decodeBase64BytesInto(p + 7, 8, out)).toBe(true);
    expect(out.toString()).toBe("x:foobar");
    expect(decodeBase64BytesInto(p, 20, out)).toBe(false);
    expect(decodeBase64BytesInto(p + 7, -1, out)).toBe(false);
    expect(out.toString()).toBe("x:foobar");
  });
  it("round-trips every byte value and length", () => {
    for (let n = 0; n < 70; n++) {
      const src = new Uint8Array(n);
      for (let i = 0; i < n; i++) src[i] = <u8>(i * 37 + n * 11);
      const out = new ByteBuf(1);
      encodeBase64(src.dataStart, n, out);
      expect(out.length).toBe(((n + 2) / 3) * 4);
      const std = decodeBase64Bytes(out.ptr, out.length)!;
      expect(std.length).toBe(n);
      expect(memory.compare(std.dataStart, src.dataStart, n)).toBe(0);
      // url-safe without padding
      const url = out.toString().replaceAll("+", "-").replaceAll("/", "_").replaceAll("=", "");
      const back = decodeBase64(url)!;
      expect(back.length).toBe(n);
      expect(memory.compare(back.dataStart, src.dataStart, n)).toBe(0);
    }
    const all = new Uint8Array(256);
    for (let i = 0; i < 256; i++) all[i] = <u8>i;
    const out = new ByteBuf(1);
    encodeBase64(all.dataStart, 256, out);
    const back = decodeBase64(out.toString())!;
    expect(memory.compare(back.dataStart, all.dataStart, 256)).toBe(0);
  });
});
