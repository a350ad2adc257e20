// Config fixtures through the compiled filter (SPEC §3): every valid config configures the
// filter without an error and it logs traffic; every invalid one gives exactly one error
// line naming the field, and the filter stays inert (requests pass untouched, nothing is
// dispatched) without trapping. The moesif configs of kong-wasm.yaml configure cleanly,
// also in the cjson encoding Kong hands to filters (`\/` escapes, `{}` for empty arrays).

import { before, test } from "node:test";
import assert from "node:assert/strict";
import { readdirSync, readFileSync } from "node:fs";
import { parse } from "yaml";
import { FLUSH_MS, filterModule, header, req, resp, startFilter, type FilterHarness } from "./helpers/filter.ts";

const DIR = new URL("./fixtures/configs/", import.meta.url);
const ROOT = new URL("../", import.meta.url);
const VALID = readdirSync(new URL("valid/", DIR)).filter((f) => f.endsWith(".json")).sort();
const INVALID = readdirSync(new URL("invalid/", DIR)).filter((f) => f.endsWith(".json") && f !== "EXPECTED.json").sort();
const EXPECTED: Record<string, string> = JSON.parse(readFileSync(new URL("invalid/EXPECTED.json", DIR), "utf8"));

const filterLines = (h: FilterHarness, level: string): string[] =>
  h.host.logs.filter((l) => l.source === "filter" && l.level === level).map((l) => l.message);

/** Starts the filter with `text` and checks that it logs one request (and no error). */
async function expectActive(text: string, what: string): Promise<void> {
  const parsed = JSON.parse(text) as Record<string, unknown>;
  const h = await startFilter(text);
  try {
    assert.deepEqual(filterLines(h, "error"), [], `${what}: no error line`);
    assert.deepEqual(filterLines(h, "critical"), [], `${what}: no critical line`);
    const r = await h.host.request(req("GET", "/ping"), () => resp(200, [["Content-Type", "text/plain"]], "pong"));
    assert.equal(r.status, 200, what);
    assert.equal(r.trapped, false, what);
    const tx = header(r.headers, "x-moesif-transaction-id");
    if (parsed.disable_transaction_id === true) assert.equal(tx, undefined, what);
    else assert.ok(tx, `${what}: the active filter adds a transaction id`);
    // The event is sent by the time a batch is due: at once when the batch is full, else
    // after the flush interval.
    const flush = typeof parsed.flush_interval_ms === "number" && parsed.batch_size !== 1 ? parsed.flush_interval_ms : 1000;
    await h.host.advance(flush + FLUSH_MS);
    assert.equal(h.events.length, 1, `${what}: one event reaches the collector`);
    const batch = h.batches[0];
    assert.equal(header(batch.headers, "x-moesif-application-id"), String(parsed.application_id).trim(), what);
    const endpoint = new URL(typeof parsed.api_endpoint === "string" ? parsed.api_endpoint : "https://api.moesif.net");
    assert.equal(batch.path, `${endpoint.pathname.replace(/\/$/, "")}/v1/events/batch`, what);
    assert.equal(batch.scheme, endpoint.protocol.replace(":", ""), what);
    assert.deepEqual(filterLines(h, "error"), [], `${what}: no error line after traffic`);
    assert.equal(h.host.crashes.length, 0);
  } finally {
    await h.host.stop();
  }
}

before(async () => {
  await filterModule();
});

test("the fixture directories are complete: every invalid file has an expected field", () => {
  assert.ok(VALID.length >= 10, `${VALID.length} valid fixtures`);
  assert.deepEqual(INVALID, Object.keys(EXPECTED).sort());
});

for (const file of VALID) {
  test(`valid config ${file}: configures without error and logs traffic`, async () => {
    await expectActive(readFileSync(new URL(`valid/${file}`, DIR), "utf8"), file);
  });
}

