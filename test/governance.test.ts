// Sampling and governance end to end (issue 5 part 5, SPEC §7, docs/governance.md): the
// compiled filter on the test gateway (the emulator with its virtual clock, or Kong's engine
// with TEST_GATEWAY=engine) fetches /v1/config and /v1/rules from the local collector; each
// case checks the client's response, whether the upstream was called, and the event the
// collector received.
import { after, describe, it } from "node:test";
import assert from "node:assert/strict";
import type { KongWasmHost, ProxyRequest } from "../emulator/index.ts";
import { Collector } from "../local/collector.ts";
import { emulatorOnly } from "./helpers/gateway.ts";
import { BASE_APP_CONFIG, FETCH_MS, FLUSH_MS, Scenario, dec, enc, header, when, type Event } from "./helpers/rules.ts";

const cleanups: Array<() => Promise<void>> = [];
after(async () => {
  for (const c of cleanups.splice(0)) await c();
});

async function scenario(opts: Parameters<typeof Scenario.open>[0]): Promise<Scenario> {
  const s = await Scenario.open(opts);
  cleanups.push(() => s.close());
  return s;
}

const ROUTE = "^/v1/(orders|items)/\\d+$";
const JSON_CT = "application/json; charset=utf-8";
const OK_BODY = '{"ok":true}';

type Req = Omit<Partial<ProxyRequest>, "body"> & { body?: string | Uint8Array };

/** A blocking rule answering 403 {"error":"blocked"} unless `response` says otherwise. */
function blocking(id: string, type: string, regex: unknown, extra: Record<string, unknown> = {}): Record<string, unknown> {
  return { _id: id, type, block: true, regex_config: regex, response: { status: 403, body: { error: "blocked" } }, ...extra };
}

const userCohort = (user: string, ...rules: Array<string | { rules: string; values: Record<string, unknown> }>) => ({
  user_rules: { [user]: rules.map((r) => (typeof r === "string" ? { rules: r } : r)) },
});

interface Blocked {
  by: string;
  status: number;
  /** The exact body the client gets (the engine appends "\n" to a non-empty local body). */
  body: string;
  headers?: Record<string, string | undefined>;
}

interface GovCase {
  name: string;
  rules: unknown[];
  config?: Record<string, unknown>;
  filter?: Record<string, unknown>;
  request: Req;
  /** Absent: the request reaches the upstream and is logged as a normal 200. */
  blocked?: Blocked;
  /** Headers the client must not see. */
  absent?: string[];
  /** Extra checks on the event. */
  event?: (e: Event) => void;
}

const mergeRule = (id: string, type: string, vars: string[], headers: Record<string, string>, body: unknown) => ({
  _id: id,
  type,
  block: true,
  regex_config: when(["request.route", "^/limited"]),
  variables: vars.map((name) => ({ name, path: "body.x" })),
  response: { status: 429, headers, body },
});

