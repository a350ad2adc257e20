// kong-wasm.yaml: the declarative config shipped for Kong 3.x, and compose/kong.yaml, the one
// docker-compose.yml loads. Every moesif filter config in them (filter_chains, and the
// commented Kong 3.9 plugin form) must pass moesif.meta.json.
import { test } from "node:test";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { parse } from "yaml";
import { ROOT, compileConfigSchema, type Json } from "./config-schema.ts";

const TEXT = readFileSync(ROOT + "kong-wasm.yaml", "utf8");
const COMPOSE_TEXT = readFileSync(ROOT + "compose/kong.yaml", "utf8");
const FILTER = "moesif";

type Obj = { [k: string]: Json };
type Found = { where: string; config: Json };

function asObj(v: Json | undefined): Obj | null {
  return v !== null && typeof v === "object" && !Array.isArray(v) ? v : null;
}

function list(v: Json | undefined): Obj[] {
  return Array.isArray(v) ? v.map((x) => asObj(x)).filter((x): x is Obj => x !== null) : [];
}

// Kong 3.4 only accepts string configs; Kong hands strings to the filter as they are.
function configValue(c: Json): Json {
  return typeof c === "string" ? JSON.parse(c) : c;
}

// Filter entries of filter_chains and plugin entries named moesif, at top level, under
// services and under their routes (the nestings Kong's declarative format allows).
function collect(doc: Obj): { filters: Found[]; plugins: Found[]; globalPlugins: number } {
  const filters: Found[] = [];
  const plugins: Found[] = [];
  const scan = (owner: Obj, where: string): void => {
    for (const chain of list(owner.filter_chains)) {
      const entries = list(chain.filters);
      assert.ok(entries.length >= 1, `${where}: a filter chain needs at least one filter`);
      for (const f of entries) {
        if (f.name === FILTER) filters.push({ where: `${where} chain ${String(chain.name)}`, config: configValue(f.config ?? null) });
      }
    }
    if (where !== "top level") {
      for (const p of list(owner.plugins)) {
        if (p.name === FILTER) plugins.push({ where, config: configValue(p.config ?? null) });
      }
    }
  };
  scan(doc, "top level");
  for (const svc of list(doc.services)) {
    assert.equal(typeof svc.url, "string", `service ${String(svc.name)} needs a url`);
    scan(svc, `service ${String(svc.name)}`);
    for (const route of list(svc.routes)) scan(route, `route ${String(route.name)}`);
  }
  const globalPlugins = list(doc.plugins).filter((p) => p.name === FILTER).length;
  return { filters, plugins, globalPlugins };
}

// The 3.9 alternative is kept commented out (both forms together would log twice); it sits
// between a line starting "# >>>" and a line "# <<<".
function commentedAlternative(): string {
  const lines = TEXT.split("\n");
  const start = lines.findIndex((l) => l.startsWith("# >>>"));
  const end = lines.findIndex((l, i) => i > start && l.startsWith("# <<<"));
  assert.ok(start >= 0 && end > start, "kong-wasm.yaml has a commented Kong 3.9 plugin block");
  const body = lines.slice(start + 1, end);
  for (const l of body) assert.ok(l.startsWith("# ") || l === "#", `not a commented line: ${l}`);
  return body.map((l) => l.slice(2)).join("\n");
}

for (const [file, text] of [["kong-wasm.yaml", TEXT], ["compose/kong.yaml", COMPOSE_TEXT]]) {
  test(`${file} is a Kong 3.x declarative config with a moesif filter chain`, () => {
    const doc = asObj(parse(text));
    assert.ok(doc !== null, "top level is a mapping");
    assert.equal(doc._format_version, "3.0");
    const { filters, plugins, globalPlugins } = collect(doc);
    assert.ok(filters.length >= 1, "at least one moesif filter in filter_chains");
    assert.equal(plugins.length, 0, "one form only: a filter chain (both forms would log every call twice)");
    assert.equal(globalPlugins, 0, "Kong has no global Wasm filter plugins");
  });
}

test("compose/kong.yaml's filter config passes moesif.meta.json", () => {
  const validate = compileConfigSchema();
  for (const f of collect(asObj(parse(COMPOSE_TEXT))!).filters) {
    assert.ok(validate(f.config), `${f.where}: ${JSON.stringify(validate.errors)}`);
  }
});

test("every moesif filter config in kong-wasm.yaml passes moesif.meta.json", () => {
  const validate = compileConfigSchema();
  const { filters } = collect(asObj(parse(TEXT))!);
  for (const f of filters) {
    assert.ok(validate(f.config), `${f.where}: ${JSON.stringify(validate.errors)}`);
    const cfg = asObj(f.config)!;
    assert.equal(cfg.application_id, "YOUR_MOESIF_APPLICATION_ID", `${f.where}: placeholder application id`);
  }
});

test("the commented Kong 3.9 plugin form is valid YAML, scoped, and passes moesif.meta.json", () => {
  const doc = asObj(parse(commentedAlternative()));
  assert.ok(doc !== null, "the commented block parses as a mapping");
  const validate = compileConfigSchema();
  const { plugins, globalPlugins } = collect(doc);
  assert.ok(plugins.length >= 1, "the block configures moesif as a plugin on a route or service");
  assert.equal(globalPlugins, 0, "Kong has no global Wasm filter plugins");
  for (const p of plugins) assert.ok(validate(p.config), `${p.where}: ${JSON.stringify(validate.errors)}`);
});
