// Governance rules from GET /v1/rules (reference/moesif.md §5), decided in the request phase.
// Behaves like the Lua plugin except for its bugs: real regexes, identified-company rules
// that work without debug, rule order = /v1/rules array order within each category (user,
// company, regex), a rule without regex_config matches every request instead of aborting
// the update, and malformed bodies only make body conditions fail. No rules apply before
// the first /v1/config (the cohorts come from it).

import { asciiLower, ByteBuf } from "../lib/bytes";
import { writeJsonString } from "../lib/json";
import { JsonType, JsonValue, parseJson, parseJsonBytes } from "../lib/json_value";
import { ParseCounts, RegexConfig, RequestFacts, parseRegexConfig } from "./rules";
import { AppConfig, CohortEntry, DOC_MAX_DEPTH, cohortEntry, presentId } from "./sampling";

/** Rules kept from one /v1/rules document; later entries are ignored. */
export const MAX_RULES: i32 = 1000;
/** Longest merge-tag variable name; `{{...}}` runs longer than this are never placeholders. */
const MAX_VAR_NAME: i32 = 64;

const TYPE_REGEX: i32 = 0;
const TYPE_USER: i32 = 1;
const TYPE_COMPANY: i32 = 2;

class Rule {
  id: string;
  type: i32;
  /** Only a rule with block:true and a usable response.status blocks. */
  block: bool = false;
  /** applied_to == "not_matching": applies to ids outside the cohort. */
  notMatching: bool = false;
  /** applied_to_unidentified: also applies, by regex alone, when the id is unknown. */
  unidentified: bool = false;
  regex: RegexConfig = new RegexConfig();
  /** Declared merge-tag variable names. */
  variables: Array<string> = [];
  status: i32 = 0;
  headerNames: Array<string> = [];
  headerValues: Array<string> = [];
  body: JsonValue | null = null;

  constructor(id: string, type: i32) {
    this.id = id;
    this.type = type;
  }
}

export class GovernanceRules {
  userRules: Array<Rule> = [];
  companyRules: Array<Rule> = [];
  regexRules: Array<Rule> = [];
  /** Rules that can block (nothing to decide when 0). */
  blockingCount: i32 = 0;
  /** Patterns that did not compile (their condition never matches). */
  invalidRegexCount: i32 = 0;
  /** Rules or entries ignored because of their shape or the MAX_RULES cap. */
  skippedCount: i32 = 0;
  /** Some rule tests `request.body.*`, so the request body is worth reading before deciding. */
  needsBody: bool = false;

  get count(): i32 {
    return this.userRules.length + this.companyRules.length + this.regexRules.length;
  }

  /** Null when the text is not a JSON array; malformed rules are skipped. */
  static parse(json: string): GovernanceRules | null {
    return GovernanceRules.fromJson(parseJson(json, DOC_MAX_DEPTH));
  }

  static parseBytes(body: Uint8Array): GovernanceRules | null {
    return GovernanceRules.fromJson(parseJsonBytes(body.dataStart, body.length, DOC_MAX_DEPTH));
  }

  private static fromJson(doc: JsonValue | null): GovernanceRules | null {
    if (doc === null || !doc.isArray()) return null;
    const rules = new GovernanceRules();
    const counts = new ParseCounts();
    const items = doc.items;
    for (let i = 0, n = items.length; i < n; i++) {
      const rule = rules.count < MAX_RULES ? parseRule(unchecked(items[i]), counts) : null;
      if (rule === null) {
        counts.skipped++;
        continue;
      }
      if (rule.type == TYPE_USER) rules.userRules.push(rule);
      else if (rule.type == TYPE_COMPANY) rules.companyRules.push(rule);
      else rules.regexRules.push(rule);
      if (rule.block) rules.blockingCount++;
      if (rule.regex.usesBody()) rules.needsBody = true;
    }
    rules.invalidRegexCount = counts.invalidRegexes;
    rules.skippedCount = counts.skipped;
    return rules;
  }
}