const cases: GovCase[] = [
  // --- regex rules: real regular expressions on each request field
  {
    name: "route regex with alternation and \\d+ blocks /v1/orders/42 before the upstream",
    rules: [blocking("r-route", "regex", when(["request.route", ROUTE]))],
    request: { path: "/v1/orders/42" },
    blocked: { by: "r-route", status: 403, body: '{"error":"blocked"}\n', headers: { "content-type": JSON_CT } },
  },
  {
    name: "route regex tests the path without the query string",
    rules: [blocking("r-route", "regex", when(["request.route", ROUTE]))],
    request: { path: "/v1/items/7?page=2&sort=asc" },
    blocked: { by: "r-route", status: 403, body: '{"error":"blocked"}\n' },
  },
  {
    name: "route regex does not match /v1/orders/abc: the request passes",
    rules: [blocking("r-route", "regex", when(["request.route", ROUTE]))],
    request: { path: "/v1/orders/abc" },
  },
  {
    name: "route regex anchors hold: /api/v1/orders/1 passes",
    rules: [blocking("r-route", "regex", when(["request.route", ROUTE]))],
    request: { path: "/api/v1/orders/1" },
  },
  {
    name: "verb regex blocks DELETE with a text body",
    rules: [blocking("r-verb", "regex", when(["request.verb", "^(DELETE|PATCH)$"]), { response: { status: 405, body: "method not allowed" } })],
    request: { method: "DELETE", path: "/v1/orders/1" },
    blocked: { by: "r-verb", status: 405, body: "method not allowed\n", headers: { "content-type": "text/plain" } /* nginx default_type, as the engine answers */ },
    event: (e) => {
      assert.equal(e.response.transfer_encoding, "base64");
      assert.equal(Buffer.from(e.response.body, "base64").toString(), "method not allowed\n");
    },
  },
  {
    name: "verb regex lets GET through",
    rules: [blocking("r-verb", "regex", when(["request.verb", "^(DELETE|PATCH)$"]))],
    request: { method: "GET", path: "/v1/orders/1" },
  },
  {
    name: "ip_address regex blocks the first X-Forwarded-For address",
    rules: [blocking("r-ip", "regex", when(["request.ip_address", "^10\\.0\\.\\d{1,3}\\.\\d{1,3}$"]))],
    request: { path: "/x", headers: [["X-Forwarded-For", "10.0.3.4, 203.0.113.9"]] },
    blocked: { by: "r-ip", status: 403, body: '{"error":"blocked"}\n' },
    event: (e) => assert.equal(e.request.ip_address, "10.0.3.4"),
  },
  {
    name: "ip_address regex lets another forwarded address through",
    rules: [blocking("r-ip", "regex", when(["request.ip_address", "^10\\.0\\.\\d{1,3}\\.\\d{1,3}$"]))],
    request: { path: "/x", headers: [["X-Forwarded-For", "203.0.113.9"]] },
  },
  {
    name: "request.ip (the Node SDK's name) tests the peer address without forwarding headers",
    // A loopback peer other than the default 127.0.0.1, so that the engine's client can bind it.
    rules: [blocking("r-ip", "regex", when(["request.ip", "^127\\.0\\.0\\.77$"]))],
    request: { path: "/x", remoteAddr: "127.0.0.77" },
    blocked: { by: "r-ip", status: 403, body: '{"error":"blocked"}\n' },
  },
  {
    name: "request header regex, header name case-insensitive",
    rules: [blocking("r-hdr", "regex", when(["request.headers.X-Api-Version", "^v[12]$"]))],
    request: { path: "/x", headers: [["x-api-version", "v2"]] },
    blocked: { by: "r-hdr", status: 403, body: '{"error":"blocked"}\n' },
  },
  {
    name: "request header regex: another value passes",
    rules: [blocking("r-hdr", "regex", when(["request.headers.X-Api-Version", "^v[12]$"]))],
    request: { path: "/x", headers: [["X-Api-Version", "v3"]] },
  },
  {
    name: "AND group: route and verb must both match",
    rules: [blocking("r-and", "regex", when(["request.route", ROUTE], ["request.verb", "^POST$"]))],
    request: { method: "GET", path: "/v1/orders/1" },
  },
  {
    name: "OR of groups: the second group matches",
    rules: [blocking("r-or", "regex", [...when(["request.verb", "^PUT$"]), ...when(["request.route", "^/admin(/|$)"])])],
    request: { path: "/admin/users" },
    blocked: { by: "r-or", status: 403, body: '{"error":"blocked"}\n' },
  },
  // --- body conditions (decided in on_request_body)
  {
    name: "JSON body field regex blocks a large order; the request body is still logged",
    rules: [blocking("r-body", "regex", when(["request.body.order.amount", "^\\d{4,}$"]))],
    request: { method: "POST", path: "/orders", headers: [["Content-Type", "application/json"]], body: '{"order":{"amount":12345}}' },
    blocked: { by: "r-body", status: 403, body: '{"error":"blocked"}\n' },
    event: (e) => assert.deepEqual(e.request.body, { order: { amount: 12345 } }),
  },
  {
    name: "JSON body field regex lets a small order through",
    rules: [blocking("r-body", "regex", when(["request.body.order.amount", "^\\d{4,}$"]))],
    request: { method: "POST", path: "/orders", headers: [["Content-Type", "application/json"]], body: '{"order":{"amount":12}}' },
  },
  {
    name: "JSON body field under a vendor +json content type with parameters",
    rules: [blocking("r-body", "regex", when(["request.body.order.amount", "^\\d{4,}$"]))],
    request: { method: "POST", path: "/orders", headers: [["Content-Type", "application/vnd.api+json; charset=utf-8"]], body: '{"order":{"amount":9999}}' },
    blocked: { by: "r-body", status: 403, body: '{"error":"blocked"}\n' },
  },
  {
    name: "GraphQL query in an application/json body blocks a mutation",
    rules: [blocking("r-gql", "regex", when(["request.body.query", "^\\s*mutation\\s+DeleteUser\\b"]), {
      response: { status: 400, body: { errors: [{ message: "mutations are disabled" }] } },
    })],
    request: { method: "POST", path: "/graphql", headers: [["Content-Type", "application/json"]], body: '{"query":"mutation DeleteUser { deleteUser(id: 1) }"}' },
    blocked: { by: "r-gql", status: 400, body: '{"errors":[{"message":"mutations are disabled"}]}\n' },
  },
  {
    name: "GraphQL operationName in an application/json body",
    rules: [blocking("r-op", "regex", when(["request.body.operationName", "^(DeleteUser|DropAll)$"]))],
    request: { method: "POST", path: "/graphql", headers: [["Content-Type", "application/json"]], body: '{"query":"mutation DropAll { x }","operationName":"DropAll"}' },
    blocked: { by: "r-op", status: 403, body: '{"error":"blocked"}\n' },
  },
  {
    name: "GraphQL query as a raw application/graphql body (with parameters)",
    rules: [blocking("r-gql", "regex", when(["request.body.query", "^\\s*mutation\\s+DeleteUser\\b"]))],
    request: { method: "POST", path: "/graphql", headers: [["Content-Type", "application/graphql; charset=utf-8"]], body: "mutation DeleteUser { deleteUser(id: 1) }" },
    blocked: { by: "r-gql", status: 403, body: '{"error":"blocked"}\n' },
  },
  {
    name: "GraphQL read query passes (application/graphql)",
    rules: [blocking("r-gql", "regex", when(["request.body.query", "^\\s*mutation\\s+DeleteUser\\b"]))],
    request: { method: "POST", path: "/graphql", headers: [["Content-Type", "application/graphql"]], body: "query { users { id } }" },
  },
  {
    name: "malformed GraphQL JSON body: no 500, no trap, passes and is logged as base64",
    rules: [blocking("r-gql", "regex", when(["request.body.query", "mutation"]))],
    request: { method: "POST", path: "/graphql", headers: [["Content-Type", "application/json"]], body: '{"query": "mutation DeleteUser {' },
    event: (e) => {
      assert.equal(e.request.transfer_encoding, "base64");
      assert.equal(Buffer.from(e.request.body, "base64").toString(), '{"query": "mutation DeleteUser {');
    },
  },
  {
    name: "GraphQL body that is not UTF-8: the condition fails, the request passes",
    rules: [blocking("r-gql", "regex", when(["request.body.query", "mutation"]))],
    request: { method: "POST", path: "/graphql", headers: [["Content-Type", "application/graphql"]], body: new Uint8Array([0x6d, 0x75, 0xff, 0xfe, 0x00, 0x80]) },
  },
  // --- user rules and cohorts
  {
    name: "user rule (applied_to matching): a cohort member is blocked",
    rules: [blocking("r-user", "user", when(["request.route", "^/"]))],
    config: userCohort("alice", "r-user"),
    request: { path: "/x", headers: [["X-User-Id", "alice"]] },
    blocked: { by: "r-user", status: 403, body: '{"error":"blocked"}\n' },
    event: (e) => assert.equal(e.user_id, "alice"),
  },
  {
    name: "user rule (applied_to matching): a user outside the cohort passes",
    rules: [blocking("r-user", "user", when(["request.route", "^/"]))],
    config: userCohort("alice", "r-user"),
    request: { path: "/x", headers: [["X-User-Id", "bob"]] },
  },
  {
    name: "user rule (applied_to not_matching): a user outside the cohort is blocked",
    rules: [blocking("r-user", "user", when(["request.route", "^/"]), { applied_to: "not_matching" })],
    config: userCohort("alice", "r-user"),
    request: { path: "/x", headers: [["X-User-Id", "bob"]] },
    blocked: { by: "r-user", status: 403, body: '{"error":"blocked"}\n' },
  },
  {
    name: "user rule (applied_to not_matching): a cohort member passes",
    rules: [blocking("r-user", "user", when(["request.route", "^/"]), { applied_to: "not_matching" })],
    config: userCohort("alice", "r-user"),
    request: { path: "/x", headers: [["X-User-Id", "alice"]] },
  },
  {
    name: "user rule in cohort but its regex does not match: passes",
    rules: [blocking("r-user", "user", when(["request.route", "^/admin"]))],
    config: userCohort("alice", "r-user"),
    request: { path: "/public", headers: [["X-User-Id", "alice"]] },
  },
  {
    name: "identified-only user rule does not apply without a user id",
    rules: [blocking("r-user", "user", when(["request.route", "^/"]), { applied_to: "not_matching" })],
    request: { path: "/x" },
  },
  {
    name: "unidentified user rule blocks a request without a user id",
    rules: [blocking("r-anon", "user", when(["request.route", "^/"]), { applied_to_unidentified: true })],
    request: { path: "/x" },
    blocked: { by: "r-anon", status: 403, body: '{"error":"blocked"}\n' },
    event: (e) => assert.equal(e.user_id, undefined),
  },
  {
    name: "unidentified user rule treats an empty user id header as no user",
    rules: [blocking("r-anon", "user", when(["request.route", "^/"]), { applied_to_unidentified: true })],
    request: { path: "/x", headers: [["X-User-Id", ""]] },
    blocked: { by: "r-anon", status: 403, body: '{"error":"blocked"}\n' },
  },
  {
    name: "unidentified user rule with a user id outside the cohort: passes",
    rules: [blocking("r-anon", "user", when(["request.route", "^/"]), { applied_to_unidentified: true })],
    request: { path: "/x", headers: [["X-User-Id", "carol"]] },
  },
  {
    name: "unidentified user rule with a user id in the cohort: cohort logic blocks",
    rules: [blocking("r-anon", "user", when(["request.route", "^/"]), { applied_to_unidentified: true })],
    config: userCohort("carol", "r-anon"),
    request: { path: "/x", headers: [["X-User-Id", "carol"]] },
    blocked: { by: "r-anon", status: 403, body: '{"error":"blocked"}\n' },
  },
  // --- company rules
  {
    name: "identified company rule blocks with debug off (the Lua plugin never does)",
    rules: [blocking("r-co", "company", when(["request.route", "^/"]))],
    config: { company_rules: { acme: [{ rules: "r-co" }] } },
    filter: { debug: false },
    request: { path: "/x", headers: [["X-Company-Id", "acme"]] },
    blocked: { by: "r-co", status: 403, body: '{"error":"blocked"}\n' },
    event: (e) => assert.equal(e.company_id, "acme"),
  },
  {
    name: "identified company rule: a company outside the cohort passes",
    rules: [blocking("r-co", "company", when(["request.route", "^/"]))],
    config: { company_rules: { acme: [{ rules: "r-co" }] } },
    request: { path: "/x", headers: [["X-Company-Id", "globex"]] },
  },
  {
    name: "unidentified company rule blocks a request without a company id",
    rules: [blocking("r-co-anon", "company", when(["request.verb", "^POST$"]), { applied_to_unidentified: true })],
    request: { method: "POST", path: "/x", headers: [["X-User-Id", "alice"]] },
    blocked: { by: "r-co-anon", status: 403, body: '{"error":"blocked"}\n' },
  },
  {
    name: "unidentified company rule: a company outside its cohort passes",
    rules: [blocking("r-co-anon", "company", when(["request.verb", "^POST$"]), { applied_to_unidentified: true })],
    request: { method: "POST", path: "/x", headers: [["X-Company-Id", "globex"]] },
  },
  // --- merge tags
  {
    name: "merge tags take the user's values in headers and (nested) body strings",
    rules: [mergeRule("r-m", "user", ["0", "plan"], { "X-Plan": "{{plan}}", "X-Limit": "{{0}}/month" }, { message: "Limit {{0}} reached on {{plan}}", details: ["{{plan}}", 1, true, null] })],
    config: userCohort("alice", { rules: "r-m", values: { "0": 1000, plan: "gold" } }),
    request: { path: "/limited", headers: [["X-User-Id", "alice"]] },
    blocked: {
      by: "r-m",
      status: 429,
      body: '{"message":"Limit 1000 reached on gold","details":["gold",1,true,null]}\n',
      headers: { "x-plan": "gold", "x-limit": "1000/month", "content-type": JSON_CT },
    },
  },
  {
    name: "merge tags: the company's values override the user's for the same rule",
    rules: [mergeRule("r-m", "user", ["0", "plan"], { "X-Plan": "{{plan}}" }, "{{0}} on {{plan}}")],
    config: {
      ...userCohort("alice", { rules: "r-m", values: { "0": "1000", plan: "gold" } }),
      company_rules: { acme: [{ rules: "r-m", values: { plan: "platinum" } }] },
    },
    request: { path: "/limited", headers: [["X-User-Id", "alice"], ["X-Company-Id", "acme"]] },
    blocked: { by: "r-m", status: 429, body: "1000 on platinum\n", headers: { "x-plan": "platinum" } },
  },
  {
    name: "merge tags: a declared variable without a value becomes UNKNOWN",
    rules: [mergeRule("r-m", "user", ["0", "region"], { "X-Region": "{{region}}" }, { m: "{{0}} in {{region}}" })],
    config: userCohort("alice", { rules: "r-m", values: { "0": "7" } }),
    request: { path: "/limited", headers: [["X-User-Id", "alice"]] },
    blocked: { by: "r-m", status: 429, body: '{"m":"7 in UNKNOWN"}\n', headers: { "x-region": "UNKNOWN" } },
  },
  {
    name: "merge tags: undeclared placeholders stay as they are",
    rules: [mergeRule("r-m", "user", ["0"], { "X-Note": "{{9}}|{{ 0 }}|{{0}}" }, { m: "{{0}} {{1}} {{plan}}" })],
    config: userCohort("alice", { rules: "r-m", values: { "0": "A", "1": "B", plan: "gold" } }),
    request: { path: "/limited", headers: [["X-User-Id", "alice"]] },
    blocked: { by: "r-m", status: 429, body: '{"m":"A {{1}} {{plan}}"}\n', headers: { "x-note": "{{9}}|{{ 0 }}|A" } },
  },
  {
    name: "merge tags on a regex rule: no user, all UNKNOWN",
    rules: [mergeRule("r-m", "regex", ["0"], { "X-Q": "{{0}}" }, "quota {{0}}")],
    request: { path: "/limited" },
    blocked: { by: "r-m", status: 429, body: "quota UNKNOWN\n", headers: { "x-q": "UNKNOWN" } },
  },
  // --- several rules at once
  {
    name: "headers from all matched rules, first value per name wins (user before regex)",
    rules: [
      blocking("r-block", "regex", when(["request.route", "^/x"]), { response: { status: 429, headers: { "X-Limit": "regex", "X-Regex": "yes" }, body: { e: 1 } } }),
      { _id: "r-second", type: "regex", block: true, regex_config: when(["request.route", "^/"]), response: { status: 418, headers: { "x-limit": "second", "X-Second": "2" } } },
      { _id: "r-info", type: "user", block: false, regex_config: when(["request.route", "^/"]), response: { headers: { "x-limit": "user", "X-User-Only": "u" } } },
    ],
    config: userCohort("alice", "r-info"),
    request: { path: "/x", headers: [["X-User-Id", "alice"]] },
    blocked: {
      by: "r-block",
      status: 429,
      body: '{"e":1}\n',
      headers: { "x-limit": "user", "x-regex": "yes", "x-second": "2", "x-user-only": "u" },
    },
  },
  {
    name: "a non-blocking rule alone adds no headers to a normal response",
    rules: [
      { _id: "r-info", type: "regex", block: false, regex_config: when(["request.route", "^/"]), response: { status: 200, headers: { "X-Info": "1" } } },
      blocking("r-other", "regex", when(["request.route", "^/never$"])),
    ],
    request: { path: "/x" },
    absent: ["x-info"],
  },
  {
    name: "a rule without regex_config blocks every request",
    rules: [{ _id: "r-all", type: "regex", block: true, response: { status: 503, headers: { "Retry-After": "120" }, body: "maintenance" } }],
    request: { method: "PUT", path: "/anything/at/all" },
    blocked: { by: "r-all", status: 503, body: "maintenance\n", headers: { "retry-after": "120" } },
  },
  {
    name: "a rule's own Content-Type replaces the JSON default",
    rules: [blocking("r-ct", "regex", when(["request.route", "^/x"]), {
      response: { status: 403, headers: { "Content-Type": "application/problem+json" }, body: { title: "Forbidden" } },
    })],
    request: { path: "/x" },
    blocked: { by: "r-ct", status: 403, body: '{"title":"Forbidden"}\n', headers: { "content-type": "application/problem+json" } },
  },
  {
    name: "a blocking rule without a body answers with an empty body",
    rules: [blocking("r-empty", "regex", when(["request.route", "^/x"]), { response: { status: 401, headers: { "WWW-Authenticate": "Bearer" } } })],
    request: { path: "/x" },
    blocked: { by: "r-empty", status: 401, body: "", headers: { "www-authenticate": "Bearer", "content-type": undefined } },
    event: (e) => assert.equal(e.response.body, undefined),
  },
  {
    name: "block:true without a usable status does not block",
    rules: [{ _id: "r-nostatus", type: "regex", block: true, regex_config: when(["request.route", "^/"]), response: { body: { e: 1 } } }],
    request: { path: "/x" },
  },
  {
    name: "response.status conditions never match in the request phase",
    rules: [blocking("r-status", "regex", when(["response.status", "^200$"]))],
    request: { path: "/x" },
  },
];