for (const file of INVALID) {
  const field = EXPECTED[file];
  test(`invalid config ${file}: one error naming '${field}', then inert`, async () => {
    const h = await startFilter(readFileSync(new URL(`invalid/${file}`, DIR), "utf8"));
    try {
      const errors = filterLines(h, "error");
      assert.equal(errors.length, 1, `exactly one error line: ${JSON.stringify(errors)}`);
      if (field === "config") {
        // Not an object: the whole configuration is named, no field.
        assert.match(errors[0], /\bconfiguration\b/);
        assert.doesNotMatch(errors[0], /field '/);
      } else {
        assert.match(errors[0], new RegExp(`field '${field}'`));
      }
      for (let i = 0; i < 3; i++) {
        const r = await h.host.request(
          req("POST", `/inert/${i}`, [["Content-Type", "application/json"]], '{"a":1}'),
          () => resp(201, [["Content-Type", "application/json"]], '{"b":2}'),
        );
        assert.equal(r.trapped, false);
        assert.equal(r.status, 201);
        assert.equal(r.upstreamCalled, true);
        assert.equal(header(r.upstreamRequest!.headers, "x-moesif-transaction-id"), undefined, "request untouched");
        assert.equal(header(r.headers, "x-moesif-transaction-id"), undefined, "response untouched");
        assert.equal(new TextDecoder().decode(r.body), '{"b":2}');
      }
      await h.host.advance(70_000);
      assert.equal(h.batches.length, 0, "no events sent");
      assert.equal(h.otherDispatches.length, 0, "nothing else dispatched either");
      assert.equal(filterLines(h, "error").length, 1, "still exactly one error line");
      assert.equal(h.host.crashes.length, 0);
      assert.deepEqual(
        h.host.logs.filter((l) => l.source === "host" && (l.level === "error" || l.level === "critical")),
        [],
        "no engine errors (no trap)",
      );
    } finally {
      await h.host.stop();
    }
  });
}

// ------------------------------------------------------------------ kong-wasm.yaml

type Json = null | boolean | number | string | Json[] | { [k: string]: Json };

/** Configs of every entry named "moesif" under filter_chains[].filters or plugins, anywhere. */
function moesifConfigs(node: Json, where: string, out: Array<{ where: string; config: Json }>): void {
  if (Array.isArray(node)) {
    node.forEach((x, i) => moesifConfigs(x, `${where}[${i}]`, out));
    return;
  }
  if (node === null || typeof node !== "object") return;
  if (node.name === "moesif" && "config" in node && /(filters|plugins)\[\d+\]$/.test(where)) out.push({ where, config: node.config });
  for (const [k, v] of Object.entries(node)) moesifConfigs(v, `${where}.${k}`, out);
}

/** The YAML of kong-wasm.yaml plus its commented-out alternative (lines between "# >>>" and "# <<<"). */
function yamlDocuments(): Array<{ name: string; doc: Json }> {
  const text = readFileSync(new URL("kong-wasm.yaml", ROOT), "utf8");
  const docs = [{ name: "kong-wasm.yaml", doc: parse(text) as Json }];
  const lines = text.split("\n");
  const start = lines.findIndex((l) => l.startsWith("# >>>"));
  const end = lines.findIndex((l, i) => i > start && l.startsWith("# <<<"));
  if (start >= 0 && end > start) {
    const block = lines.slice(start + 1, end).map((l) => l.replace(/^# ?/, "")).join("\n");
    docs.push({ name: "kong-wasm.yaml (commented plugin form)", doc: parse(block) as Json });
  }
  return docs;
}

/** What Kong's cjson makes of a config object: `/` escaped, empty arrays as `{}`. */
function cjson(value: Json): string {
  return JSON.stringify(value).replace(/\//g, "\\/").replace(/\[\]/g, "{}");
}

test("the moesif configs in kong-wasm.yaml configure without errors (as written and as Kong encodes them)", async () => {
  const found: Array<{ where: string; config: Json }> = [];
  for (const { name, doc } of yamlDocuments()) moesifConfigs(doc, name, found);
  assert.ok(found.length >= 1, "kong-wasm.yaml configures the moesif filter");
  for (const { where, config } of found) {
    // Kong 3.4 takes the config as a JSON string and passes it as it is.
    const text = typeof config === "string" ? config : JSON.stringify(config);
    await expectActive(text, where);
    if (typeof config !== "string") await expectActive(cjson(config), `${where} (cjson)`);
  }
});
