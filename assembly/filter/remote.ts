// Sampling config (GET /v1/config) and governance rules (GET /v1/rules), fetched from
// on_tick (SPEC §7): config at start, every 60 s and when a batch response carries a new
// config etag; rules at start and whenever a rules tag differs from the rules held. The
// last good copy is kept when a fetch fails; until the first one arrives, everything is
// kept and nothing is blocked.
import { ByteBuf } from "../lib/bytes";
import { Config, USER_AGENT } from "../moesif/config";
import { GovernanceRules } from "../moesif/governance";
import { AppConfig } from "../moesif/sampling";
import * as host from "./host";
import { callSpanMs } from "./calls";
import { utf8, Utf8 } from "../lib/utf8";

export const CONFIG_REFRESH_MS: i64 = 60000;
/** After a failed fetch, try again this much later (the last good copy stays in use). */
const RETRY_MS: i64 = 10000;
/** Config and rules documents larger than this are refused (bounded memory). */
export const MAX_DOCUMENT_BYTES: i32 = 2 << 20;


const enum Kind {
  Config = 0,
  Rules = 1,
}

class Pending {
  active: bool = false;
  token: u32 = 0;
  deadline: i64 = 0;
}

export class Remote {
  appConfig: AppConfig | null = null;
  rules: GovernanceRules | null = null;
  private configEtag: string = "";
  private rulesTag: string = "";
  /** The newest rules tag announced by the collector (config or batch responses). */
  private wantedRulesTag: string = "";
  private etagTriggered: string = "";
  private nextConfigAt: i64 = 0;
  private nextRulesAt: i64 = 0;
  private rulesFetched: bool = false;
  private pending: StaticArray<Pending> = [new Pending(), new Pending()];
  private configHeaders: ArrayBuffer;
  private rulesHeaders: ArrayBuffer;
  private body: ByteBuf = new ByteBuf(0);
  private value: ByteBuf = new ByteBuf(64);
  private failing: StaticArray<bool> = [false, false];
  /**
   * The host calls back on every outcome (Kong 3.9, plain ngx_wasm_module): see callSpanMs.
   * Assumed until the first request shows the version: a fresh worker's first calls then wait
   * long rather than risk overlapping a live call (on Kong <= 3.8 a failed one waits longer).
   */
  callsBack: bool = true;

  constructor(private cfg: Config) {
    this.configHeaders = requestHeaders(cfg, "/v1/config");
    this.rulesHeaders = requestHeaders(cfg, "/v1/rules");
  }

  inFlight(): i32 {
    return (this.pending[Kind.Config].active ? 1 : 0) + (this.pending[Kind.Rules].active ? 1 : 0);
  }

  /**
   * Starts the fetches that are due, with at most `allowed` dispatches in flight (this
   * fetcher's included). `batchEtag`/`batchRulesTag`: tags from the last batch response.
   */
  tick(now: i64, batchEtag: string, batchRulesTag: string, allowed: i32): void {
    for (let k = 0; k < 2; k++) {
      const p = this.pending[k];
      if (p.active && now > p.deadline) {
        p.active = false; // never called back (Kong <= 3.8 on connection errors; callSpanMs)
        this.failed(<Kind>k, now, "no answer");
      }
    }
    if (batchRulesTag.length > 0) this.wantedRulesTag = batchRulesTag;
    let configDue = now >= this.nextConfigAt;
    if (batchEtag.length > 0 && batchEtag != this.configEtag && batchEtag != this.etagTriggered) {
      this.etagTriggered = batchEtag;
      configDue = true;
    }
    if (configDue && !this.pending[Kind.Config].active && this.inFlight() < allowed) this.fetch(Kind.Config, now);
    const rulesDue = !this.rulesFetched || (this.wantedRulesTag.length > 0 && this.wantedRulesTag != this.rulesTag);
    if (rulesDue && now >= this.nextRulesAt && !this.pending[Kind.Rules].active && this.inFlight() < allowed) this.fetch(Kind.Rules, now);
  }

  private fetch(kind: Kind, now: i64): void {
    const e = this.cfg.endpoint;
    const headers = kind == Kind.Config ? this.configHeaders : this.rulesHeaders;
    const r = host.dispatch(e.target, headers, 0, 0, <u32>this.cfg.connectTimeout);
    if (r != host.Result.Ok) {
      this.failed(kind, now, "dispatch refused (" + (<i32>r).toString() + ")");
      return;
    }
    const p = this.pending[kind];
    p.active = true;
    p.token = host.lastToken();
    p.deadline = now + callSpanMs(this.cfg.connectTimeout, this.callsBack, e.target);
    if (kind == Kind.Config) this.nextConfigAt = now + CONFIG_REFRESH_MS;
  }

