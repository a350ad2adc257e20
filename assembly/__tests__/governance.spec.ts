import { BlockResponse, GovernanceRules, MAX_RULES, govern } from "../moesif/governance";
import { AppConfig, RequestFacts } from "../moesif/sampling";
import { MapHeaders } from "./helpers/map_headers";
import { facts } from "./helpers/facts";


function rules(json: string): GovernanceRules {
  const r = GovernanceRules.parse(json);
  expect(r).not.toBeNull();
  return r!;
}

function cfg(json: string = "{}"): AppConfig {
  return AppConfig.parse(json)!;
}

/** A JSON string literal (escapes backslashes and quotes). */
function quote(s: string): string {
  return '"' + s.replaceAll("\\", "\\\\").replaceAll('"', '\\"') + '"';
}

function cond(path: string, pattern: string): string {
  return '{"path":' + quote(path) + ',"value":' + quote(pattern) + "}";
}

/** regex_config with one group of conditions. */
function rc1(conditions: string): string {
  return '"regex_config":[{"conditions":[' + conditions + "]}]";
}

function rule(id: string, type: string, extra: string, block: bool = true, status: i32 = 429): string {
  return (
    '{"_id":"' + id + '","name":"n-' + id + '","type":"' + type + '","block":' + (block ? "true" : "false") +
    ',"response":{"status":' + status.toString() + ',"headers":{"X-Rule":"' + id + '"},"body":{"rule":"' + id + '"}}' +
    (extra.length > 0 ? "," + extra : "") + "}"
  );
}

function blockedBy(r: GovernanceRules | null, c: AppConfig | null, f: RequestFacts): string | null {
  const out = new BlockResponse();
  return govern(r, c, f, out) ? out.ruleId : null;
}

function header(out: BlockResponse, name: string): string | null {
  for (let i = 0; i + 1 < out.headers.length; i += 2) {
    if (out.headers[i].toLowerCase() == name) return out.headers[i + 1];
  }
  return null;
}

function bytes(s: string): Uint8Array {
  return Uint8Array.wrap(String.UTF8.encode(s));
}

describe("GovernanceRules.parse", () => {
  it("refuses anything but a JSON array", () => {
    expect(GovernanceRules.parse("{}")).toBeNull();
    expect(GovernanceRules.parse("")).toBeNull();
    expect(GovernanceRules.parse("[{")).toBeNull();
    expect(rules("[]").count).toBe(0);
  });
  it("classifies rules and skips malformed ones", () => {
    const r = rules(
      "[" + rule("u1", "user", "") + "," + rule("c1", "company", "") + "," + rule("x1", "regex", "") +
        ',1,{"type":"user"},{"_id":"","type":"user"},{"_id":"z","type":"weird"},{"_id":5,"type":"regex"}]',
    );
    expect(r.count).toBe(3);
    expect(r.userRules.length).toBe(1);
    expect(r.companyRules.length).toBe(1);
    expect(r.regexRules.length).toBe(1);
    expect(r.blockingCount).toBe(3);
    expect(r.skippedCount).toBe(5);
  });
  it("caps the number of rules", () => {
    let json = "[";
    for (let i = 0; i < MAX_RULES + 5; i++) json += (i > 0 ? "," : "") + rule("r" + i.toString(), "regex", "", false);
    const r = rules(json + "]");
    expect(r.count).toBe(MAX_RULES);
    expect(r.skippedCount).toBe(5);
  });
  it("parses from bytes and reports body conditions", () => {
    const r = GovernanceRules.parseBytes(bytes("[" + rule("g", "regex", rc1(cond("request.body.operationName", "^Del"))) + "]"));
    expect(r!.needsBody).toBe(true);
    expect(rules("[" + rule("g", "regex", rc1(cond("request.route", "^/"))) + "]").needsBody).toBe(false);
  });
});

