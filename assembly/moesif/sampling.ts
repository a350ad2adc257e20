// /v1/config (reference/moesif.md §4): sample rates and governance cohorts. The rate is the
// Lua plugin's: the minimum of the user, company and first matching regex rates when any
// applies, else sample_rate. Without a config everything is kept (fail-open).

import { JsonValue, parseJson, parseJsonBytes } from "../lib/json_value";
import { ConditionGroup, MAX_GROUPS, ParseCounts, RequestFacts, parseGroup } from "./rules";

export { RequestFacts } from "./rules";

/** Nesting accepted in /v1/config and /v1/rules documents. */
export const DOC_MAX_DEPTH: i32 = 64;
/** Cohort entries kept per user or company id. */
const MAX_COHORT_ENTRIES: i32 = 1000;

/** One `{rules: <rule _id>, values: {...}}` entry of user_rules/company_rules. */
export class CohortEntry {
  ruleId: string;
  names: Array<string> = [];
  values: Array<string> = [];

  constructor(ruleId: string) {
    this.ruleId = ruleId;
  }

  /** Merge-tag value for a variable name, or null when the entry has none. */
  value(name: string): string | null {
    const names = this.names;
    // Last occurrence wins, as a JSON decoder building a table would.
    for (let i = names.length - 1; i >= 0; i--) {
      if (unchecked(names[i]) == name) return unchecked(this.values[i]);
    }
    return null;
  }
}

/** From GET /v1/config. */
export class AppConfig {
  sampleRate: i32 = 100;
  userSampleRates: Map<string, i32> = new Map<string, i32>();
  companySampleRates: Map<string, i32> = new Map<string, i32>();
  /** regex_config entries that carry a sample_rate, in document order. */
  regexRates: Array<ConditionGroup> = [];
  userRules: Map<string, Array<CohortEntry>> = new Map<string, Array<CohortEntry>>();
  companyRules: Map<string, Array<CohortEntry>> = new Map<string, Array<CohortEntry>>();
  /** Patterns in regex_config that did not compile (their condition never matches). */
  invalidRegexCount: i32 = 0;
  /** Entries ignored because of their shape. */
  skippedCount: i32 = 0;
  /** Some regex_config condition tests `request.body.*`. */
  needsBody: bool = false;

  /** Whether sampleRate reads more of the request facts than userId and companyId
   *  (only regex_config conditions do). */
  needsRequestFacts(): bool {
    return this.regexRates.length > 0;
  }

  /** Null when the text is not a JSON object; odd fields and entries are skipped. */
  static parse(json: string): AppConfig | null {
    return AppConfig.fromJson(parseJson(json, DOC_MAX_DEPTH));
  }

  static parseBytes(body: Uint8Array): AppConfig | null {
    return AppConfig.fromJson(parseJsonBytes(body.dataStart, body.length, DOC_MAX_DEPTH));
  }

  private static fromJson(doc: JsonValue | null): AppConfig | null {
    if (doc === null || !doc.isObject()) return null;
    const cfg = new AppConfig();
    const counts = new ParseCounts();
    const global = rateOf(doc.get("sample_rate"));
    if (global >= 0) cfg.sampleRate = global;
    readRates(doc.get("user_sample_rate"), cfg.userSampleRates, counts);
    readRates(doc.get("company_sample_rate"), cfg.companySampleRates, counts);
    const rc = doc.get("regex_config");
    if (rc !== null && rc.isArray()) {
      const items = rc.items;
      for (let i = 0, n = items.length; i < n; i++) {
        const item = unchecked(items[i]);
        const rate = item.isObject() ? rateOf(item.get("sample_rate")) : -1;
        if (rate < 0 || cfg.regexRates.length >= MAX_GROUPS) {
          counts.skipped++;
          continue;
        }
        const group = parseGroup(item, counts);
        group.sampleRate = rate;
        if (group.usesBody()) cfg.needsBody = true;
        cfg.regexRates.push(group);
      }
    }
    readCohorts(doc.get("user_rules"), cfg.userRules, counts);
    readCohorts(doc.get("company_rules"), cfg.companyRules, counts);
    cfg.invalidRegexCount = counts.invalidRegexes;
    cfg.skippedCount = counts.skipped;
    return cfg;
  }
}

