// Request facts and the `regex_config` conditions shared by sampling (/v1/config) and
// governance (/v1/rules), reference/moesif.md §4 and §5. Unlike the Lua plugin, values are
// real (JavaScript) regular expressions, compiled once at parse time; a condition whose
// pattern does not compile never matches. Nothing here traps on any input.

import { asciiLower } from "../lib/bytes";
import { JsonType, JsonValue, parseJsonBytes } from "../lib/json_value";
import { Regex } from "../lib/regex";
import { HeaderLookup } from "./headers";

/** Longer patterns are refused (counted as invalid): they would only cost compile time and memory. */
export const MAX_PATTERN_LENGTH: i32 = 2048;
/** Groups kept per regex_config and conditions per group; extra entries are ignored. */
export const MAX_GROUPS: i32 = 1000;
export const MAX_CONDITIONS: i32 = 64;
/** Nesting accepted in request bodies parsed for `request.body.*` conditions. */
const BODY_MAX_DEPTH: i32 = 64;

/** What a rule or regex sample rate can test. Filled by the filter per request. */
export class RequestFacts {
  verb: string = "";
  route: string = "/";
  ipAddress: string = "";
  /** -1 while unknown (request phase): `response.status` conditions then fail. */
  status: i32 = -1;
  userId: string | null = null;
  companyId: string | null = null;
  /** Request headers for `request.headers.<name>` conditions. */
  headers: HeaderLookup | null = null;
  contentType: string | null = null;
  /** Raw request body bytes when available; parsed lazily, at most once per body. */
  body: Uint8Array | null = null;

  // Views of `body`, valid while `body` and `contentType` are the ones they were made from,
  // so a reused RequestFacts never sees the previous request's body.
  private viewBody: Uint8Array | null = null;
  private viewType: string | null = null;
  private viewReady: bool = false;
  private json: JsonValue | null = null;
  private graphql: string | null = null;

  /** Value of `request.body.<field>`: a JSON body's scalar at the dotted path, or the raw
   *  body of an application/graphql request for `query`. Null when absent or malformed. */
  bodyField(field: string): string | null {
    this.prepareBody();
    if (this.graphql !== null) return field == "query" ? this.graphql : null;
    const json = this.json;
    if (json === null) return null;
    const v = json.path(field);
    return v === null ? null : v.toText();
  }

  private prepareBody(): void {
    const body = this.body;
    const type = this.contentType;
    if (this.viewReady && body === this.viewBody && type == this.viewType) return;
    this.viewReady = true;
    this.viewBody = body;
    this.viewType = type;
    this.json = null;
    this.graphql = null;
    if (body === null || type === null || body.length == 0) return;
    const t = asciiLower(type);
    // A plain GraphQL body is the query itself; any other *json* type is parsed (malformed → no fields).
    if (t.includes("application/graphql") && !t.includes("json")) {
      this.graphql = String.UTF8.decodeUnsafe(body.dataStart, <usize>body.length);
    } else if (t.includes("json")) {
      this.json = parseJsonBytes(body.dataStart, body.length, BODY_MAX_DEPTH);
    }
  }
}

// Condition subjects.
const F_NEVER: i32 = 0; // unknown path or unusable pattern
const F_VERB: i32 = 1;
const F_ROUTE: i32 = 2;
const F_IP: i32 = 3;
const F_STATUS: i32 = 4;
const F_HEADER: i32 = 5;
const F_BODY: i32 = 6;

/** Counters reported by the parsers so the caller can log them. */
export class ParseCounts {
  /** Patterns that did not compile, were too long or were not strings. */
  invalidRegexes: i32 = 0;
  /** Entries ignored because of their shape (wrong type, missing fields, over a cap). */
  skipped: i32 = 0;
}

class Condition {
  path: string;
  field: i32 = F_NEVER;
  /** Lowercased header name or dotted body path. */
  arg: string = "";
  regex: Regex | null = null;

  constructor(path: string) {
    this.path = path;
  }

  matches(facts: RequestFacts): bool {
    const regex = this.regex;
    if (regex === null) return false;
    const value = fieldValue(this.field, this.arg, facts);
    return value !== null && regex.test(value);
  }
}

function fieldValue(field: i32, arg: string, facts: RequestFacts): string | null {
  if (field == F_VERB) return facts.verb;
  if (field == F_ROUTE) return facts.route;
  if (field == F_IP) return facts.ipAddress;
  if (field == F_STATUS) return facts.status >= 0 ? facts.status.toString() : null;
  if (field == F_HEADER) {
    const h = facts.headers;
    return h === null ? null : h.get(arg);
  }
  if (field == F_BODY) return facts.bodyField(arg);
  return null;
}

const HEADERS_PREFIX = "request.headers.";
const BODY_PREFIX = "request.body.";