describe("govern: regex matching", () => {
  it("blocks with the rule's status, headers, body and id", () => {
    const r = rules("[" + rule("x1", "regex", rc1(cond("request.route", "^/admin"))) + "]");
    const out = new BlockResponse();
    expect(govern(r, cfg(), facts("/admin/users"), out)).toBe(true);
    expect(out.ruleId).toBe("x1");
    expect(out.status).toBe(429);
    expect(out.body).toBe('{"rule":"x1"}');
    expect(header(out, "x-rule")).toBe("x1");
    expect(header(out, "content-type")).toBe("application/json; charset=utf-8");
    expect(govern(r, cfg(), facts("/public"), new BlockResponse())).toBe(false);
  });
  it("uses real regexes that Lua patterns cannot express", () => {
    const r = rules("[" + rule("x1", "regex", rc1(cond("request.route", "^/v1/(orders|items)/\\d+$"))) + "]");
    expect(r.invalidRegexCount).toBe(0);
    expect(blockedBy(r, cfg(), facts("/v1/orders/42"))).toBe("x1");
    expect(blockedBy(r, cfg(), facts("/v1/items/7"))).toBe("x1");
    expect(blockedBy(r, cfg(), facts("/v1/orders/4x"))).toBeNull();
    expect(blockedBy(r, cfg(), facts("/v1/carts/4"))).toBeNull();
  });
  it("ORs groups and ANDs conditions within a group", () => {
    const r = rules(
      "[" + rule("x1", "regex",
        '"regex_config":[{"conditions":[' + cond("request.verb", "^DELETE$") + "," + cond("request.route", "^/a") +
          ']},{"conditions":[' + cond("request.ip_address", "^192\\.168\\.") + "]}]") + "]",
    );
    expect(blockedBy(r, cfg(), facts("/a/1", "DELETE"))).toBe("x1");
    expect(blockedBy(r, cfg(), facts("/a/1", "GET"))).toBeNull();
    expect(blockedBy(r, cfg(), facts("/b", "DELETE"))).toBeNull();
    const f = facts("/b", "GET");
    f.ipAddress = "192.168.0.3";
    expect(blockedBy(r, cfg(), f)).toBe("x1");
  });
  it("keeps the last value of a duplicate path within a group, as Lua", () => {
    const r = rules("[" + rule("x1", "regex", rc1(cond("request.route", "^/first") + "," + cond("request.route", "^/second"))) + "]");
    expect(blockedBy(r, cfg(), facts("/second"))).toBe("x1");
    expect(blockedBy(r, cfg(), facts("/first"))).toBeNull();
  });
  it("matches every request when regex_config is missing, null or empty, without breaking other rules", () => {
    const r = rules(
      "[" + rule("all", "regex", "") + "," + rule("nul", "regex", '"regex_config":null') + "," +
        rule("emp", "regex", '"regex_config":[]') + "," + rule("later", "regex", rc1(cond("request.route", "^/x"))) + "]",
    );
    expect(r.count).toBe(4);
    expect(r.skippedCount).toBe(0);
    expect(blockedBy(r, cfg(), facts("/anything"))).toBe("all");
  });
  it("never matches with an unusable regex_config or an invalid pattern", () => {
    const r = rules(
      "[" + rule("obj", "regex", '"regex_config":{"conditions":[]}') + "," +
        rule("bad", "regex", rc1(cond("request.route", "(?<name>x)"))) + "," +
        rule("grp", "regex", '"regex_config":[7]') + "," +
        rule("nop", "regex", rc1('{"value":"x"}')) + "," +
        rule("str", "regex", '"regex_config":[{"conditions":"x"}]') + "," +
        rule("ok", "regex", rc1(cond("request.route", "^/x"))) + "]",
    );
    expect(r.invalidRegexCount).toBe(1);
    expect(blockedBy(r, cfg(), facts("/x"))).toBe("ok");
    expect(blockedBy(r, cfg(), facts("/(?<name>x)"))).toBeNull();
  });
  it("never matches response.status in the request phase", () => {
    const r = rules("[" + rule("s", "regex", rc1(cond("response.status", "."))) + "]");
    expect(blockedBy(r, cfg(), facts())).toBeNull();
  });
  it("tests request headers by case-insensitive name", () => {
    const r = rules("[" + rule("h", "regex", rc1(cond("request.headers.X-Api-Version", "^1\\."))) + "]");
    const f = facts();
    expect(blockedBy(r, cfg(), f)).toBeNull();
    f.headers = new MapHeaders().set("X-API-VERSION", "1.4");
    expect(blockedBy(r, cfg(), f)).toBe("h");
    f.headers = new MapHeaders().set("x-api-version", "2.0");
    expect(blockedBy(r, cfg(), f)).toBeNull();
  });
  it("applies nothing before the first config or without rules", () => {
    const r = rules("[" + rule("x", "regex", "") + "]");
    expect(blockedBy(r, null, facts())).toBeNull();
    expect(blockedBy(null, cfg(), facts())).toBeNull();
  });
});