function parseRule(v: JsonValue, counts: ParseCounts): Rule | null {
  if (!v.isObject()) return null;
  const id = v.get("_id");
  const typeV = v.get("type");
  if (id === null || !id.isString() || id.str.length == 0 || typeV === null || !typeV.isString()) return null;
  const t = typeV.str;
  let type: i32;
  if (t == "regex") type = TYPE_REGEX;
  else if (t == "user") type = TYPE_USER;
  else if (t == "company") type = TYPE_COMPANY;
  else return null;
  const rule = new Rule(id.str, type);
  rule.notMatching = isString(v.get("applied_to"), "not_matching");
  rule.unidentified = isTrue(v.get("applied_to_unidentified"));
  rule.regex = parseRegexConfig(v.get("regex_config"), counts);

  const vars = v.get("variables");
  if (vars !== null && vars.isArray()) {
    for (let i = 0, n = vars.items.length; i < n; i++) {
      const name = unchecked(vars.items[i]).get("name");
      const text: string | null = name !== null ? name.toText() : null;
      if (text === null || text.length == 0 || text.length > MAX_VAR_NAME) counts.skipped++;
      else rule.variables.push(text);
    }
  }

  const response = v.get("response");
  if (response !== null && response.isObject()) {
    const status = response.get("status");
    if (status !== null && status.isNumber() && status.num >= 100 && status.num <= 599 && status.num == Math.floor(status.num)) {
      rule.status = <i32>status.num;
    }
    const headers = response.get("headers");
    if (headers !== null && headers.isObject()) {
      for (let i = 0, n = headers.keys.length; i < n; i++) {
        const name = unchecked(headers.keys[i]);
        const value = unchecked(headers.values[i]).toText();
        if (value === null || !isToken(name) || !isFieldValue(value)) {
          counts.skipped++;
          continue;
        }
        rule.headerNames.push(name);
        rule.headerValues.push(value);
      }
    }
    const body = response.get("body");
    if (body !== null && !body.isNull()) rule.body = body;
  }
  // A blocking rule without a usable status cannot answer the request: it stays non-blocking (fail-open).
  rule.block = isTrue(v.get("block")) && rule.status != 0;
  return rule;
}

function isTrue(v: JsonValue | null): bool {
  return v !== null && v.isBool() && v.bool;
}

function isString(v: JsonValue | null, s: string): bool {
  return v !== null && v.isString() && v.str == s;
}

/** RFC 9110 token: what a header name may contain. */
function isToken(s: string): bool {
  if (s.length == 0) return false;
  for (let i = 0, n = s.length; i < n; i++) {
    const c = s.charCodeAt(i);
    const ok =
      (c >= 0x30 && c <= 0x39) || (c >= 0x41 && c <= 0x5a) || (c >= 0x61 && c <= 0x7a) ||
      c == 0x21 || (c >= 0x23 && c <= 0x27) || c == 0x2a || c == 0x2b || c == 0x2d || c == 0x2e ||
      c == 0x5e || c == 0x5f || c == 0x60 || c == 0x7c || c == 0x7e;
    if (!ok) return false;
  }
  return true;
}

/** No CR, LF or NUL: a header value must not be able to start another header. */
function isFieldValue(s: string): bool {
  for (let i = 0, n = s.length; i < n; i++) {
    const c = s.charCodeAt(i);
    if (c == 0x0d || c == 0x0a || c == 0) return false;
  }
  return true;
}

/** A governance answer for the filter to send with send_local_response. */
export class BlockResponse {
  ruleId: string = "";
  status: i32 = 0;
  /** name, value, name, value, ... (first value per name, case-insensitively). */
  headers: Array<string> = [];
  /** JSON text for a JSON body (a content-type header is then present), the text itself for
   *  a string body, "" for none. */
  body: string = "";
}

// Rules that applied to the current request, in decision order (reused between requests).
const matched = new Array<Rule>();
const bodyBuf = new ByteBuf(256);

/**
 * Decides in the request phase; returns true and fills `out` when a blocking rule applies.
 * Without rules or without a config (no cohorts yet) nothing is blocked.
 */
export function govern(rules: GovernanceRules | null, cfg: AppConfig | null, facts: RequestFacts, out: BlockResponse): bool {
  if (rules === null || cfg === null || rules.blockingCount == 0) return false;
  const user = presentId(facts.userId);
  const company = presentId(facts.companyId);
  matched.length = 0;
  collect(rules.userRules, user, cfg.userRules, facts);
  collect(rules.companyRules, company, cfg.companyRules, facts);
  const regexRules = rules.regexRules;
  for (let i = 0, n = regexRules.length; i < n; i++) {
    const r = unchecked(regexRules[i]);
    if (r.regex.matches(facts)) matched.push(r);
  }

  let blocker: Rule | null = null;
  for (let i = 0, n = matched.length; i < n; i++) {
    if (unchecked(matched[i]).block) {
      blocker = unchecked(matched[i]);
      break;
    }
  }
  if (blocker === null) {
    matched.length = 0;
    return false;
  }

  out.ruleId = blocker.id;
  out.status = blocker.status;
  const headers = new Array<string>();
  const lowerNames = new Array<string>();
  for (let i = 0, n = matched.length; i < n; i++) {
    const r = unchecked(matched[i]);
    const ue = cohortEntry(cfg.userRules, user, r.id);
    const ce = cohortEntry(cfg.companyRules, company, r.id);
    for (let h = 0, nh = r.headerNames.length; h < nh; h++) {
      const name = unchecked(r.headerNames[h]);
      const lower = asciiLower(name);
      if (lowerNames.includes(lower)) continue;
      const value = substitute(unchecked(r.headerValues[h]), r.variables, ue, ce);
      if (!isFieldValue(value)) continue; // a merge value smuggling CR/LF drops the header
      lowerNames.push(lower);
      headers.push(name);
      headers.push(value);
    }
  }

  const body = blocker.body;
  out.body = "";
  if (body !== null) {
    const ue = cohortEntry(cfg.userRules, user, blocker.id);
    const ce = cohortEntry(cfg.companyRules, company, blocker.id);
    if (body.isString()) {
      out.body = substitute(body.str, blocker.variables, ue, ce);
    } else {
      bodyBuf.clear();
      render(body, blocker.variables, ue, ce, bodyBuf);
      out.body = bodyBuf.toString();
      if (bodyBuf.capacity > 65536) bodyBuf.shrinkTo(256);
      // As kong.response.exit does for a table body.
      if (!lowerNames.includes("content-type")) {
        headers.push("Content-Type");
        headers.push("application/json; charset=utf-8");
      }
    }
  }
  out.headers = headers;
  matched.length = 0;
  return true;
}