/** A JSON number as a rate: floored and clamped to 0..100; -1 when not a number. */
function rateOf(v: JsonValue | null): i32 {
  if (v === null || !v.isNumber()) return -1;
  const r = v.num;
  if (r <= 0) return 0;
  if (r >= 100) return 100;
  return <i32>Math.floor(r);
}

function readRates(v: JsonValue | null, out: Map<string, i32>, counts: ParseCounts): void {
  if (v === null || !v.isObject()) return;
  const keys = v.keys;
  for (let i = 0, n = keys.length; i < n; i++) {
    const rate = rateOf(unchecked(v.values[i]));
    if (rate < 0) counts.skipped++;
    else out.set(unchecked(keys[i]), rate);
  }
}

function readCohorts(v: JsonValue | null, out: Map<string, Array<CohortEntry>>, counts: ParseCounts): void {
  if (v === null || !v.isObject()) return;
  const keys = v.keys;
  for (let i = 0, n = keys.length; i < n; i++) {
    const list = unchecked(v.values[i]);
    if (!list.isArray()) {
      counts.skipped++;
      continue;
    }
    const entries = new Array<CohortEntry>();
    const items = list.items;
    for (let j = 0, m = items.length; j < m; j++) {
      const item = unchecked(items[j]);
      const id = item.get("rules");
      if (id === null || !id.isString() || entries.length >= MAX_COHORT_ENTRIES) {
        counts.skipped++;
        continue;
      }
      const entry = new CohortEntry(id.str);
      const values = item.get("values");
      if (values !== null && values.isObject()) {
        for (let k = 0, nv = values.keys.length; k < nv; k++) {
          const text = unchecked(values.values[k]).toText();
          if (text === null) continue;
          entry.names.push(unchecked(values.keys[k]));
          entry.values.push(text);
        }
      }
      entries.push(entry);
    }
    out.set(unchecked(keys[i]), entries);
  }
}

/** The cohort entry of `id` (user or company) for rule `ruleId`, or null when not a member. */
export function cohortEntry(map: Map<string, Array<CohortEntry>>, id: string | null, ruleId: string): CohortEntry | null {
  if (id === null || !map.has(id)) return null;
  const entries = map.get(id);
  for (let i = 0, n = entries.length; i < n; i++) {
    const e = unchecked(entries[i]);
    if (e.ruleId == ruleId) return e;
  }
  return null;
}

/** Empty ids count as unidentified. */
export function presentId(id: string | null): string | null {
  return id !== null && id.length > 0 ? id : null;
}

/** The sample rate (0..100) for this request; 100 without a config. */
export function sampleRate(cfg: AppConfig | null, facts: RequestFacts): i32 {
  if (cfg === null) return 100;
  let rate = 100;
  let any = false;
  const user = presentId(facts.userId);
  if (user !== null && cfg.userSampleRates.has(user)) {
    rate = min(rate, cfg.userSampleRates.get(user));
    any = true;
  }
  const company = presentId(facts.companyId);
  if (company !== null && cfg.companySampleRates.has(company)) {
    rate = min(rate, cfg.companySampleRates.get(company));
    any = true;
  }
  const groups = cfg.regexRates;
  for (let i = 0, n = groups.length; i < n; i++) {
    const g = unchecked(groups[i]);
    if (g.matches(facts)) {
      rate = min(rate, g.sampleRate);
      any = true;
      break;
    }
  }
  return any ? rate : cfg.sampleRate;
}

/** The event weight for a kept event: floor(100/rate), 1 when the rate is 0 or less. */
export function weightFor(rate: i32): i32 {
  return rate <= 0 ? 1 : max(1, 100 / rate);
}

/** Keep the event when rate > random01*100, random01 in [0,1) (the Lua plugin's test). */
export function keep(rate: i32, random01: f64): bool {
  return <f64>rate > random01 * 100.0;
}
