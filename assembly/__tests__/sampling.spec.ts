import { AppConfig, RequestFacts, keep, sampleRate, weightFor } from "../moesif/sampling";
import { MapHeaders } from "./helpers/map_headers";
import { facts } from "./helpers/facts";


function cfg(json: string): AppConfig {
  const c = AppConfig.parse(json);
  expect(c).not.toBeNull();
  return c!;
}

/** A JSON string literal for a pattern (escapes backslashes and quotes). */
function quote(s: string): string {
  return '"' + s.replaceAll("\\", "\\\\").replaceAll('"', '\\"') + '"';
}

function routeRate(pattern: string, rate: i32): string {
  return '{"conditions":[{"path":"request.route","value":' + quote(pattern) + '}],"sample_rate":' + rate.toString() + "}";
}

describe("AppConfig.parse", () => {
  it("refuses anything but a JSON object", () => {
    expect(AppConfig.parse("[]")).toBeNull();
    expect(AppConfig.parse("null")).toBeNull();
    expect(AppConfig.parse("")).toBeNull();
    expect(AppConfig.parse('{"sample_rate":')).toBeNull();
    expect(AppConfig.parse("42")).toBeNull();
  });
  it("defaults to keeping everything", () => {
    const c = cfg("{}");
    expect(c.sampleRate).toBe(100);
    expect(c.regexRates.length).toBe(0);
    expect(sampleRate(c, facts())).toBe(100);
  });
  it("floors and clamps rates", () => {
    expect(cfg('{"sample_rate":33.9}').sampleRate).toBe(33);
    expect(cfg('{"sample_rate":150}').sampleRate).toBe(100);
    expect(cfg('{"sample_rate":-5}').sampleRate).toBe(0);
    expect(cfg('{"sample_rate":"50"}').sampleRate).toBe(100);
  });
  it("skips odd entries and keeps the good ones", () => {
    const c = cfg(
      '{"sample_rate":40,"user_sample_rate":{"a":"x","b":20,"c":null},"company_sample_rate":[1],' +
        '"regex_config":[1,{"conditions":[]},' + routeRate("^/x", 7) + '],"user_rules":{"u":5,"v":[{"rules":1},{"rules":"r1"}]}}',
    );
    expect(c.sampleRate).toBe(40);
    expect(c.userSampleRates.size).toBe(1);
    expect(c.userSampleRates.get("b")).toBe(20);
    expect(c.companySampleRates.size).toBe(0);
    expect(c.regexRates.length).toBe(1);
    expect(c.userRules.has("u")).toBe(false);
    expect(c.userRules.get("v").length).toBe(1);
    expect(c.skippedCount).toBeGreaterThan(4);
  });
  it("parses from bytes", () => {
    const c = AppConfig.parseBytes(Uint8Array.wrap(String.UTF8.encode('{"sample_rate":12}')));
    expect(c!.sampleRate).toBe(12);
  });
  it("counts invalid regexes; they never match and do not disturb other entries", () => {
    const c = cfg('{"sample_rate":90,"regex_config":[' + routeRate("(unclosed", 1) + "," + routeRate("^/ok", 5) + "]}");
    expect(c.invalidRegexCount).toBe(1);
    expect(c.regexRates.length).toBe(2);
    expect(sampleRate(c, facts("/unclosed"))).toBe(90);
    expect(sampleRate(c, facts("/ok"))).toBe(5);
  });
  it("refuses over-long patterns", () => {
    let p = "";
    for (let i = 0; i < 3000; i++) p += "a";
    const c = cfg('{"regex_config":[' + routeRate(p, 1) + "]}");
    expect(c.invalidRegexCount).toBe(1);
    expect(sampleRate(c, facts("/" + p))).toBe(100);
  });
});

