import { identify, Identity, IdentityConfig } from "../moesif/identity";
import { MapHeaders } from "./helpers/map_headers";

// Tokens: header.payload.signature with the payload in base64url without padding (as JWTs
// are), built with Node's Buffer.from(JSON.stringify(payload)).toString("base64url").
const HDR = "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9";
const SIG = "c2lnbmF0dXJl";
function jwt(payload: string): string {
  return HDR + "." + payload + "." + SIG;
}
// {"sub":"user?>~ü","name":"Zoë ~~~>>>???"}: base64url has '-' and '_' (Lua drops them).
const P_URLSAFE = "eyJzdWIiOiJ1c2VyPz5-w7wiLCJuYW1lIjoiWm_DqyB-fn4-Pj4_Pz8ifQ";
// The same payload in standard base64 with padding ('+', '/', '=').
const P_STD_PADDED = "eyJzdWIiOiJ1c2VyPz5+w7wiLCJuYW1lIjoiWm/DqyB+fn4+Pj4/Pz8ifQ==";
// {"sub":"who?>~"}: ASCII only, base64url has '_', 22 chars (unpadded).
const P_ASCII = "eyJzdWIiOiJ3aG8_Pn4ifQ";
// {"sub":12345678901234567890123456789,"org":-1.50e+3,"admin":true}
const P_NUMBERS = "eyJzdWIiOjEyMzQ1Njc4OTAxMjM0NTY3ODkwMTIzNDU2Nzg5LCJvcmciOi0xLjUwZSszLCJhZG1pbiI6dHJ1ZX0";
// {"sub":"u1","app_metadata":{"org":"acme","tier":{"level":3}}}
const P_NESTED = "eyJzdWIiOiJ1MSIsImFwcF9tZXRhZGF0YSI6eyJvcmciOiJhY21lIiwidGllciI6eyJsZXZlbCI6M319fQ";
// {"app_metadata.org":"literal","app_metadata":{"org":"nested"}}
const P_LITERAL = "eyJhcHBfbWV0YWRhdGEub3JnIjoibGl0ZXJhbCIsImFwcF9tZXRhZGF0YSI6eyJvcmciOiJuZXN0ZWQifX0";
// {"sub":{"id":1},"arr":[1],"nul":null,"empty":"","f":false}
const P_KINDS = "eyJzdWIiOnsiaWQiOjF9LCJhcnIiOlsxXSwibnVsIjpudWxsLCJlbXB0eSI6IiIsImYiOmZhbHNlfQ";
// [{"sub":"x"}]: valid JSON, not an object.
const P_ARRAY = "W3sic3ViIjoieCJ9XQ";
// {"sub":"jwt-user","company_id":"c-42"}
const P_COMPANY = "eyJzdWIiOiJqd3QtdXNlciIsImNvbXBhbnlfaWQiOiJjLTQyIn0";

function run(cfg: IdentityConfig, req: MapHeaders, resp: MapHeaders | null = null): Identity {
  const out = new Identity();
  identify(cfg, req, resp, out);
  return out;
}

function userOf(authorization: string, field: string = "sub"): string | null {
  const cfg = new IdentityConfig();
  cfg.userIdField = field;
  return run(cfg, new MapHeaders().set("authorization", authorization)).userId;
}

describe("identify: header precedence", () => {
  it("identifies nobody without headers", () => {
    const id = run(new IdentityConfig(), new MapHeaders(), null);
    expect(id.userId).toBeNull();
    expect(id.companyId).toBeNull();
  });

  it("prefers user_id_header over consumer headers and the token", () => {
    const cfg = new IdentityConfig();
    cfg.userIdHeader = "x-user";
    const req = new MapHeaders()
      .set("X-User", "from-header")
      .set("x-consumer-custom-id", "custom")
      .set("authorization", "Bearer " + jwt(P_COMPANY));
    expect(run(cfg, req).userId).toBe("from-header");
  });

  it("orders consumer headers custom-id, username, id", () => {
    const cfg = new IdentityConfig();
    const req = new MapHeaders().set("x-consumer-id", "cid").set("x-consumer-username", "uname").set("x-consumer-custom-id", "custom");
    expect(run(cfg, req).userId).toBe("custom");
    req.set("x-consumer-custom-id", "");
    expect(run(cfg, req).userId).toBe("uname");
    req.set("x-consumer-username", "");
    expect(run(cfg, req).userId).toBe("cid");
  });

  it("uses the token before the response header, and the response header last", () => {
    const cfg = new IdentityConfig();
    cfg.userIdHeader = "x-user";
    const resp = new MapHeaders().set("x-user", "from-response");
    expect(run(cfg, new MapHeaders().set("authorization", "Bearer " + jwt(P_COMPANY)), resp).userId).toBe("jwt-user");
    expect(run(cfg, new MapHeaders(), resp).userId).toBe("from-response");
    expect(run(cfg, new MapHeaders(), null).userId).toBeNull();
  });

  it("treats empty header values as absent", () => {
    const cfg = new IdentityConfig();
    cfg.userIdHeader = "x-user";
    cfg.companyIdHeader = "x-org";
    const req = new MapHeaders().set("x-user", "").set("x-org", "").set("authorization", "");
    const resp = new MapHeaders().set("x-user", "r-user").set("x-org", "r-org");
    const id = run(cfg, req, resp);
    expect(id.userId).toBe("r-user");
    expect(id.companyId).toBe("r-org");
  });

  it("resets a reused Identity", () => {
    const out = new Identity();
    identify(new IdentityConfig(), new MapHeaders().set("x-consumer-id", "a"), null, out);
    identify(new IdentityConfig(), new MapHeaders(), null, out);
    expect(out.userId).toBeNull();
  });
});