function gqlRules(): GovernanceRules {
  return rules(
    "[" + rule("q", "regex", rc1(cond("request.body.query", "mutation\\s+deleteUser"))) + "," +
      rule("op", "regex", rc1(cond("request.body.operationName", "^Drop(All|Some)$"))) + "]",
  );
}

describe("govern: request bodies", () => {
  it("matches the raw body of an application/graphql request as the query", () => {
    const f = facts("/graphql", "POST");
    f.contentType = "application/graphql";
    f.body = bytes("mutation  deleteUser { id }");
    expect(blockedBy(gqlRules(), cfg(), f)).toBe("q");
    f.body = bytes("query { users { id } }");
    expect(blockedBy(gqlRules(), cfg(), f)).toBeNull();
  });
  it("matches query and operationName fields of a JSON body", () => {
    const f = facts("/graphql", "POST");
    f.contentType = "application/json; charset=utf-8";
    f.body = bytes('{"query":"query q { a }","operationName":"DropAll"}');
    expect(blockedBy(gqlRules(), cfg(), f)).toBe("op");
    f.body = bytes('{"query":"mutation deleteUser { a }"}');
    expect(blockedBy(gqlRules(), cfg(), f)).toBe("q");
  });
  it("does not block or trap on a malformed JSON body", () => {
    const f = facts("/graphql", "POST");
    f.contentType = "application/json";
    f.body = bytes('{"query":"mutation deleteUser {", "operationName":');
    expect(blockedBy(gqlRules(), cfg(), f)).toBeNull();
    const raw = bytes('{"query":"mutation deleteUser"}');
    raw[1] = 0xff; // a stray non-UTF-8 byte
    f.body = raw;
    expect(blockedBy(gqlRules(), cfg(), f)).toBeNull();
    f.body = bytes("");
    expect(blockedBy(gqlRules(), cfg(), f)).toBeNull();
  });
  it("ignores bodies of other content types and absent bodies", () => {
    const f = facts("/graphql", "POST");
    f.contentType = "text/plain";
    f.body = bytes('{"operationName":"DropAll"}');
    expect(blockedBy(gqlRules(), cfg(), f)).toBeNull();
    f.contentType = "application/json";
    f.body = null;
    expect(blockedBy(gqlRules(), cfg(), f)).toBeNull();
  });
  it("walks dotted body paths to scalars only", () => {
    const r = rules("[" + rule("b", "regex", rc1(cond("request.body.order.total", "^\\d{4,}$"))) + "]");
    const f = facts("/", "POST");
    f.contentType = "application/vnd.api+json";
    f.body = bytes('{"order":{"total":12345}}');
    expect(blockedBy(r, cfg(), f)).toBe("b");
    f.body = bytes('{"order":{"total":12}}');
    expect(blockedBy(r, cfg(), f)).toBeNull();
    f.body = bytes('{"order":{"total":{"v":12345}}}');
    expect(blockedBy(r, cfg(), f)).toBeNull();
  });
  it("re-reads the body when a reused RequestFacts gets a new one", () => {
    const f = facts("/graphql", "POST");
    f.contentType = "application/json";
    f.body = bytes('{"operationName":"DropSome"}');
    expect(blockedBy(gqlRules(), cfg(), f)).toBe("op");
    f.body = bytes('{"operationName":"Keep"}');
    expect(blockedBy(gqlRules(), cfg(), f)).toBeNull();
  });
});

function cohortCfg(): AppConfig {
  return cfg(
    '{"user_rules":{"alice":[{"rules":"uid","values":{}},{"rules":"unot","values":{}}]},' +
      '"company_rules":{"acme":[{"rules":"cid","values":{}},{"rules":"cnot","values":{}}]}}',
  );
}

