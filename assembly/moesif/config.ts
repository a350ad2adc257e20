// The filter's JSON configuration: every option of the Lua plugin (same names and
// defaults, Kong 3.x column) plus the filter's own. Parsing never traps; a bad config
// yields one error naming the field, and the filter then stays inert (SPEC §3).
import { asciiLower, leadingDecimal } from "../lib/bytes";
import { JsonType, JsonValue, parseJson } from "../lib/json_value";

export const FILTER_VERSION = "0.1.0";
export const USER_AGENT = "kong-wasm-moesif/" + FILTER_VERSION;

/** The largest ring the shared-data queue can address (4 key characters, 64 symbols each, minus control keys). */
export const MAX_EVENT_QUEUE_SIZE: i64 = 16000000;

export class Endpoint {
  scheme: string = "https";
  /** host[:port] for the dispatch target argument. */
  target: string = "api.moesif.net:443";
  /** Host header value (port only when not the scheme's default). */
  authority: string = "api.moesif.net";
  /** Path prefix without a trailing slash ("" or "/prefix"). */
  basePath: string = "";
}

export class Config {
  applicationId: string = "";
  apiEndpoint: string = "https://api.moesif.net";
  endpoint: Endpoint = new Endpoint();
  connectTimeout: i32 = 1000;
  sendTimeout: i32 = 2000;
  keepalive: i32 = 5000;
  apiVersion: string = "1.0";
  disableCaptureRequestBody: bool = false;
  disableCaptureResponseBody: bool = false;
  /** Lowercased; headers with these names are removed from events. */
  requestHeaderMasks: Array<string> = [];
  responseHeaderMasks: Array<string> = [];
  /** Effective body masks (the deprecated request_masks/response_masks apply when these are empty). */
  requestBodyMasks: Array<string> = [];
  responseBodyMasks: Array<string> = [];
  requestQueryMasks: Array<string> = [];
  batchSize: i32 = 200;
  /** Byte cap of a batch body (before compression); a batch always holds at least one event. */
  batchMaxBytes: i32 = 262144;
  userIdHeader: string = "";
  companyIdHeader: string = "";
  /** Lowercased, trimmed entries of authorization_header_name. */
  authorizationHeaderNames: Array<string> = ["authorization"];
  authorizationUserIdField: string = "sub";
  authorizationCompanyIdField: string = "";
  disableGzipPayloadDecompression: bool = false;
  maxCallbackTimeSpent: i32 = 750;
  requestMaxBodySizeLimit: i32 = 100000;
  responseMaxBodySizeLimit: i32 = 100000;
  eventQueueSize: i32 = 100000;
  debug: bool = false;
  disableTransactionId: bool = false;
  enableCompression: bool = false;
  // The filter's own options.
  flushIntervalMs: i32 = 1000;
  maxRetryTimeMs: i32 = 300000;
  queueMaxBytes: i32 = 8388608;
  enableMetrics: bool = false;
  logSummaryIntervalMs: i32 = 60000;
  kvNamespace: string = "moesif";
}

export class ConfigResult {
  config: Config | null = null;
  /** One line naming the offending field when config is null. */
  error: string = "";
  warnings: Array<string> = [];
}

const KNOWN: Array<string> = [
  "application_id", "api_endpoint", "timeout", "connect_timeout", "send_timeout", "keepalive",
  "api_version", "disable_capture_request_body", "disable_capture_response_body",
  "request_header_masks", "request_body_masks", "response_header_masks", "response_body_masks",
  "request_query_masks", "request_masks", "response_masks", "batch_size", "batch_max_bytes", "user_id_header",
  "company_id_header", "authorization_header_name", "authorization_user_id_field",
  "authorization_company_id_field", "disable_gzip_payload_decompression", "max_callback_time_spent",
  "request_max_body_size_limit", "response_max_body_size_limit", "event_queue_size", "debug",
  "disable_transaction_id", "enable_compression", "flush_interval_ms", "max_retry_time_ms",
  "queue_max_bytes", "enable_metrics", "log_summary_interval_ms", "kv_namespace",
];

/** Reads fields one by one; the first problem is kept in `error`. */
class Reader {
  error: string = "";
  constructor(public obj: JsonValue) {}

  fail(field: string, problem: string): void {
    if (this.error.length == 0) this.error = "invalid config: field '" + field + "' " + problem;
  }

  private field(name: string): JsonValue | null {
    const v = this.obj.get(name);
    // A JSON null means "not set" (Kong sends null for unset optional fields).
    if (v === null || v.type == JsonType.Null) return null;
    return v;
  }

  has(name: string): bool {
    return this.field(name) !== null;
  }