describe("governance rules", () => {
  for (const c of cases) {
    it(c.name, async () => {
      const s = await scenario({ config: c.config, rules: c.rules, filter: c.filter });
      const r = await s.send(c.request);
      assert.equal(r.trapped, false, "no trap");
      const b = c.blocked;
      if (b) {
        assert.equal(r.status, b.status, "rule status");
        assert.equal(r.local, true, "answered by the filter");
        assert.equal(r.upstreamCalled, false, "upstream not called");
        assert.equal(dec(r.body), b.body);
        for (const [k, v] of Object.entries(b.headers ?? {})) assert.equal(header(r.headers, k), v, `client header ${k}`);
      } else {
        assert.equal(r.status, 200);
        assert.equal(r.upstreamCalled, true, "upstream called");
        assert.equal(dec(r.body), OK_BODY);
        assert.equal(s.upstreamSeen.length, 1);
        const sent = c.request.body;
        if (sent !== undefined) assert.deepEqual(s.upstreamSeen[0].body, typeof sent === "string" ? enc(sent) : sent, "upstream got the body");
      }
      for (const k of c.absent ?? []) assert.equal(header(r.headers, k), undefined, `no ${k} header`);

      await s.flush(FLUSH_MS, () => s.eventsFor(r.id).length > 0);
      const events = s.eventsFor(r.id);
      assert.equal(events.length, 1, "exactly one event");
      const e = events[0];
      assert.equal(e.weight, 1);
      assert.equal(e.blocked_by, b?.by);
      assert.equal(e.response.status, b?.status ?? 200);
      if (b) {
        for (const [k, v] of Object.entries(b.headers ?? {})) assert.equal(e.response.headers[k], v, `event header ${k}`);
        if (e.response.transfer_encoding === "json") assert.deepEqual(e.response.body, JSON.parse(b.body));
      } else {
        assert.deepEqual(e.response.body, { ok: true });
      }
      c.event?.(e);
      assert.equal(s.crashes(), 0);
      assert.deepEqual(s.problems(), []);
    });
  }
});