describe("govern: user and company cohorts", () => {
  it("blocks with an identified company rule (the Lua plugin needs debug for this)", () => {
    const r = rules("[" + rule("cid", "company", "") + "]");
    const f = facts();
    f.companyId = "acme";
    expect(blockedBy(r, cohortCfg(), f)).toBe("cid");
    f.companyId = "other";
    expect(blockedBy(r, cohortCfg(), f)).toBeNull();
    f.companyId = null;
    expect(blockedBy(r, cohortCfg(), f)).toBeNull();
  });
  it("applies identified user rules only to cohort members", () => {
    const r = rules("[" + rule("uid", "user", "") + "]");
    const f = facts();
    expect(blockedBy(r, cohortCfg(), f)).toBeNull();
    f.userId = "bob";
    expect(blockedBy(r, cohortCfg(), f)).toBeNull();
    f.userId = "alice";
    expect(blockedBy(r, cohortCfg(), f)).toBe("uid");
  });
  it("lets the regex alone decide an unidentified rule when there is no id", () => {
    const r = rules("[" + rule("uu", "user", '"applied_to_unidentified":true,' + rc1(cond("request.route", "^/signup"))) + "]");
    expect(blockedBy(r, cohortCfg(), facts("/signup"))).toBe("uu");
    expect(blockedBy(r, cohortCfg(), facts("/login"))).toBeNull();
    const f = facts("/signup");
    f.userId = "";
    expect(blockedBy(r, cohortCfg(), f)).toBe("uu");
  });
  it("applies cohort logic to an unidentified rule when the id is known", () => {
    const r = rules("[" + rule("uu", "user", '"applied_to_unidentified":true') + "]");
    const f = facts();
    f.userId = "bob";
    expect(blockedBy(r, cohortCfg(), f)).toBeNull();
    const member = cfg('{"user_rules":{"bob":[{"rules":"uu"}]}}');
    expect(blockedBy(r, member, f)).toBe("uu");
  });
  it("applies not_matching rules to ids outside the cohort only", () => {
    const r = rules(
      "[" + rule("unot", "user", '"applied_to":"not_matching"') + "," + rule("cnot", "company", '"applied_to":"not_matching"') + "]",
    );
    const f = facts();
    f.userId = "alice";
    f.companyId = "acme";
    expect(blockedBy(r, cohortCfg(), f)).toBeNull();
    f.userId = "bob";
    expect(blockedBy(r, cohortCfg(), f)).toBe("unot");
    f.userId = "alice";
    f.companyId = "initech";
    expect(blockedBy(r, cohortCfg(), f)).toBe("cnot");
    f.userId = null;
    f.companyId = null;
    expect(blockedBy(r, cohortCfg(), f)).toBeNull();
  });
  it("orders user, company, then regex rules, each in document order", () => {
    const r = rules(
      "[" + rule("x1", "regex", "", true, 401) + "," + rule("c1", "company", '"applied_to":"not_matching"', true, 402) + "," +
        rule("u1", "user", '"applied_to":"not_matching"', false) + "," + rule("u2", "user", '"applied_to":"not_matching"', true, 403) + "," +
        rule("u3", "user", '"applied_to":"not_matching"', true, 404) + "]",
    );
    const out = new BlockResponse();
    const f = facts();
    f.userId = "nobody";
    f.companyId = "nocorp";
    expect(govern(r, cohortCfg(), f, out)).toBe(true);
    expect(out.ruleId).toBe("u2");
    expect(out.status).toBe(403);
    // Headers from every matched rule, non-blocking ones included, first value wins.
    expect(header(out, "x-rule")).toBe("u1");
    f.userId = null;
    expect(govern(r, cohortCfg(), f, out)).toBe(true);
    expect(out.ruleId).toBe("c1");
    f.companyId = null;
    expect(govern(r, cohortCfg(), f, out)).toBe(true);
    expect(out.ruleId).toBe("x1");
  });
  it("does not block when only non-blocking rules match", () => {
    const r = rules("[" + rule("n1", "regex", "", false) + "," + rule("n2", "regex", "", false) + "]");
    expect(r.blockingCount).toBe(0);
    expect(blockedBy(r, cohortCfg(), facts())).toBeNull();
  });
  it("treats a blocking rule without a usable status as non-blocking", () => {
    const r = rules(
      '[{"_id":"nostatus","type":"regex","block":true,"response":{"body":{"a":1}}},' +
        '{"_id":"bigstatus","type":"regex","block":true,"response":{"status":1000}},' + rule("ok", "regex", "", true, 451) + "]",
    );
    expect(r.blockingCount).toBe(1);
    expect(blockedBy(r, cohortCfg(), facts())).toBe("ok");
  });
});