function classify(c: Condition): void {
  const p = c.path;
  if (p == "request.verb") c.field = F_VERB;
  else if (p == "request.route") c.field = F_ROUTE;
  else if (p == "request.ip_address" || p == "request.ip") c.field = F_IP; // request.ip: the Node SDK's name
  else if (p == "response.status") c.field = F_STATUS;
  else if (p.startsWith(HEADERS_PREFIX) && p.length > HEADERS_PREFIX.length) {
    c.field = F_HEADER;
    c.arg = asciiLower(p.substring(HEADERS_PREFIX.length));
  } else if (p.startsWith(BODY_PREFIX) && p.length > BODY_PREFIX.length) {
    c.field = F_BODY;
    c.arg = p.substring(BODY_PREFIX.length);
  }
}

/** One AND-group of conditions; `sampleRate` is used by /v1/config sampling entries only. */
export class ConditionGroup {
  conditions: Array<Condition> = [];
  sampleRate: i32 = -1;

  matches(facts: RequestFacts): bool {
    const cs = this.conditions;
    for (let i = 0, n = cs.length; i < n; i++) {
      if (!unchecked(cs[i]).matches(facts)) return false;
    }
    return true;
  }

  usesBody(): bool {
    const cs = this.conditions;
    for (let i = 0, n = cs.length; i < n; i++) {
      if (unchecked(cs[i]).field == F_BODY) return true;
    }
    return false;
  }
}

/** Parses `{"conditions": [{"path", "value"}, ...]}`; duplicate paths keep the last value, as Lua. */
export function parseGroup(v: JsonValue, counts: ParseCounts): ConditionGroup {
  const group = new ConditionGroup();
  const list = v.get("conditions");
  if (list === null || list.isNull()) return group; // no conditions: matches everything
  if (!list.isArray()) {
    group.conditions.push(new Condition(""));
    counts.skipped++;
    return group;
  }
  const items = list.items;
  for (let i = 0, n = items.length; i < n; i++) {
    const item = unchecked(items[i]);
    const pathV = item.get("path");
    if (pathV === null || !pathV.isString()) {
      // Kept as a never-matching condition so a broken entry cannot widen the group.
      group.conditions.push(new Condition(""));
      counts.skipped++;
      continue;
    }
    const c = new Condition(pathV.str);
    classify(c);
    c.regex = compileValue(item.get("value"), counts);
    replaceOrPush(group.conditions, c);
  }
  if (group.conditions.length > MAX_CONDITIONS) {
    // Over the cap the group is unusable rather than silently broader.
    group.conditions = [new Condition("")];
    counts.skipped++;
  }
  return group;
}

function replaceOrPush(cs: Array<Condition>, c: Condition): void {
  for (let i = 0, n = cs.length; i < n; i++) {
    if (unchecked(cs[i]).path == c.path) {
      cs[i] = c;
      return;
    }
  }
  cs.push(c);
}

function compileValue(v: JsonValue | null, counts: ParseCounts): Regex | null {
  let pattern: string | null = null;
  if (v !== null && (v.isString() || v.isNumber())) pattern = v.toText();
  if (pattern === null || pattern.length > MAX_PATTERN_LENGTH) {
    counts.invalidRegexes++;
    return null;
  }
  const r = Regex.compile(pattern);
  if (r === null) counts.invalidRegexes++;
  return r;
}

/** A rule's regex_config: an OR of AND-groups. */
export class RegexConfig {
  /** Missing, null or empty regex_config: every request matches. */
  matchAll: bool = true;
  groups: Array<ConditionGroup> = [];

  matches(facts: RequestFacts): bool {
    if (this.matchAll) return true;
    const gs = this.groups;
    for (let i = 0, n = gs.length; i < n; i++) {
      if (unchecked(gs[i]).matches(facts)) return true;
    }
    return false;
  }

  usesBody(): bool {
    const gs = this.groups;
    for (let i = 0, n = gs.length; i < n; i++) {
      if (unchecked(gs[i]).usesBody()) return true;
    }
    return false;
  }
}

export function parseRegexConfig(v: JsonValue | null, counts: ParseCounts): RegexConfig {
  const rc = new RegexConfig();
  if (v === null || v.isNull() || (v.isArray() && v.items.length == 0)) return rc;
  // From here on an unusable shape matches nothing, so a broken rule never blocks everyone.
  rc.matchAll = false;
  if (v.type != JsonType.Array) {
    counts.skipped++;
    return rc;
  }
  const items = v.items;
  for (let i = 0, n = items.length; i < n; i++) {
    const item = unchecked(items[i]);
    if (!item.isObject() || rc.groups.length >= MAX_GROUPS) {
      counts.skipped++;
      continue;
    }
    rc.groups.push(parseGroup(item, counts));
  }
  return rc;
}