  /** Handles a callback; false when the token is not one of ours. */
  onResponse(token: u32, bodySize: u32, now: i64): bool {
    for (let k = 0; k < 2; k++) {
      const p = this.pending[k];
      if (!p.active || p.token != token) continue;
      p.active = false;
      this.settle(<Kind>k, bodySize, now);
      return true;
    }
    return false;
  }

  private settle(kind: Kind, bodySize: u32, now: i64): void {
    // Single values, not the pairs call: see host.headerValue.
    const v = this.value;
    const status = host.callStatus(v);
    const etag = host.headerValue(host.MapType.HttpCallResponseHeaders, host.CONFIG_ETAG_HEADER, v) ? v.toString() : null;
    const tag = host.headerValue(host.MapType.HttpCallResponseHeaders, host.RULES_TAG_HEADER, v) ? v.toString() : null;
    if (status < 200 || status > 299) {
      this.failed(kind, now, status == 0 ? "no response" : "HTTP " + status.toString());
      return;
    }
    if (bodySize > <u32>MAX_DOCUMENT_BYTES) {
      this.failed(kind, now, "document of " + bodySize.toString() + " bytes is over the limit");
      return;
    }
    const body = this.body;
    body.clear();
    if (bodySize > 0) host.readBody(host.BufferType.HttpCallResponseBody, <i32>bodySize, body);
    const bytes = body.toUint8Array();
    body.shrinkTo(1 << 16);
    if (kind == Kind.Config) {
      const parsed = AppConfig.parseBytes(bytes);
      if (parsed === null) {
        this.failed(kind, now, "not a JSON object");
        return;
      }
      this.appConfig = parsed;
      this.configEtag = etag !== null ? etag : "";
      if (tag !== null && tag.length > 0) this.wantedRulesTag = tag;
      if (parsed.invalidRegexCount > 0) {
        host.log(host.Level.Warn, utf8("moesif: config has {} invalid regular expressions; those conditions never match")).int(parsed.invalidRegexCount).write();
      }
    } else {
      const parsed = GovernanceRules.parseBytes(bytes);
      if (parsed === null) {
        this.failed(kind, now, "not a JSON array");
        return;
      }
      this.rules = parsed;
      this.rulesFetched = true;
      this.rulesTag = tag !== null ? tag : this.wantedRulesTag;
      if (parsed.invalidRegexCount > 0) {
        host.log(host.Level.Warn, utf8("moesif: governance rules have {} invalid regular expressions; those conditions never match")).int(parsed.invalidRegexCount).write();
      }
    }
    if (this.failing[kind]) {
      this.failing[kind] = false;
      host.log(host.Level.Info, utf8("moesif: {} fetched again")).text(name(kind)).write();
    }
    if (this.cfg.debug) host.log(host.Level.Info, utf8("moesif: {} loaded")).text(name(kind)).write();
  }

  private failed(kind: Kind, now: i64, why: string): void {
    if (kind == Kind.Config) this.nextConfigAt = now + RETRY_MS;
    else this.nextRulesAt = now + RETRY_MS;
    // One line when a fetch starts failing, not one per attempt.
    if (!this.failing[kind] || this.cfg.debug) {
      const held = kind == Kind.Config ? this.appConfig !== null : this.rules !== null;
      host.log(host.Level.Warn, utf8("moesif: cannot fetch {} ({}); {}")).text(name(kind)).str(why)
        .text(held ? utf8("keeping the last good copy") : kind == Kind.Config ? utf8("sampling everything at 100%") : utf8("no governance rules apply"))
        .write();
    }
    this.failing[kind] = true;
  }
}

function name(kind: Kind): Utf8 {
  return kind == Kind.Config ? utf8("sampling config (/v1/config)") : utf8("governance rules (/v1/rules)");
}

function requestHeaders(cfg: Config, path: string): ArrayBuffer {
  const e = cfg.endpoint;
  return host.serializePairs([
    ":method", "GET",
    ":path", e.basePath + path,
    ":authority", e.authority,
    ":scheme", e.scheme,
    "x-moesif-application-id", cfg.applicationId,
    "user-agent", USER_AGENT,
  ]);
}
