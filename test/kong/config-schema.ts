// Loads moesif.meta.json's config_schema and validates configs with ajv 8. Kong validates
// with a draft-04 validator; the schema only uses keywords that mean the same in draft-04
// and draft-07 (schema.test.ts checks that), so ajv's default draft-07 mode is equivalent
// once `$schema` is removed.
import { readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { Ajv } from "ajv";
import type { ErrorObject, ValidateFunction } from "ajv";

export const ROOT = fileURLToPath(new URL("../../", import.meta.url));
export const META_PATH = ROOT + "moesif.meta.json";
export const DRAFT_04 = "http://json-schema.org/draft-04/schema#";

export type Json = null | boolean | number | string | Json[] | { [key: string]: Json };
export type SchemaNode = { [key: string]: Json };

export function loadMeta(): { config_schema: SchemaNode } & { [key: string]: Json } {
  return JSON.parse(readFileSync(META_PATH, "utf8"));
}

export function loadConfigSchema(): SchemaNode {
  return loadMeta().config_schema;
}

export function newAjv(): Ajv {
  // strict: unknown keywords or ambiguous schemas are errors, not silently ignored.
  return new Ajv({ strict: true, allowUnionTypes: true, allErrors: true });
}

export function compileConfigSchema(schema: SchemaNode = loadConfigSchema()): ValidateFunction {
  const copy: SchemaNode = { ...schema };
  delete copy["$schema"];
  return newAjv().compile(copy);
}

// Top-level config field an ajv error is about; "config" when it concerns the whole value
// (the same name the filter uses in its error line for a non-object config).
export function errorField(e: ErrorObject): string {
  if (e.keyword === "required") return String((e.params as { missingProperty: string }).missingProperty);
  const first = e.instancePath.split("/")[1];
  return first === undefined || first === "" ? "config" : first.replace(/~1/g, "/").replace(/~0/g, "~");
}

export function errorFields(validate: ValidateFunction): string[] {
  return [...new Set((validate.errors ?? []).map(errorField))].sort();
}