describe("identify: authorization header names", () => {
  it("uses the first PRESENT configured header", () => {
    const cfg = new IdentityConfig();
    cfg.authorizationHeaderNames = ["x-token", "authorization"];
    const req = new MapHeaders().set("authorization", "Bearer " + jwt(P_ASCII)).set("X-Token", "Bearer " + jwt(P_COMPANY));
    expect(run(cfg, req).userId).toBe("jwt-user");
    expect(run(cfg, new MapHeaders().set("authorization", "Bearer " + jwt(P_ASCII))).userId).toBe("who?>~");
  });

  it("lets a present header win even when its token yields nothing", () => {
    const cfg = new IdentityConfig();
    cfg.authorizationHeaderNames = ["x-token", "authorization"];
    cfg.userIdHeader = "x-user";
    const req = new MapHeaders().set("x-token", "Bearer opaque").set("authorization", "Bearer " + jwt(P_COMPANY));
    const resp = new MapHeaders().set("x-user", "resp-user");
    expect(run(cfg, req, resp).userId).toBe("resp-user");
  });
});

describe("identify: Bearer JWT", () => {
  it("decodes base64url with - and _ (Lua bug: drops them and fails)", () => {
    expect(userOf("Bearer " + jwt(P_URLSAFE))).toBe("user?>~\u00fc");
    expect(userOf("Bearer " + jwt(P_URLSAFE), "name")).toBe("Zo\u00eb ~~~>>>???");
  });

  it("decodes an ASCII payload with ?>~ whose base64url has _ and no padding", () => {
    expect(userOf("Bearer " + jwt(P_ASCII))).toBe("who?>~");
  });

  it("decodes standard base64 with padding too", () => {
    expect(userOf("Bearer " + jwt(P_STD_PADDED))).toBe("user?>~\u00fc");
  });

  it("matches the scheme case-insensitively with any whitespace after it", () => {
    expect(userOf("bearer " + jwt(P_ASCII))).toBe("who?>~");
    expect(userOf("BEARER \t  " + jwt(P_ASCII) + "  ")).toBe("who?>~");
  });

  it("keeps numeric claims as their exact source text and bools as text", () => {
    expect(userOf("Bearer " + jwt(P_NUMBERS))).toBe("12345678901234567890123456789");
    expect(userOf("Bearer " + jwt(P_NUMBERS), "org")).toBe("-1.50e+3");
    expect(userOf("Bearer " + jwt(P_NUMBERS), "admin")).toBe("true");
    expect(userOf("Bearer " + jwt(P_KINDS), "f")).toBe("false");
  });

  it("walks dotted claim names through nested objects", () => {
    expect(userOf("Bearer " + jwt(P_NESTED), "app_metadata.org")).toBe("acme");
    expect(userOf("Bearer " + jwt(P_NESTED), "app_metadata.tier.level")).toBe("3");
    expect(userOf("Bearer " + jwt(P_NESTED), "app_metadata.missing")).toBeNull();
    expect(userOf("Bearer " + jwt(P_NESTED), "app_metadata.org.deeper")).toBeNull();
  });

  it("prefers a literal dotted key over the nested path", () => {
    expect(userOf("Bearer " + jwt(P_LITERAL), "app_metadata.org")).toBe("literal");
  });

  it("identifies nobody for object, array, null, empty and missing claims", () => {
    expect(userOf("Bearer " + jwt(P_KINDS), "sub")).toBeNull();
    expect(userOf("Bearer " + jwt(P_KINDS), "arr")).toBeNull();
    expect(userOf("Bearer " + jwt(P_KINDS), "nul")).toBeNull();
    expect(userOf("Bearer " + jwt(P_KINDS), "empty")).toBeNull();
    expect(userOf("Bearer " + jwt(P_KINDS), "nope")).toBeNull();
  });

  it("requires the payload to be a JSON object", () => {
    expect(userOf("Bearer " + jwt(P_ARRAY))).toBeNull();
  });

  it("identifies nobody from garbage tokens without trapping", () => {
    expect(userOf("Bearer")).toBeNull();
    expect(userOf("Bearer ")).toBeNull();
    expect(userOf("Bearer opaque-token")).toBeNull();
    expect(userOf("Bearer " + P_COMPANY)).toBeNull(); // Bearer needs segment 2; no undotted fallback
    expect(userOf("Bearer a..c")).toBeNull();
    expect(userOf("Bearer !!!.@@@.###")).toBeNull();
    expect(userOf("Bearer " + HDR + ".bm90IGpzb24." + SIG)).toBeNull(); // "not json"
    expect(userOf("Bearer " + HDR + ".eyJzdWIiOiJ4Ig." + SIG)).toBeNull(); // {"sub":"x" (truncated)
    expect(userOf("Bearer " + HDR + ".e." + SIG)).toBeNull();
    expect(userOf("Bearer \u00e9\u{1F600}.\u00e9\u{1F600}.x")).toBeNull();
    expect(userOf("Bearer " + HDR + "." + P_ASCII.substring(0, 10))).toBeNull();
  });

  it("does not need the signature segment", () => {
    expect(userOf("Bearer " + HDR + "." + P_ASCII)).toBe("who?>~");
  });
});