const userRuleSetup = () => ({
  rules: [blocking("r-user", "user", when(["request.route", "^/"]))],
  config: userCohort("alice", "r-user"),
});
const as = (user: string): Req => ({ path: "/x", headers: [["X-User-Id", user]] });

describe("fetching config and rules", () => {
  it("before the first fetch nothing is blocked and everything is kept", { skip: emulatorOnly("needs the virtual clock: a request before the first fetch") }, async () => {
    const s = await scenario({ config: { sample_rate: 0 }, rules: [blocking("r-all", "regex", null)], fetchMs: 0 });
    const early = await s.send({ path: "/early" });
    assert.equal(early.status, 200);
    assert.equal(early.upstreamCalled, true);
    await s.host.advance(FETCH_MS);
    const late = await s.send({ path: "/late" });
    assert.equal(late.status, 403, "blocked once config and rules are in");
    assert.equal(late.upstreamCalled, false);
    await s.flush(FLUSH_MS, () => s.eventsFor(early.id).length > 0);
    assert.equal(s.eventsFor(early.id).length, 1, "the early event is kept");
    assert.equal(s.eventsFor(early.id)[0].weight, 1);
    assert.equal(s.eventsFor(late.id).length, 0, "sample_rate 0 applies after the fetch");
  });

  it("rules are not applied while there is no config (cohorts unknown)", async () => {
    const s = await scenario({ rules: [blocking("r-all", "regex", null)], overrides: { "/v1/config": { status: 503, body: "{}" } } });
    const r = await s.send({ path: "/x" });
    assert.equal(r.status, 200);
    assert.ok(s.problems().some((l) => /cannot fetch sampling config.*HTTP 503.*sampling everything/.test(l)), s.problems().join("\n"));
  });

  const malformedConfigs: Array<[string, string]> = [
    ["truncated JSON", '{"sample_rate": 0, "user_rules": {'],
    ["an array", "[1, 2, 3]"],
    ["a JSON string", '"sample_rate"'],
  ];
  for (const [what, body] of malformedConfigs) {
    it(`malformed config (${what}) before any good copy: warning, everything kept, no rules, no trap`, async () => {
      const s = await scenario({ rules: [blocking("r-all", "regex", null)], overrides: { "/v1/config": { status: 200, body } } });
      const r = await s.send({ path: "/x" });
      assert.equal(r.status, 200);
      assert.equal(r.upstreamCalled, true);
      await s.flush(FLUSH_MS, () => s.eventsFor(r.id).length > 0);
      assert.equal(s.eventsFor(r.id).length, 1);
      assert.equal(s.eventsFor(r.id)[0].weight, 1);
      assert.equal(s.crashes(), 0);
      assert.ok(s.problems().some((l) => /\[warn\] moesif: cannot fetch sampling config/.test(l)), s.problems().join("\n"));
    });
  }

  const malformedRules: Array<[string, string]> = [
    ["truncated JSON", '[{"_id": "r1", "type": "regex", "block": true'],
    ["an object", '{"rules": []}'],
    ["empty", ""],
  ];
  for (const [what, body] of malformedRules) {
    it(`malformed rules (${what}): warning, nothing blocked, recovers on the retry`, async () => {
      const s = await scenario({ rules: [blocking("r-all", "regex", null)], overrides: { "/v1/rules": { status: 200, body } } });
      const r = await s.send({ path: "/x" });
      assert.equal(r.status, 200);
      assert.ok(s.problems().some((l) => /\[warn\] moesif: cannot fetch governance rules/.test(l)), s.problems().join("\n"));
      s.override("/v1/rules", null);
      // The failed fetch is retried 10 s later.
      assert.ok(await s.eventually(11_000, async () => (await s.send({ path: "/x" })).status === 403), "blocked after the retry");
      assert.equal(s.crashes(), 0);
    });
  }

  it("a malformed rules document after a good one keeps the good one", async () => {
    const s = await scenario({ rules: [blocking("r-a", "regex", when(["request.route", "^/a$"]))] });
    s.override("/v1/rules", { status: 200, body: "[{" });
    s.collector.setRules([blocking("r-b", "regex", when(["request.route", "^/b$"]))]); // a new tag on the next batch response
    assert.equal((await s.send({ path: "/a" })).status, 403, "the event whose batch response brings the new tag");
    const warned = () => s.problems().some((l) => /cannot fetch governance rules.*keeping the last good copy/.test(l));
    assert.ok(await s.eventually(FLUSH_MS + FETCH_MS, warned), s.problems().join("\n"));
    assert.equal((await s.send({ path: "/a" })).status, 403, "old rules still apply");
    assert.equal((await s.send({ path: "/b" })).status, 200);
  });

  it("a failing or malformed config refresh keeps the last good copy", { skip: emulatorOnly("needs the virtual clock: the 60 s config refresh") }, async () => {
    const s = await scenario({ ...userRuleSetup(), config: { ...userCohort("alice", "r-user"), sample_rate: 100 } });
    assert.equal((await s.send(as("alice"))).status, 403);
    s.override("/v1/config", { status: 500, body: '{"sample_rate": 0}' });
    await s.flush(61_000);
    assert.equal((await s.send(as("alice"))).status, 403, "cohort kept after HTTP 500");
    s.override("/v1/config", { status: 200, body: '{"sample_rate": 0, "user_rules": {' });
    await s.flush(11_000);
    const r = await s.send(as("alice"));
    assert.equal(r.status, 403, "cohort kept after a malformed document");
    const kept = await s.send(as("bob"));
    assert.equal(kept.status, 200);
    s.override("/v1/config", null);
    await s.flush();
    assert.equal(s.eventsFor(kept.id).length, 1, "sample_rate 0 from the bad documents never applied");
    assert.ok(s.problems().some((l) => /cannot fetch sampling config.*HTTP 500.*keeping the last good copy/.test(l)), s.problems().join("\n"));
    assert.equal(s.crashes(), 0);
  });

  it("collector down: rules keep applying from the last good copy, then a new config is picked up", { skip: emulatorOnly("needs the virtual clock: the 60 s config refresh") }, async () => {
    const s = await scenario(userRuleSetup());
    assert.equal((await s.send(as("alice"))).status, 403);
    const port = Number(new URL(s.collector.url).port);
    await s.collector.stop();
    await s.flush(61_000); // the periodic config refresh fails
    assert.equal((await s.send(as("alice"))).status, 403, "still blocked while the collector is down");
    assert.equal((await s.send(as("bob"))).status, 200);
    assert.ok(s.problems().some((l) => /cannot fetch sampling config.*keeping the last good copy/.test(l)), s.problems().join("\n"));
    const back = new Collector({ port, quiet: true });
    await back.start();
    cleanups.push(() => back.stop());
    back.setConfig({ ...BASE_APP_CONFIG, ...userCohort("bob", "r-user") });
    back.setRules(userRuleSetup().rules);
    await s.flush(11_000); // the retry after a failed fetch
    assert.equal((await s.send(as("bob"))).status, 403, "the new cohort applies");
    assert.equal((await s.send(as("alice"))).status, 200);
    assert.equal(s.crashes(), 0);
  });

  it("a new rules tag on a batch response triggers a rules refetch", { skip: emulatorOnly("needs the virtual clock: a 20 s flush interval, and the refetch time is checked") }, async () => {
    // A long flush interval: after the first batch (sent at once), the next waits 20 s.
    const s = await scenario({ rules: [blocking("r-a", "regex", when(["request.route", "^/a$"]))], filter: { flush_interval_ms: 20_000 } });
    assert.equal((await s.send({ path: "/a" })).status, 403);
    assert.equal((await s.send({ path: "/b" })).status, 200);
    await s.host.advance(500);
    assert.equal(s.collector.batches.length, 1, "first batch out, with the old tag");
    s.collector.setRules([blocking("r-b", "regex", when(["request.route", "^/b$"]))]);
    await s.flush(5000);
    assert.equal(s.collector.batches.length, 1, "no batch response yet");
    assert.equal((await s.send({ path: "/b" })).status, 200, "unchanged until a batch response tells");
    await s.flush(16_000); // the next batch; its response carries the new tag
    assert.equal(s.collector.batches.length, 2, "a second batch went out");
    await s.host.advance(FETCH_MS);
    assert.ok((s.host as KongWasmHost).now() - Date.UTC(2026, 0, 1) < 30_000, "well before the 60 s refresh");
    const b = await s.send({ path: "/b" });
    assert.equal(b.status, 403);
    assert.equal((await s.send({ path: "/a" })).status, 200);
    await s.flush(21_000);
    assert.equal(s.eventsFor(b.id)[0]?.blocked_by, "r-b");
  });

  it("a new config etag on a batch response triggers a config refetch within a tick", async () => {
    const s = await scenario(userRuleSetup());
    const alice = await s.send(as("alice"));
    assert.equal(alice.status, 403);
    await s.flush(FLUSH_MS, () => s.eventsFor(alice.id).length > 0); // its batch response carries the old etag
    s.collector.setConfig({ ...BASE_APP_CONFIG, ...userCohort("bob", "r-user") });
    assert.equal((await s.send(as("bob"))).status, 200, "old cohort until told");
    const before = s.collector.batches.length;
    assert.ok(await s.eventually(4000, () => s.collector.batches.length > before, 100), "a batch went out");
    // The next tick fetches; on the emulator the answer arrives within the same 200 ms.
    assert.ok(await s.eventually(200, async () => (await s.send(as("bob"))).status === 403), "new cohort applies");
    assert.equal((await s.send(as("alice"))).status, 200);
  });
});