  str(name: string, def: string): string {
    const v = this.field(name);
    if (v === null) return def;
    if (v.type != JsonType.String) {
      this.fail(name, "must be a string");
      return def;
    }
    return v.str;
  }

  bool(name: string, def: bool): bool {
    const v = this.field(name);
    if (v === null) return def;
    if (v.type != JsonType.Bool) {
      this.fail(name, "must be a boolean");
      return def;
    }
    return v.bool;
  }

  /** A whole number in [min, max]. */
  int(name: string, def: i32, min: f64, max: f64): i32 {
    const v = this.field(name);
    if (v === null) return def;
    if (v.type != JsonType.Number || v.num != Math.floor(v.num) || !isFinite(v.num)) {
      this.fail(name, "must be a whole number");
      return def;
    }
    if (v.num < min || v.num > max) {
      this.fail(name, "must be between " + i64(min).toString() + " and " + i64(max).toString());
      return def;
    }
    return i32(v.num);
  }

  strings(name: string, lower: bool): Array<string> {
    const out = new Array<string>();
    const v = this.field(name);
    if (v === null) return out;
    // Kong re-encodes filter configs with cjson, which writes an empty array as {}.
    if (v.type == JsonType.Object && v.keys.length == 0) return out;
    if (v.type != JsonType.Array) {
      this.fail(name, "must be an array of strings");
      return out;
    }
    for (let i = 0; i < v.items.length; i++) {
      const item = v.items[i];
      if (item.type != JsonType.String) {
        this.fail(name, "must be an array of strings (item " + i.toString() + ")");
        return out;
      }
      const s = lower ? asciiLower(item.str) : item.str;
      if (s.length > 0) out.push(s);
    }
    return out;
  }
}

export function parseEndpoint(url: string, out: Endpoint): bool {
  let rest: string;
  if (url.startsWith("https://")) {
    out.scheme = "https";
    rest = url.substring(8);
  } else if (url.startsWith("http://")) {
    out.scheme = "http";
    rest = url.substring(7);
  } else {
    return false;
  }
  let slash = rest.indexOf("/");
  let hostPort = slash < 0 ? rest : rest.substring(0, slash);
  let path = slash < 0 ? "" : rest.substring(slash);
  while (path.endsWith("/")) path = path.substring(0, path.length - 1);
  if (hostPort.length == 0 || hostPort.indexOf("@") >= 0 || hostPort.indexOf("?") >= 0) return false;
  // IPv6 literals keep their brackets; a port follows the last colon outside them.
  const close = hostPort.lastIndexOf("]");
  const colon = hostPort.lastIndexOf(":");
  const defaultPort = out.scheme == "https" ? "443" : "80";
  let host = hostPort;
  let port = defaultPort;
  if (colon > close) {
    host = hostPort.substring(0, colon);
    port = hostPort.substring(colon + 1);
    if (port.length == 0 || port.length > 5) return false;
    for (let i = 0; i < port.length; i++) {
      const c = port.charCodeAt(i);
      if (c < 48 || c > 57) return false;
    }
    const p = leadingDecimal(port);
    if (p > 65535 || p == 0) return false;
  }
  if (host.length == 0) return false;
  out.target = host + ":" + port;
  out.authority = port == defaultPort ? host : host + ":" + port;
  out.basePath = path;
  return true;
}

