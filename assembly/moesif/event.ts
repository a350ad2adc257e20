// One proxied request as a Moesif event (SPEC §4; reference/moesif.md §2 with the Lua bugs
// fixed). The JSON is written straight into a byte buffer, in a fixed field order.
import { ByteBuf } from "../lib/bytes";
import { writeJsonString, writeJsonStringBytes } from "../lib/json";
import { writeIsoTime } from "../lib/time";
import { utf8, Utf8 } from "../lib/utf8";
import { Config } from "./config";
import { HeaderMap } from "./headermap";
import { Identity } from "./identity";
import { omittedName, Omitted, writeBody } from "./body";
import { writeRequestUri } from "./uri";

/** Everything captured about one request/response, filled in by the HTTP context. */
export class Exchange {
  startMs: i64 = 0;
  endMs: i64 = 0;
  scheme: string = "http";
  host: string = "";
  path: string = "/";
  method: string = "GET";
  status: i32 = 0;
  requestHeaders: HeaderMap = new HeaderMap();
  responseHeaders: HeaderMap = new HeaderMap();
  requestBody: ByteBuf = new ByteBuf(0);
  requestOmitted: Omitted = Omitted.None;
  responseBody: ByteBuf = new ByteBuf(0);
  responseOmitted: Omitted = Omitted.None;
  ipAddress: string = "";
  identity: Identity = new Identity();
  sessionToken: string | null = null;
  /** UTF-8; empty when disabled or unavailable. */
  transactionId: ByteBuf = new ByteBuf(64);
  /** The filter added X-Moesif-Transaction-Id to the request after its headers were read. */
  addedTransactionHeader: bool = false;
  weight: i32 = 1;
  blockedBy: string | null = null;
  routeId: string = "";
  serviceId: string = "";
  routeName: string = "";
  serviceName: string = "";

  /** Clears for reuse; body buffers above `keepBytes` are given back. */
  reset(keepBytes: i32): void {
    this.startMs = 0;
    this.endMs = 0;
    this.scheme = "http";
    this.host = "";
    this.path = "/";
    this.method = "GET";
    this.status = 0;
    this.requestHeaders.clear();
    this.responseHeaders.clear();
    this.requestBody.clear();
    this.requestOmitted = Omitted.None;
    this.responseBody.clear();
    this.responseOmitted = Omitted.None;
    this.ipAddress = "";
    this.identity.userId = null;
    this.identity.companyId = null;
    this.sessionToken = null;
    this.transactionId.clear();
    this.addedTransactionHeader = false;
    this.weight = 1;
    this.blockedBy = null;
    this.routeId = "";
    this.serviceId = "";
    this.routeName = "";
    this.serviceName = "";
    // A huge body must not pin its buffer in a pooled exchange.
    this.requestBody.shrinkTo(keepBytes);
    this.responseBody.shrinkTo(keepBytes);
  }
}

/** Appends the event JSON for `ex` to `out`. */
export function writeEvent(out: ByteBuf, ex: Exchange, cfg: Config): void {
  out.lit(utf8('{"request":{"time":"'));
  writeIsoTime(out, ex.startMs);
  out.lit(utf8('","uri":'));
  uriScratch.clear();
  writeRequestUri(uriScratch, ex.scheme, ex.host, ex.path, cfg.requestQueryMasks);
  writeJsonStringBytes(out, uriScratch.ptr, uriScratch.length);
  out.lit(utf8(',"verb":'));
  writeJsonString(out, ex.method);
  out.lit(utf8(',"api_version":'));
  writeJsonString(out, cfg.apiVersion);
  if (ex.ipAddress.length > 0) {
    out.lit(utf8(',"ip_address":'));
    writeJsonString(out, ex.ipAddress);
  }
  out.lit(utf8(',"headers":'));
  ex.requestHeaders.writeJson(out, cfg.requestHeaderMasks, ex.addedTransactionHeader ? ex.transactionId : null);
  if (ex.requestOmitted == Omitted.None && ex.requestBody.length > 0) {
    ex.requestOmitted = writeBody(
      out, ex.requestBody.ptr, ex.requestBody.length,
      ex.requestHeaders.get("content-type"), ex.requestHeaders.get("content-encoding"),
      cfg.requestBodyMasks, !cfg.disableGzipPayloadDecompression, cfg.requestMaxBodySizeLimit,
    );
  }
  out.lit(utf8('},"response":{"time":"'));
  writeIsoTime(out, ex.endMs);
  out.lit(utf8('","status":'));
  out.int(ex.status);
  out.lit(utf8(',"headers":'));
  ex.responseHeaders.writeJson(out, cfg.responseHeaderMasks);
  if (ex.responseOmitted == Omitted.None && ex.responseBody.length > 0) {
    ex.responseOmitted = writeBody(
      out, ex.responseBody.ptr, ex.responseBody.length,
      ex.responseHeaders.get("content-type"), ex.responseHeaders.get("content-encoding"),
      cfg.responseBodyMasks, !cfg.disableGzipPayloadDecompression, cfg.responseMaxBodySizeLimit,
    );
  }
  out.byte(0x7d);
  const user = ex.identity.userId;
  if (user !== null) {
    out.lit(utf8(',"user_id":'));
    writeJsonString(out, user);
  }
  const company = ex.identity.companyId;
  if (company !== null) {
    out.lit(utf8(',"company_id":'));
    writeJsonString(out, company);
  }
  const session = ex.sessionToken;
  if (session !== null) {
    out.lit(utf8(',"session_token":'));
    writeJsonString(out, session);
  }
  if (ex.transactionId.length > 0) {
    out.lit(utf8(',"transaction_id":'));
    writeJsonStringBytes(out, ex.transactionId.ptr, ex.transactionId.length);
  }
  out.lit(utf8(',"direction":"Incoming","weight":'));
  out.int(ex.weight);
  const blocked = ex.blockedBy;
  if (blocked !== null) {
    out.lit(utf8(',"blocked_by":'));
    writeJsonString(out, blocked);
  }
  out.lit(utf8(',"metadata":{"kong":{'));
  let n = 0;
  n = field(out, n, utf8('"route_id":'), ex.routeId);
  n = field(out, n, utf8('"service_id":'), ex.serviceId);
  n = field(out, n, utf8('"route_name":'), ex.routeName);
  n = field(out, n, utf8('"service_name":'), ex.serviceName);
  out.byte(0x7d);
  if (ex.requestOmitted != Omitted.None || ex.responseOmitted != Omitted.None) {
    out.lit(utf8(',"moesif":{'));
    n = 0;
    if (ex.requestOmitted != Omitted.None) n = field(out, n, utf8('"request_body_omitted":'), omittedName(ex.requestOmitted));
    if (ex.responseOmitted != Omitted.None) n = field(out, n, utf8('"response_body_omitted":'), omittedName(ex.responseOmitted));
    out.byte(0x7d);
  }
  out.lit(utf8("}}"));
}

/** `key`: the quoted name and its colon. */
function field(out: ByteBuf, n: i32, key: Utf8, value: string): i32 {
  if (value.length == 0) return n;
  if (n > 0) out.byte(0x2c);
  out.lit(key);
  writeJsonString(out, value);
  return n + 1;
}

const uriScratch = new ByteBuf(256);