interface SampleGroup {
  n: number;
  request: Req;
  /** Bounds on the fraction of events delivered. */
  kept: [number, number];
  weight?: number;
}

interface SampleCase {
  name: string;
  config: Record<string, unknown>;
  groups: SampleGroup[];
}

const health = { conditions: [{ path: "request.route", value: "^/health(/|$)" }], sample_rate: 0 };
const reports = { conditions: [{ path: "request.route", value: "^/reports" }], sample_rate: 20 };

const samplingCases: SampleCase[] = [
  {
    name: "sample_rate 50 over 2,000 requests: roughly half delivered, weight 2",
    config: { sample_rate: 50 },
    groups: [{ n: 2000, request: { path: "/x" }, kept: [0.4, 0.6], weight: 2 }],
  },
  {
    name: "sample_rate 100: everything delivered with weight 1",
    config: { sample_rate: 100 },
    groups: [{ n: 100, request: { path: "/x" }, kept: [1, 1], weight: 1 }],
  },
  {
    name: "sample_rate 0: nothing delivered",
    config: { sample_rate: 0 },
    groups: [{ n: 100, request: { path: "/x" }, kept: [0, 0] }],
  },
  {
    name: "user_sample_rate 0 for one user: none of that user's events",
    config: { sample_rate: 100, user_sample_rate: { mallory: 0 } },
    groups: [
      { n: 100, request: as("mallory"), kept: [0, 0] },
      { n: 100, request: as("alice"), kept: [1, 1], weight: 1 },
    ],
  },
  {
    name: "regex sample rate: /health at 0, other routes at sample_rate",
    config: { sample_rate: 100, regex_config: [health] },
    groups: [
      { n: 100, request: { path: "/health" }, kept: [0, 0] },
      { n: 100, request: { path: "/healthy" }, kept: [1, 1], weight: 1 },
    ],
  },
  {
    name: "minimum of user 50 and regex 20 is 20 (weight 5); user alone 50 (weight 2)",
    config: { sample_rate: 100, user_sample_rate: { alice: 50 }, regex_config: [reports] },
    groups: [
      { n: 600, request: { path: "/reports/q1", headers: [["X-User-Id", "alice"]] }, kept: [0.1, 0.3], weight: 5 },
      { n: 600, request: as("alice"), kept: [0.4, 0.6], weight: 2 },
    ],
  },
  {
    name: "company rate 25 beats sample_rate 100 (weight 4)",
    config: { sample_rate: 100, company_sample_rate: { acme: 25 } },
    groups: [{ n: 800, request: { path: "/x", headers: [["X-Company-Id", "acme"]] }, kept: [0.15, 0.35], weight: 4 }],
  },
  {
    name: "the first matching regex entry wins; a user rate above it does not raise it",
    config: { sample_rate: 10, user_sample_rate: { alice: 100 }, regex_config: [health, { ...reports, sample_rate: 100 }] },
    groups: [
      { n: 100, request: { path: "/health", headers: [["X-User-Id", "alice"]] }, kept: [0, 0] },
      { n: 100, request: { path: "/reports" }, kept: [1, 1], weight: 1 },
    ],
  },
  {
    name: "fractional rates are floored: 33.9 keeps about a third with weight 3",
    config: { sample_rate: 33.9 },
    groups: [{ n: 900, request: { path: "/x" }, kept: [0.23, 0.43], weight: 3 }],
  },
  {
    name: "blocked requests are sampled like the others",
    config: { sample_rate: 0 },
    groups: [{ n: 50, request: { path: "/blocked" }, kept: [0, 0] }],
  },
];