function collect(list: Array<Rule>, id: string | null, cohorts: Map<string, Array<CohortEntry>>, facts: RequestFacts): void {
  for (let i = 0, n = list.length; i < n; i++) {
    const r = unchecked(list[i]);
    if (id === null) {
      if (!r.unidentified) continue;
    } else {
      const inCohort = cohortEntry(cohorts, id, r.id) !== null;
      if (inCohort == r.notMatching) continue;
    }
    if (r.regex.matches(facts)) matched.push(r);
  }
}

/** Value of a declared variable: the company's value for the rule, else the user's, else "UNKNOWN". */
function mergeValue(name: string, ue: CohortEntry | null, ce: CohortEntry | null): string {
  if (ce !== null) {
    const v = ce.value(name);
    if (v !== null) return v;
  }
  if (ue !== null) {
    const v = ue.value(name);
    if (v !== null) return v;
  }
  return "UNKNOWN";
}

/** Replaces `{{name}}` for each declared variable name; other placeholders stay as they are. */
function substitute(s: string, vars: Array<string>, ue: CohortEntry | null, ce: CohortEntry | null): string {
  if (vars.length == 0) return s;
  let open = s.indexOf("{{");
  if (open < 0) return s;
  const n = s.length;
  const parts = new Array<string>();
  let from = 0;
  while (open >= 0) {
    // Look for "}}" only within a name's maximum length, so scanning stays linear.
    const limit = min(n - 1, open + 2 + MAX_VAR_NAME);
    let close = -1;
    for (let i = open + 2; i < limit; i++) {
      if (s.charCodeAt(i) == 0x7d && s.charCodeAt(i + 1) == 0x7d) {
        close = i;
        break;
      }
    }
    if (close > open + 2) {
      const name = s.substring(open + 2, close);
      if (vars.includes(name)) {
        parts.push(s.substring(from, open));
        parts.push(mergeValue(name, ue, ce));
        from = close + 2;
        open = s.indexOf("{{", from);
        continue;
      }
    }
    // Not a declared placeholder here; one may still start at the next brace ("{{{0}}").
    open = s.indexOf("{{", open + 1);
  }
  if (parts.length == 0) return s;
  parts.push(s.substring(from));
  return parts.join("");
}

/** Re-serializes a body value with merge tags substituted in its strings (not its keys). */
function render(v: JsonValue, vars: Array<string>, ue: CohortEntry | null, ce: CohortEntry | null, out: ByteBuf): void {
  const t = v.type;
  if (t == JsonType.String) {
    writeJsonString(out, substitute(v.str, vars, ue, ce));
  } else if (t == JsonType.Number) {
    out.str(v.raw);
  } else if (t == JsonType.Bool) {
    out.str(v.bool ? "true" : "false");
  } else if (t == JsonType.Null) {
    out.str("null");
  } else if (t == JsonType.Array) {
    out.byte(0x5b);
    for (let i = 0, n = v.items.length; i < n; i++) {
      if (i > 0) out.byte(0x2c);
      render(unchecked(v.items[i]), vars, ue, ce, out);
    }
    out.byte(0x5d);
  } else {
    out.byte(0x7b);
    for (let i = 0, n = v.keys.length; i < n; i++) {
      if (i > 0) out.byte(0x2c);
      writeJsonString(out, unchecked(v.keys[i]));
      out.byte(0x3a);
      render(unchecked(v.values[i]), vars, ue, ce, out);
    }
    out.byte(0x7d);
  }
}
