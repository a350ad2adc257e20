import { ByteBuf } from "../lib/bytes";
import { writeUuidV4 } from "../lib/uuid";

function uuid(fill: Array<u8>): string {
  const src = new Uint8Array(16);
  for (let i = 0; i < 16; i++) src[i] = fill[i % fill.length];
  const out = new ByteBuf(1);
  writeUuidV4(out, src.dataStart);
  return out.toString();
}

describe("writeUuidV4", () => {
  it("formats 16 bytes as a lowercase 8-4-4-4-12 UUID", () => {
    const src = new Uint8Array(16);
    for (let i = 0; i < 16; i++) src[i] = <u8>(i * 17);
    const out = new ByteBuf(1);
    out.str("id=");
    writeUuidV4(out, src.dataStart);
    expect(out.toString()).toBe("id=00112233-4455-4677-8899-aabbccddeeff");
    expect(src[6]).toBe(0x66); // source untouched
  });
  it("sets version 4 and the RFC 4122 variant", () => {
    expect(uuid([0xff])).toBe("ffffffff-ffff-4fff-bfff-ffffffffffff");
    expect(uuid([0x00])).toBe("00000000-0000-4000-8000-000000000000");
    for (let b = 0; b < 256; b += 7) {
      const s = uuid([<u8>b, <u8>(b * 3)]);
      expect(s.length).toBe(36);
      expect(s.charAt(14)).toBe("4");
      const v = s.charCodeAt(19);
      expect(v == 0x38 || v == 0x39 || v == 0x61 || v == 0x62).toBe(true);
    }
  });
});
