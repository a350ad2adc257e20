import { callSpanMs, isIpLiteral } from "../filter/calls";

describe("callSpanMs", () => {
  it("where the host calls back on every outcome, waits 10 timeouts, and the resolver's for a name", () => {
    expect(callSpanMs(2000, true, "127.0.0.1:8088")).toBe(21000);
    expect(callSpanMs(2000, true, "[::1]:8088")).toBe(21000);
    expect(callSpanMs(2000, true, "api.moesif.net:443")).toBe(51000);
  });

  it("where errors are never called back (Kong <= 3.8), the deadline reports the failure soon after the timeout", () => {
    expect(callSpanMs(2000, false, "api.moesif.net:443")).toBe(3000);
  });
});

describe("isIpLiteral", () => {
  it("tells IPv4 and bracketed IPv6 targets from names", () => {
    expect(isIpLiteral("10.0.0.1:80")).toBe(true);
    expect(isIpLiteral("10.0.0.1")).toBe(true);
    expect(isIpLiteral("[2001:db8::1]:443")).toBe(true);
    expect(isIpLiteral("collector:8088")).toBe(false);
    expect(isIpLiteral("1e100.net:443")).toBe(false);
    expect(isIpLiteral(":80")).toBe(false);
  });
});
