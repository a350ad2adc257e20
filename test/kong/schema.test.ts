// moesif.meta.json: Kong validates filter configs with its config_schema (draft-04) at the
// Admin API. These tests pin the schema to SPEC §3 and to the shared config fixtures that
// the filter's own configuration tests also use.
import { test } from "node:test";
import assert from "node:assert/strict";
import { readdirSync, readFileSync } from "node:fs";
import {
  DRAFT_04, ROOT, compileConfigSchema, errorFields, loadConfigSchema, loadMeta, newAjv,
  type Json, type SchemaNode,
} from "./config-schema.ts";

const FIXTURES = ROOT + "test/fixtures/configs/";

// SPEC §3: every option of the Lua plugin plus its 2.1 extras.
const SPEC_OPTIONS = [
  "application_id", "api_endpoint", "timeout", "connect_timeout", "send_timeout", "keepalive",
  "api_version", "disable_capture_request_body", "disable_capture_response_body",
  "request_header_masks", "request_body_masks", "response_header_masks", "response_body_masks",
  "request_query_masks", "batch_size", "user_id_header", "company_id_header",
  "authorization_header_name", "authorization_user_id_field", "authorization_company_id_field",
  "disable_gzip_payload_decompression", "max_callback_time_spent", "request_max_body_size_limit",
  "response_max_body_size_limit", "event_queue_size", "debug", "request_masks", "response_masks",
  "disable_transaction_id", "enable_compression",
];
// Options this filter adds (SPEC §3 "New options are allowed"), each with a documented default.
const NEW_OPTIONS = [
  "flush_interval_ms", "max_retry_time_ms", "queue_max_bytes", "enable_metrics",
  "log_summary_interval_ms", "kv_namespace", "batch_max_bytes",
];
// Defaults: SPEC §3 (Lua README, Kong 3.x column) and the new options.
const EXPECTED_DEFAULTS: { [k: string]: Json } = {
  api_endpoint: "https://api.moesif.net", connect_timeout: 1000, send_timeout: 2000,
  keepalive: 5000, api_version: "1.0", batch_size: 200, authorization_header_name: "authorization",
  authorization_user_id_field: "sub", max_callback_time_spent: 750,
  request_max_body_size_limit: 100000, response_max_body_size_limit: 100000,
  event_queue_size: 100000,
  disable_capture_request_body: false, disable_capture_response_body: false,
  disable_gzip_payload_decompression: false, debug: false, disable_transaction_id: false,
  enable_compression: false,
  request_header_masks: [], request_body_masks: [], response_header_masks: [],
  response_body_masks: [], request_query_masks: [], request_masks: [], response_masks: [],
  flush_interval_ms: 1000, max_retry_time_ms: 300000, queue_max_bytes: 8388608,
  enable_metrics: false, log_summary_interval_ms: 60000, kv_namespace: "moesif", batch_max_bytes: 262144,
};
// Options without a default: absent means "not used" (timeout is ignored altogether).
const NO_DEFAULT = ["application_id", "timeout", "user_id_header", "company_id_header",
  "authorization_company_id_field"];

// Keywords whose meaning is identical in draft-04 (Kong) and draft-07 (ajv 8 default).
const PORTABLE_KEYWORDS = new Set(["$schema", "title", "description", "type", "properties",
  "required", "additionalProperties", "items", "minimum", "maximum", "minLength", "maxLength",
  "pattern", "default"]);
const DRAFT_04_TYPES = new Set(["array", "boolean", "integer", "null", "number", "object", "string"]);

const schema = loadConfigSchema();
const properties = schema.properties as { [k: string]: SchemaNode };

function readJson(path: string): Json {
  return JSON.parse(readFileSync(path, "utf8"));
}

function fixtureFiles(dir: string): string[] {
  return readdirSync(FIXTURES + dir).filter((f) => f.endsWith(".json") && f !== "EXPECTED.json").sort();
}

function checkPortable(node: SchemaNode, path: string, isRoot: boolean): void {
  for (const key of Object.keys(node)) {
    assert.ok(PORTABLE_KEYWORDS.has(key), `${path}: keyword ${key} is not portable between draft-04 and draft-07`);
  }
  if (!isRoot) assert.equal(node["$schema"], undefined, `${path}: $schema only at the root`);
  const type = node.type;
  const types = Array.isArray(type) ? type : [type];
  assert.ok(types.length > 0, `${path}: type required`);
  for (const t of types) assert.ok(DRAFT_04_TYPES.has(t as string), `${path}: bad type ${String(t)}`);
  for (const k of ["minimum", "maximum"]) {
    if (k in node) assert.equal(typeof node[k], "number", `${path}.${k}`);
  }
  for (const k of ["minLength", "maxLength"]) {
    if (k in node) assert.ok(Number.isInteger(node[k]) && (node[k] as number) >= 0, `${path}.${k}`);
  }
  if ("pattern" in node) assert.doesNotThrow(() => new RegExp(node.pattern as string), `${path}.pattern`);
  if ("additionalProperties" in node) assert.equal(typeof node.additionalProperties, "boolean", `${path}.additionalProperties`);
  if ("required" in node) {
    const req = node.required as string[];
    // draft-04's metaschema requires a non-empty array of unique strings.
    assert.ok(Array.isArray(req) && req.length > 0 && new Set(req).size === req.length, `${path}.required`);
    for (const r of req) assert.ok(r in (node.properties as object), `${path}: required ${r} is not a property`);
  }
  if ("properties" in node) {
    for (const [k, v] of Object.entries(node.properties as { [k: string]: SchemaNode })) checkPortable(v, `${path}.${k}`, false);
  }
  if ("items" in node) {
    assert.ok(node.items !== null && typeof node.items === "object" && !Array.isArray(node.items), `${path}.items`);
    checkPortable(node.items as SchemaNode, `${path}[]`, false);
  }
}