describe("identify: Basic and other tokens", () => {
  it("takes the username before the FIRST colon (Lua bug: last)", () => {
    expect(userOf("Basic dXNlcjpwYTpzcw==")).toBe("user"); // user:pa:ss
    expect(userOf("basic   dXNlcjpwYTpzcw")).toBe("user"); // lowercase, unpadded
  });

  it("decodes a UTF-8 username", () => {
    expect(userOf("Basic bmHDr3ZlOng=")).toBe("na\u00efve"); // naïve:x
  });

  it("identifies nobody without a colon, with an empty username or bad base64", () => {
    expect(userOf("Basic bm9jb2xvbg==")).toBeNull(); // nocolon
    expect(userOf("Basic OnB3")).toBeNull(); // :pw
    expect(userOf("Basic ***")).toBeNull();
    expect(userOf("Basic")).toBeNull();
  });

  it("reads segment 2 of a dotted token with another scheme", () => {
    expect(userOf("Token " + jwt(P_URLSAFE))).toBe("user?>~\u00fc");
  });

  it("reads an undotted token as a base64 JSON payload", () => {
    expect(userOf(P_COMPANY)).toBe("jwt-user");
    expect(userOf("not base64 at all")).toBeNull();
  });
});

describe("identify: company", () => {
  it("reads company_id_header from the request, then the response", () => {
    const cfg = new IdentityConfig();
    cfg.companyIdHeader = "x-org";
    expect(run(cfg, new MapHeaders().set("x-org", "req-org"), new MapHeaders().set("x-org", "resp-org")).companyId).toBe("req-org");
    expect(run(cfg, new MapHeaders(), new MapHeaders().set("x-org", "resp-org")).companyId).toBe("resp-org");
  });

  it("reads the JWT claim also when the user came from a header (Lua never does)", () => {
    const cfg = new IdentityConfig();
    cfg.companyIdField = "company_id";
    const id = run(cfg, new MapHeaders().set("x-consumer-username", "consumer").set("authorization", "Bearer " + jwt(P_COMPANY)));
    expect(id.userId).toBe("consumer");
    expect(id.companyId).toBe("c-42");
  });

  it("prefers company_id_header over the JWT claim", () => {
    const cfg = new IdentityConfig();
    cfg.companyIdField = "company_id";
    cfg.companyIdHeader = "x-org";
    const id = run(cfg, new MapHeaders().set("x-org", "hdr-org").set("authorization", "Bearer " + jwt(P_COMPANY)));
    expect(id.userId).toBe("jwt-user");
    expect(id.companyId).toBe("hdr-org");
  });

  it("reads a nested company claim", () => {
    const cfg = new IdentityConfig();
    cfg.companyIdField = "app_metadata.org";
    const id = run(cfg, new MapHeaders().set("authorization", "Bearer " + jwt(P_NESTED)));
    expect(id.userId).toBe("u1");
    expect(id.companyId).toBe("acme");
  });

  it("has no company without the field, from Basic, or from a missing claim", () => {
    const cfg = new IdentityConfig();
    expect(run(cfg, new MapHeaders().set("authorization", "Bearer " + jwt(P_COMPANY))).companyId).toBeNull();
    cfg.companyIdField = "company_id";
    expect(run(cfg, new MapHeaders().set("authorization", "Basic dXNlcjpwYTpzcw==")).companyId).toBeNull();
    expect(run(cfg, new MapHeaders().set("authorization", "Bearer " + jwt(P_ASCII))).companyId).toBeNull();
  });
});