describe("sampleRate", () => {
  it("reads only userId and companyId when needsRequestFacts() is false (the filter fills nothing else)", () => {
    const plain = cfg('{"sample_rate":40,"user_sample_rate":{"u1":10},"company_sample_rate":{"c1":20}}');
    expect(plain.needsRequestFacts()).toBe(false);
    const a = facts("/x", "POST");
    const b = new RequestFacts(); // every other fact left at its default
    a.userId = b.userId = "u1";
    expect(sampleRate(plain, a)).toBe(10);
    expect(sampleRate(plain, b)).toBe(10);
    a.userId = b.userId = null;
    a.companyId = b.companyId = "c1";
    expect(sampleRate(plain, a)).toBe(20);
    expect(sampleRate(plain, b)).toBe(20);
    a.companyId = b.companyId = null;
    expect(sampleRate(plain, a)).toBe(40);
    expect(sampleRate(plain, b)).toBe(40);
    expect(cfg('{"regex_config":[' + routeRate("^/x", 5) + "]}").needsRequestFacts()).toBe(true);
  });
  it("keeps everything before the first config", () => {
    expect(sampleRate(null, facts())).toBe(100);
  });
  it("uses sample_rate when nothing specific applies", () => {
    expect(sampleRate(cfg('{"sample_rate":25,"user_sample_rate":{"u1":5}}'), facts())).toBe(25);
  });
  it("lets a user rate replace sample_rate, even when higher", () => {
    const f = facts();
    f.userId = "u1";
    expect(sampleRate(cfg('{"sample_rate":10,"user_sample_rate":{"u1":80}}'), f)).toBe(80);
  });
  it("takes the minimum of user, company and regex rates", () => {
    const c = cfg(
      '{"sample_rate":10,"user_sample_rate":{"u1":80},"company_sample_rate":{"c1":60},"regex_config":[' +
        routeRate("^/api", 70) + "]}",
    );
    const f = facts("/api/x");
    f.userId = "u1";
    expect(sampleRate(c, f)).toBe(70);
    f.companyId = "c1";
    expect(sampleRate(c, f)).toBe(60);
    f.userId = null;
    f.route = "/other";
    expect(sampleRate(c, f)).toBe(60);
    f.companyId = null;
    expect(sampleRate(c, f)).toBe(10);
  });
  it("uses the first matching regex entry only", () => {
    const c = cfg('{"sample_rate":50,"regex_config":[' + routeRate("^/a", 90) + "," + routeRate("^/a/b", 1) + "]}");
    expect(sampleRate(c, facts("/a/b"))).toBe(90);
    expect(sampleRate(c, facts("/z"))).toBe(50);
  });
  it("matches real regular expressions (Lua patterns cannot express this)", () => {
    const c = cfg('{"sample_rate":100,"regex_config":[' + routeRate("^/v1/(orders|items)/\\d+$", 0) + "]}");
    expect(c.invalidRegexCount).toBe(0);
    expect(sampleRate(c, facts("/v1/orders/42"))).toBe(0);
    expect(sampleRate(c, facts("/v1/items/7"))).toBe(0);
    expect(sampleRate(c, facts("/v1/orders/abc"))).toBe(100);
    expect(sampleRate(c, facts("/v1/users/1"))).toBe(100);
  });
  it("matches response.status once known, never before", () => {
    const c = cfg('{"regex_config":[{"conditions":[{"path":"response.status","value":"^5\\\\d\\\\d$"}],"sample_rate":3}]}');
    const f = facts();
    expect(sampleRate(c, f)).toBe(100);
    f.status = 503;
    expect(sampleRate(c, f)).toBe(3);
    f.status = 200;
    expect(sampleRate(c, f)).toBe(100);
  });
  it("ANDs the conditions of an entry; a duplicate path keeps the last value", () => {
    const c = cfg(
      '{"regex_config":[{"conditions":[{"path":"request.verb","value":"^POST$"},' +
        '{"path":"request.route","value":"^/never"},{"path":"request.route","value":"^/orders"}],"sample_rate":20}]}',
    );
    expect(sampleRate(c, facts("/orders", "POST"))).toBe(20);
    expect(sampleRate(c, facts("/orders", "GET"))).toBe(100);
    expect(sampleRate(c, facts("/never", "POST"))).toBe(100);
  });
  it("tests headers, IP and JSON body fields", () => {
    const c = cfg(
      '{"regex_config":[{"conditions":[{"path":"request.headers.X-Tenant","value":"^gold$"}],"sample_rate":11},' +
        '{"conditions":[{"path":"request.ip_address","value":"^192\\\\.168\\\\."}],"sample_rate":12},' +
        '{"conditions":[{"path":"request.body.order.kind","value":"^bulk$"}],"sample_rate":13}]}',
    );
    expect(c.needsBody).toBe(true);
    const f = facts();
    f.headers = new MapHeaders().set("x-tenant", "gold");
    expect(sampleRate(c, f)).toBe(11);
    f.headers = new MapHeaders().set("x-tenant", "silver");
    expect(sampleRate(c, f)).toBe(100);
    f.ipAddress = "192.168.1.9";
    expect(sampleRate(c, f)).toBe(12);
    f.ipAddress = "10.1.1.1";
    f.contentType = "application/json; charset=utf-8";
    f.body = Uint8Array.wrap(String.UTF8.encode('{"order":{"kind":"bulk"}}'));
    expect(sampleRate(c, f)).toBe(13);
  });
  it("treats an empty user id as unidentified", () => {
    const f = facts();
    f.userId = "";
    expect(sampleRate(cfg('{"sample_rate":30,"user_sample_rate":{"":1}}'), f)).toBe(30);
  });
});

