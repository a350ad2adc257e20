import { ByteBuf } from "../lib/bytes";
import { isoTime, writeIsoTime } from "../lib/time";

describe("ISO time", () => {
  it("formats the epoch and zero-pads milliseconds", () => {
    expect(isoTime(0)).toBe("1970-01-01T00:00:00.000Z");
    expect(isoTime(5)).toBe("1970-01-01T00:00:00.005Z");
    expect(isoTime(45)).toBe("1970-01-01T00:00:00.045Z");
    expect(isoTime(1712345678412)).toBe("2024-04-05T19:34:38.412Z");
  });
  it("handles leap years and month ends", () => {
    expect(isoTime(1709164800000)).toBe("2024-02-29T00:00:00.000Z");
    expect(isoTime(1709251199999)).toBe("2024-02-29T23:59:59.999Z");
    expect(isoTime(1709251200000)).toBe("2024-03-01T00:00:00.000Z");
    expect(isoTime(951782400000)).toBe("2000-02-29T00:00:00.000Z");
    expect(isoTime(4107542400000)).toBe("2100-03-01T00:00:00.000Z"); // 2100 is not leap
    expect(isoTime(1735689599999)).toBe("2024-12-31T23:59:59.999Z");
  });
  it("goes past 2038 up to year 9999", () => {
    expect(isoTime(2147483648000)).toBe("2038-01-19T03:14:08.000Z");
    expect(isoTime(253402300799999)).toBe("9999-12-31T23:59:59.999Z");
  });
  it("clamps out-of-range input instead of writing a bad date", () => {
    expect(isoTime(-1)).toBe("1970-01-01T00:00:00.000Z");
    expect(isoTime(i64.MAX_VALUE)).toBe("9999-12-31T23:59:59.999Z");
  });
  it("appends to a buffer", () => {
    const out = new ByteBuf(1);
    out.str('"t":"');
    writeIsoTime(out, 1000);
    out.byte(0x22);
    expect(out.toString()).toBe('"t":"1970-01-01T00:00:01.000Z"');
  });
  it("agrees with Date for a spread of instants", () => {
    let t: i64 = 0;
    for (let i = 0; i < 2000; i++) {
      t += 123456789013;
      if (t > 253402300799999) break;
      expect(isoTime(t)).toBe(new Date(t).toISOString());
    }
  });
});