test("moesif.meta.json has the shape Kong expects", () => {
  const meta = loadMeta();
  for (const key of Object.keys(meta)) assert.ok(key === "config_schema" || key === "metrics", `unexpected meta key ${key}`);
  assert.equal(schema["$schema"], DRAFT_04);
  assert.equal(schema.type, "object");
  assert.deepEqual(schema.required, ["application_id"]);
  // SPEC §3: unknown fields are a warning in the filter, so Kong must not reject them.
  assert.equal(schema.additionalProperties, true);
});

test("config_schema uses only keywords that mean the same in draft-04 and draft-07", () => {
  checkPortable(schema, "config_schema", true);
});

test("config_schema compiles under ajv 8 strict mode", () => {
  assert.doesNotThrow(() => compileConfigSchema(schema));
});

test("every SPEC §3 option and every new option is in the schema, and nothing else", () => {
  const expected = [...SPEC_OPTIONS, ...NEW_OPTIONS].sort();
  assert.deepEqual(Object.keys(properties).sort(), expected);
  for (const name of expected) {
    const p = properties[name];
    assert.ok(typeof p.description === "string" && p.description.length > 10, `${name}: description`);
  }
});

test("defaults match SPEC §3 and are valid values of their own option", () => {
  const ajv = newAjv();
  for (const [name, p] of Object.entries(properties)) {
    if (NO_DEFAULT.includes(name)) {
      assert.equal(p.default, undefined, `${name} has no default`);
      continue;
    }
    assert.ok(name in EXPECTED_DEFAULTS, `${name}: default not listed in this test`);
    assert.deepEqual(p.default, EXPECTED_DEFAULTS[name], `${name} default`);
    const { default: _d, ...rest } = p;
    assert.ok(ajv.validate(rest, p.default), `${name}: default ${JSON.stringify(p.default)} violates its own schema`);
  }
});

test("the defaults fixture spells out exactly the documented defaults", () => {
  const fixture = readJson(FIXTURES + "valid/defaults.json") as { [k: string]: Json };
  const { application_id: _id, ...rest } = fixture;
  assert.deepEqual(rest, EXPECTED_DEFAULTS);
});

test("every valid fixture passes config_schema", () => {
  const validate = compileConfigSchema(schema);
  const files = fixtureFiles("valid");
  assert.ok(files.length >= 10, `only ${files.length} valid fixtures`);
  for (const f of files) {
    const ok = validate(readJson(FIXTURES + "valid/" + f));
    assert.ok(ok, `${f}: ${JSON.stringify(validate.errors)}`);
  }
});

test("every invalid fixture fails config_schema, naming exactly the expected field", () => {
  const validate = compileConfigSchema(schema);
  const expected = readJson(FIXTURES + "invalid/EXPECTED.json") as { [file: string]: string };
  const files = fixtureFiles("invalid");
  assert.ok(files.length >= 12, `only ${files.length} invalid fixtures`);
  assert.deepEqual(Object.keys(expected).sort(), files, "EXPECTED.json lists every invalid fixture and nothing else");
  for (const f of files) {
    const ok = validate(readJson(FIXTURES + "invalid/" + f));
    assert.equal(ok, false, `${f} should be rejected`);
    assert.deepEqual(errorFields(validate), [expected[f]], `${f}: ${JSON.stringify(validate.errors)}`);
  }
});

test("valid fixtures together cover every option, both endpoint schemes and the deprecated aliases", () => {
  const seen = new Set<string>();
  const endpoints: string[] = [];
  for (const f of fixtureFiles("valid")) {
    const cfg = readJson(FIXTURES + "valid/" + f) as { [k: string]: Json };
    for (const k of Object.keys(cfg)) seen.add(k);
    if (typeof cfg.api_endpoint === "string") endpoints.push(cfg.api_endpoint);
  }
  for (const name of [...SPEC_OPTIONS, ...NEW_OPTIONS]) assert.ok(seen.has(name), `no valid fixture sets ${name}`);
  assert.ok(endpoints.some((e) => e.startsWith("http://")), "an http endpoint");
  assert.ok(endpoints.some((e) => e.startsWith("https://")), "an https endpoint");
});