describe("sampling", () => {
  for (const c of samplingCases) {
    it(c.name, async () => {
      const s = await scenario({
        config: c.config,
        rules: [blocking("r-blocked", "regex", when(["request.route", "^/blocked$"]))],
        filter: { batch_size: 500 },
      });
      const ids: string[][] = [];
      for (const g of c.groups) {
        const mine: string[] = [];
        for (let i = 0; i < g.n; i++) {
          const r = await s.send(g.request);
          assert.equal(r.status, g.request.path === "/blocked" ? 403 : 200);
          mine.push(r.id);
        }
        ids.push(mine);
        await s.host.advance(100); // a tick in between keeps the queue short
      }
      await s.flush(5000);
      const delivered = new Map<string, Event>();
      for (const e of s.collector.events as Event[]) {
        assert.ok(!delivered.has(e.transaction_id), `duplicate ${e.transaction_id}`);
        delivered.set(e.transaction_id, e);
      }
      c.groups.forEach((g, gi) => {
        const kept = ids[gi].filter((id) => delivered.has(id));
        const frac = kept.length / g.n;
        assert.ok(frac >= g.kept[0] && frac <= g.kept[1], `group ${gi}: kept ${kept.length}/${g.n}, want ${g.kept[0]}–${g.kept[1]}`);
        if (g.weight !== undefined) for (const id of kept) assert.equal(delivered.get(id).weight, g.weight, `weight of ${id}`);
      });
      assert.equal(delivered.size, c.groups.reduce((sum, g, gi) => sum + ids[gi].filter((id) => delivered.has(id)).length, 0));
      assert.deepEqual(s.problems(), []);
      assert.equal(s.crashes(), 0);
    });
  }
});
