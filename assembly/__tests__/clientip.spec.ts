import { clientIp } from "../moesif/clientip";
import { MapHeaders } from "./helpers/map_headers";

const PEER = "10.0.0.9";

function ipOf(name: string, value: string): string {
  return clientIp(new MapHeaders().set(name, value), PEER);
}

describe("clientIp: header order and fallback", () => {
  it("falls back to the source address without forwarding headers", () => {
    expect(clientIp(new MapHeaders().set("host", "x"), PEER)).toBe(PEER);
  });

  it("prefers x-client-ip over x-forwarded-for", () => {
    const h = new MapHeaders().set("X-Forwarded-For", "203.0.113.7").set("X-Client-IP", "198.51.100.1");
    expect(clientIp(h, PEER)).toBe("198.51.100.1");
  });

  it("follows the Lua plugin's order down to forwarded", () => {
    const h = new MapHeaders()
      .set("forwarded", "for=192.0.2.10")
      .set("forwarded-for", "192.0.2.9")
      .set("x-forwarded", "192.0.2.8")
      .set("x-cluster-client-ip", "192.0.2.7")
      .set("x-real-ip", "192.0.2.6")
      .set("true-client-ip", "192.0.2.5")
      .set("fastly-client-ip", "192.0.2.4")
      .set("cf-connecting-ip", "192.0.2.3");
    expect(clientIp(h, PEER)).toBe("192.0.2.3");
    h.set("cf-connecting-ip", "nope");
    expect(clientIp(h, PEER)).toBe("192.0.2.4");
    h.set("fastly-client-ip", "").set("true-client-ip", "").set("x-real-ip", "").set("x-cluster-client-ip", "");
    expect(clientIp(h, PEER)).toBe("192.0.2.8");
    h.set("x-forwarded", "").set("forwarded-for", "");
    expect(clientIp(h, PEER)).toBe("192.0.2.10");
  });

  it("skips a header without a valid address and tries the next one", () => {
    const h = new MapHeaders().set("x-client-ip", "unknown").set("x-real-ip", "192.0.2.44");
    expect(clientIp(h, PEER)).toBe("192.0.2.44");
  });
});

describe("clientIp: x-forwarded-for lists", () => {
  it("takes the first valid entry, trimming spaces", () => {
    expect(ipOf("x-forwarded-for", "  203.0.113.7 , 10.0.0.1")).toBe("203.0.113.7");
  });

  it("skips invalid and unknown entries", () => {
    expect(ipOf("x-forwarded-for", "unknown, , 999.1.1.1,garbage, 198.51.100.23")).toBe("198.51.100.23");
  });

  it("keeps a compressed IPv6 entry (Lua bug: cut to 2001:db8:)", () => {
    expect(ipOf("x-forwarded-for", "2001:db8::1, 203.0.113.7")).toBe("2001:db8::1");
  });

  it("accepts loopback, full and IPv4-mapped IPv6", () => {
    expect(ipOf("x-forwarded-for", "::1")).toBe("::1");
    expect(ipOf("x-forwarded-for", "2001:0db8:0000:0000:0000:ff00:0042:8329")).toBe("2001:0db8:0000:0000:0000:ff00:0042:8329");
    expect(ipOf("x-forwarded-for", "::ffff:1.2.3.4")).toBe("::ffff:1.2.3.4");
    expect(ipOf("x-forwarded-for", "fe80::")).toBe("fe80::");
  });

  it("strips brackets and port from IPv6", () => {
    expect(ipOf("x-forwarded-for", "[2001:db8::1]:443")).toBe("2001:db8::1");
    expect(ipOf("x-real-ip", "[::1]")).toBe("::1");
  });

  it("strips the port from IPv4 in any header (Lua: x-forwarded-for only)", () => {
    expect(ipOf("x-forwarded-for", "1.2.3.4:5678")).toBe("1.2.3.4");
    expect(ipOf("x-real-ip", "1.2.3.4:80")).toBe("1.2.3.4");
  });
});