describe("weight and keep", () => {
  it("weights kept events by floor(100/rate)", () => {
    expect(weightFor(100)).toBe(1);
    expect(weightFor(50)).toBe(2);
    expect(weightFor(33)).toBe(3);
    expect(weightFor(30)).toBe(3);
    expect(weightFor(1)).toBe(100);
    expect(weightFor(0)).toBe(1);
    expect(weightFor(-3)).toBe(1);
  });
  it("keeps when rate > random*100", () => {
    expect(keep(0, 0.0)).toBe(false);
    expect(keep(0, 0.5)).toBe(false);
    expect(keep(100, 0.0)).toBe(true);
    expect(keep(100, 0.99999)).toBe(true);
    expect(keep(50, 0.49)).toBe(true);
    expect(keep(50, 0.5)).toBe(false);
    expect(keep(1, 0.0)).toBe(true);
    expect(keep(1, 0.01)).toBe(false);
  });
});

let seed: u32 = 0x2545f491;
function next(): u32 {
  seed ^= seed << 13;
  seed ^= seed >> 17;
  seed ^= seed << 5;
  return seed;
}

const CFG_SEED =
  '{"sample_rate":50,"user_sample_rate":{"u":10},"company_sample_rate":{"c":20},' +
  '"regex_config":[{"conditions":[{"path":"request.route","value":"^/a(b|c)+\\\\d{2}$"},' +
  '{"path":"request.body.x","value":"y"}],"sample_rate":5}],' +
  '"user_rules":{"u":[{"rules":"r1","values":{"0":"gold","1":3}}]},"company_rules":{"c":[{"rules":"r1","values":{}}]}}';
const NOISE = '{}[],:"\\ 0123456789-.etruflsn()|^$*+?';

describe("AppConfig fuzz", () => {
  it("never traps on 400 mutated configs", () => {
    const base = String.UTF8.encode(CFG_SEED);
    let parsed = 0;
    const f = facts("/abc12");
    f.userId = "u";
    f.companyId = "c";
    f.contentType = "application/json";
    f.body = Uint8Array.wrap(String.UTF8.encode('{"x":"y"}'));
    for (let iter = 0; iter < 400; iter++) {
      const src = Uint8Array.wrap(base);
      const b = src.slice(0);
      const edits = 1 + <i32>(next() % 4);
      for (let e = 0; e < edits; e++) {
        b[<i32>(next() % <u32>b.length)] = <u8>NOISE.charCodeAt(<i32>(next() % <u32>NOISE.length));
      }
      const c = AppConfig.parseBytes(b);
      if (c === null) continue;
      parsed++;
      const r = sampleRate(c, f);
      expect(r >= 0 && r <= 100).toBe(true);
    }
    expect(parsed).toBeGreaterThan(20);
  });
});