const TAGGED =
  '[{"_id":"m1","type":"user","block":true,"variables":[{"name":"0","path":"user.plan"},{"name":"1","path":"c.tier"},' +
  '{"name":"2","path":"x"},{"name":"plan","path":"y"}],' +
  '"response":{"status":402,"headers":{"X-Plan":"{{0}}/{{1}}","X-Undeclared":"{{9}}","X-Bad":"a{{2}}"},' +
  '"body":{"msg":"plan {{0}}, tier {{1}}, quota {{2}}, named {{plan}}, other {{7}}","{{0}}":[1,"{{1}}",{"n":"{{0}}"}],' +
  '"big":12345678901234567890,"f":1.50,"t":true,"z":null}}}]';

describe("block response", () => {
  it("substitutes user values, overridden by company values, else UNKNOWN; undeclared placeholders stay", () => {
    const c = cfg(
      '{"user_rules":{"u":[{"rules":"m1","values":{"0":"free","1":"t-user","plan":"P"}}]},' +
        '"company_rules":{"co":[{"rules":"m1","values":{"1":"t-co"}}]}}',
    );
    const f = facts();
    f.userId = "u";
    f.companyId = "co";
    const out = new BlockResponse();
    expect(govern(rules(TAGGED), c, f, out)).toBe(true);
    expect(out.status).toBe(402);
    expect(out.body).toBe(
      '{"msg":"plan free, tier t-co, quota UNKNOWN, named P, other {{7}}","{{0}}":[1,"t-co",{"n":"free"}],' +
        '"big":12345678901234567890,"f":1.50,"t":true,"z":null}',
    );
    expect(header(out, "x-plan")).toBe("free/t-co");
    expect(header(out, "x-undeclared")).toBe("{{9}}");
    expect(header(out, "x-bad")).toBe("aUNKNOWN");
  });
  it("uses UNKNOWN for every variable when the id has no values", () => {
    const r = rules(TAGGED.replace('"type":"user"', '"type":"user","applied_to":"not_matching"'));
    const f = facts();
    f.userId = "stranger";
    const out = new BlockResponse();
    expect(govern(r, cfg(), f, out)).toBe(true);
    expect(header(out, "x-plan")).toBe("UNKNOWN/UNKNOWN");
  });
  it("drops a header whose merge value carries CR/LF, and invalid header names", () => {
    const r = rules(
      '[{"_id":"h","type":"user","block":true,"variables":[{"name":"0"}],' +
        '"response":{"status":403,"headers":{"X-Inject":"{{0}}","Bad Name":"v","X-Ok":"fine","X-Num":7}}}]',
    );
    expect(r.skippedCount).toBe(1);
    const c = cfg('{"user_rules":{"u":[{"rules":"h","values":{"0":"a\\r\\nSet-Cookie: x=1"}}]}}');
    const f = facts();
    f.userId = "u";
    const out = new BlockResponse();
    expect(govern(r, c, f, out)).toBe(true);
    expect(header(out, "x-inject")).toBeNull();
    expect(header(out, "x-ok")).toBe("fine");
    expect(header(out, "x-num")).toBe("7");
    expect(out.body).toBe("");
    expect(header(out, "content-type")).toBeNull();
  });
  it("keeps the first value per header name across rules, case-insensitively", () => {
    const r = rules(
      '[{"_id":"a","type":"regex","block":false,"response":{"headers":{"X-Limit":"first","Retry-After":"5"}}},' +
        '{"_id":"b","type":"regex","block":true,"response":{"status":429,"headers":{"x-limit":"second","X-Other":"o","Content-Type":"text/plain"},"body":"slow {{0}}"}}]',
    );
    const out = new BlockResponse();
    expect(govern(r, cfg(), facts(), out)).toBe(true);
    expect(out.ruleId).toBe("b");
    expect(header(out, "x-limit")).toBe("first");
    expect(header(out, "retry-after")).toBe("5");
    expect(header(out, "x-other")).toBe("o");
    expect(header(out, "content-type")).toBe("text/plain");
    expect(out.headers.length).toBe(8);
    // A string body stays text (no variables declared: placeholders untouched).
    expect(out.body).toBe("slow {{0}}");
  });
  it("substitutes in a string body and handles brace runs", () => {
    const r = rules(
      '[{"_id":"s","type":"regex","block":true,"variables":[{"name":"0"}],' +
        '"response":{"status":403,"body":"{{{0}}} {{ {{0}} {{0} }} {{}} {{0}}{{0}}"}}]',
    );
    const out = new BlockResponse();
    expect(govern(r, cfg(), facts(), out)).toBe(true);
    expect(out.body).toBe("{UNKNOWN} {{ UNKNOWN {{0} }} {{}} UNKNOWNUNKNOWN");
    expect(header(out, "content-type")).toBeNull();
  });
  it("serializes array, number and escaped-string bodies as JSON", () => {
    const r = rules(
      '[{"_id":"j","type":"regex","block":true,"response":{"status":400,"body":["a\\"b\\n\\u00e9",-0.5e3,[],{}]}}]',
    );
    const out = new BlockResponse();
    expect(govern(r, cfg(), facts(), out)).toBe(true);
    expect(out.body).toBe('["a\\"b\\né",-0.5e3,[],{}]');
    expect(header(out, "content-type")).toBe("application/json; charset=utf-8");
  });
});