describe("clientIp: RFC 7239 forwarded", () => {
  it("reads for= among other parameters (Lua never parses these)", () => {
    expect(ipOf("forwarded", "for=192.0.2.60;proto=http;by=203.0.113.43")).toBe("192.0.2.60");
  });

  it("reads a quoted, bracketed IPv6 with port", () => {
    expect(ipOf("forwarded", "for=\"[2001:db8:cafe::17]:4711\"")).toBe("2001:db8:cafe::17");
  });

  it("matches the parameter name case-insensitively, anywhere in the list", () => {
    expect(ipOf("forwarded", "proto=https; For=198.51.100.17")).toBe("198.51.100.17");
  });

  it("skips obfuscated and unknown identifiers to the next element", () => {
    expect(ipOf("forwarded", "for=_hidden, for=unknown;proto=http, for=198.51.100.17")).toBe("198.51.100.17");
  });

  it("falls back when no element names an address", () => {
    expect(ipOf("forwarded", "proto=https;by=203.0.113.43")).toBe(PEER);
  });
});

describe("clientIp: validation", () => {
  it("rejects out-of-range, short, long and leading-zero IPv4", () => {
    expect(ipOf("x-client-ip", "256.1.1.1")).toBe(PEER);
    expect(ipOf("x-client-ip", "1.2.3")).toBe(PEER);
    expect(ipOf("x-client-ip", "1.2.3.4.5")).toBe(PEER);
    expect(ipOf("x-client-ip", "010.1.2.3")).toBe(PEER);
    expect(ipOf("x-client-ip", "1.2.3.4.")).toBe(PEER);
    expect(ipOf("x-client-ip", "0.0.0.0")).toBe("0.0.0.0");
    expect(ipOf("x-client-ip", "255.255.255.255")).toBe("255.255.255.255");
  });

  it("rejects malformed IPv6", () => {
    expect(ipOf("x-client-ip", "2001:db8::1::2")).toBe(PEER);
    expect(ipOf("x-client-ip", ":::")).toBe(PEER);
    expect(ipOf("x-client-ip", "1:2:3:4:5:6:7:8:9")).toBe(PEER);
    expect(ipOf("x-client-ip", "1:2:3:4:5:6:7")).toBe(PEER);
    expect(ipOf("x-client-ip", "12345::1")).toBe(PEER);
    expect(ipOf("x-client-ip", "2001:db8::g")).toBe(PEER);
    expect(ipOf("x-client-ip", "1:2:3:4:5:6:7:")).toBe(PEER);
    expect(ipOf("x-client-ip", "::ffff:1.2.3.256")).toBe(PEER);
    expect(ipOf("x-client-ip", "1:2:3:4:5:6:7:1.2.3.4")).toBe(PEER);
    expect(ipOf("x-client-ip", "fe80::1%eth0")).toBe(PEER);
  });

  it("rejects bad brackets and ports", () => {
    expect(ipOf("x-client-ip", "[2001:db8::1")).toBe(PEER);
    expect(ipOf("x-client-ip", "[2001:db8::1]x")).toBe(PEER);
    expect(ipOf("x-client-ip", "[2001:db8::1]:")).toBe(PEER);
    expect(ipOf("x-client-ip", "[1.2.3.4]")).toBe(PEER);
    expect(ipOf("x-client-ip", "1.2.3.4:http")).toBe(PEER);
  });

  it("accepts edge IPv6 forms", () => {
    expect(ipOf("x-client-ip", "::")).toBe("::");
    expect(ipOf("x-client-ip", "1:2:3:4:5:6:7::")).toBe("1:2:3:4:5:6:7::");
    expect(ipOf("x-client-ip", "1:2:3:4:5:6:1.2.3.4")).toBe("1:2:3:4:5:6:1.2.3.4");
    expect(ipOf("x-client-ip", "2001:DB8::AbCd")).toBe("2001:DB8::AbCd");
  });

  it("does not trap on odd input", () => {
    expect(ipOf("x-forwarded-for", ",,,;;==\"\"[]::")).toBe(PEER);
    expect(ipOf("forwarded", "for=")).toBe(PEER);
    expect(ipOf("forwarded", "for=\"")).toBe(PEER);
    expect(ipOf("x-client-ip", "\u00e9\u{1F600}")).toBe(PEER);
  });
});