export function parseConfig(text: string): ConfigResult {
  const result = new ConfigResult();
  const root = parseJson(text);
  if (root === null || root.type != JsonType.Object) {
    result.error = "invalid config: the configuration must be a JSON object";
    return result;
  }
  const r = new Reader(root);
  const c = new Config();

  for (let i = 0; i < root.keys.length; i++) {
    if (!KNOWN.includes(root.keys[i])) result.warnings.push("unknown config field '" + root.keys[i] + "' ignored");
  }

  c.applicationId = r.str("application_id", "").trim();
  if (r.error.length == 0 && c.applicationId.length == 0) return failed(result, r, "application_id", "is required");
  c.apiEndpoint = r.str("api_endpoint", c.apiEndpoint);
  if (r.error.length == 0 && !parseEndpoint(c.apiEndpoint, c.endpoint)) return failed(result, r, "api_endpoint", "must be an http:// or https:// URL");
  if (r.has("timeout")) {
    r.int("timeout", 0, 0, 3600000);
    deprecated(result, "timeout", " and ignored", "connect_timeout and send_timeout");
  }
  c.connectTimeout = r.int("connect_timeout", c.connectTimeout, 1, 3600000);
  c.sendTimeout = r.int("send_timeout", c.sendTimeout, 1, 3600000);
  c.keepalive = r.int("keepalive", c.keepalive, 0, 3600000);
  c.apiVersion = r.str("api_version", c.apiVersion);
  c.disableCaptureRequestBody = r.bool("disable_capture_request_body", false);
  c.disableCaptureResponseBody = r.bool("disable_capture_response_body", false);
  c.requestHeaderMasks = r.strings("request_header_masks", true);
  c.responseHeaderMasks = r.strings("response_header_masks", true);
  c.requestBodyMasks = r.strings("request_body_masks", false);
  c.responseBodyMasks = r.strings("response_body_masks", false);
  const legacyRequestMasks = r.strings("request_masks", false);
  const legacyResponseMasks = r.strings("response_masks", false);
  if (legacyRequestMasks.length > 0) {
    deprecated(result, "request_masks", "", "request_body_masks");
    if (c.requestBodyMasks.length == 0) c.requestBodyMasks = legacyRequestMasks;
  }
  if (legacyResponseMasks.length > 0) {
    deprecated(result, "response_masks", "", "response_body_masks");
    if (c.responseBodyMasks.length == 0) c.responseBodyMasks = legacyResponseMasks;
  }
  c.requestQueryMasks = r.strings("request_query_masks", false);
  c.batchSize = r.int("batch_size", c.batchSize, 1, 5000);
  c.batchMaxBytes = r.int("batch_max_bytes", c.batchMaxBytes, 1024, 67108864);
  c.userIdHeader = asciiLower(r.str("user_id_header", "").trim());
  c.companyIdHeader = asciiLower(r.str("company_id_header", "").trim());
  const authNames = r.str("authorization_header_name", "authorization");
  c.authorizationHeaderNames = [];
  for (let from = 0; from <= authNames.length;) {
    let to = authNames.indexOf(",", from);
    if (to < 0) to = authNames.length;
    const n = asciiLower(authNames.substring(from, to).trim());
    if (n.length > 0) c.authorizationHeaderNames.push(n);
    from = to + 1;
  }
  c.authorizationUserIdField = r.str("authorization_user_id_field", "sub").trim();
  c.authorizationCompanyIdField = r.str("authorization_company_id_field", "").trim();
  c.disableGzipPayloadDecompression = r.bool("disable_gzip_payload_decompression", false);
  c.maxCallbackTimeSpent = r.int("max_callback_time_spent", c.maxCallbackTimeSpent, 0, 60000);
  c.requestMaxBodySizeLimit = r.int("request_max_body_size_limit", c.requestMaxBodySizeLimit, 0, 100000000);
  c.responseMaxBodySizeLimit = r.int("response_max_body_size_limit", c.responseMaxBodySizeLimit, 0, 100000000);
  c.eventQueueSize = r.int("event_queue_size", c.eventQueueSize, 1, <f64>MAX_EVENT_QUEUE_SIZE);
  c.debug = r.bool("debug", false);
  c.disableTransactionId = r.bool("disable_transaction_id", false);
  c.enableCompression = r.bool("enable_compression", false);
  c.flushIntervalMs = r.int("flush_interval_ms", c.flushIntervalMs, 100, 600000);
  c.maxRetryTimeMs = r.int("max_retry_time_ms", c.maxRetryTimeMs, 0, 86400000);
  c.queueMaxBytes = r.int("queue_max_bytes", c.queueMaxBytes, 65536, 1073741824);
  c.enableMetrics = r.bool("enable_metrics", false);
  c.logSummaryIntervalMs = r.int("log_summary_interval_ms", c.logSummaryIntervalMs, 0, 86400000);
  c.kvNamespace = r.str("kv_namespace", c.kvNamespace);
  if (!validNamespace(c.kvNamespace)) r.fail("kv_namespace", "must match ^[a-z0-9_-]+$");
  if (r.error.length > 0) {
    result.error = r.error;
    return result;
  }
  result.config = c;
  return result;
}

/** `result` with the error for `field` (the reader had none yet). */
function failed(result: ConfigResult, r: Reader, field: string, problem: string): ConfigResult {
  r.fail(field, problem);
  result.error = r.error;
  return result;
}

function deprecated(result: ConfigResult, field: string, ignored: string, instead: string): void {
  result.warnings.push("config field '" + field + "' is deprecated" + ignored + "; use " + instead);
}

function validNamespace(ns: string): bool {
  if (ns.length == 0 || ns.length > 64) return false;
  for (let i = 0; i < ns.length; i++) {
    const c = ns.charCodeAt(i);
    const ok = (c >= 97 && c <= 122) || (c >= 48 && c <= 57) || c == 95 || c == 45;
    if (!ok) return false;
  }
  return true;
}