let seed: u32 = 0x6d2b79f5;
function next(): u32 {
  seed ^= seed << 13;
  seed ^= seed >> 17;
  seed ^= seed << 5;
  return seed;
}

const RULES_SEED =
  '[{"_id":"r1","type":"user","block":true,"applied_to":"not_matching","applied_to_unidentified":true,' +
  '"regex_config":[{"conditions":[{"path":"request.route","value":"^/a(b|c)*\\\\d?"},{"path":"request.body.q","value":"x+"}]},' +
  '{"conditions":[{"path":"request.headers.h","value":"."}]}],"variables":[{"name":"0","path":"p"}],' +
  '"response":{"status":429,"headers":{"H":"{{0}}"},"body":{"m":["{{0}}",{"k":"{{1}}"}]}}},' +
  '{"_id":"r2","type":"company","block":false,"regex_config":[],"response":{"headers":{"X":"1"}}},' +
  '{"_id":"r3","type":"regex","block":true,"response":{"status":403,"body":"no {{0}}"}}]';
const NOISE = '{}[],:"\\ 0123456789-.etruflsn()|^$*+?';

describe("GovernanceRules fuzz", () => {
  it("never traps on 400 mutated rule documents", () => {
    const base = String.UTF8.encode(RULES_SEED);
    const c = cfg('{"user_rules":{"u":[{"rules":"r1","values":{"0":"v"}}]}}');
    const f = facts("/abc1");
    f.userId = "u";
    f.companyId = "c";
    f.headers = new MapHeaders().set("h", "v");
    f.contentType = "application/json";
    f.body = bytes('{"q":"xx"}');
    let parsed = 0;
    for (let iter = 0; iter < 400; iter++) {
      const b = Uint8Array.wrap(base).slice(0);
      const edits = 1 + <i32>(next() % 4);
      for (let e = 0; e < edits; e++) {
        const pos = <i32>(next() % <u32>b.length);
        b[pos] = next() % 8 == 0 ? <u8>next() : <u8>NOISE.charCodeAt(<i32>(next() % <u32>NOISE.length));
      }
      const r = GovernanceRules.parseBytes(b);
      if (r === null) continue;
      parsed++;
      const out = new BlockResponse();
      if (govern(r, c, f, out)) expect(out.status >= 100 && out.status <= 599).toBe(true);
      f.userId = iter % 2 == 0 ? "u" : null;
    }
    expect(parsed).toBeGreaterThan(20);
  });
});
