// The per-request context: capture in the request and response phases, then build and
// queue the event in on_log. The proxied request never waits on anything here.
import {
  Context, FilterDataStatusValues, FilterHeadersStatusValues,
} from "@solo-io/proxy-runtime/assembly";
import { ByteBuf, leadingDecimal } from "../lib/bytes";
import { writeUuidV4 } from "../lib/uuid";
import { Omitted } from "../moesif/body";
import { clientIp } from "../moesif/clientip";
import { Exchange, writeEvent } from "../moesif/event";
import { govern } from "../moesif/governance";
import { identify } from "../moesif/identity";
import { Drop } from "../moesif/queue";
import { RequestFacts } from "../moesif/rules";
import { keep, sampleRate, weightFor } from "../moesif/sampling";
import { routeOf } from "../moesif/uri";
import { FilterState, RouteMeta, StateRoot } from "./state";
import * as host from "./host";
import { requestDone } from "./gc";
import { utf8, Utf8 } from "../lib/utf8";

const TRANSACTION_HEADER = "x-moesif-transaction-id";
const TRANSACTION_HEADER_BYTES = utf8("x-moesif-transaction-id");

export class MoesifHttp extends Context {
  private ex: Exchange | null = null;
  private requestBodyLength: i32 = 0;
  private capturingResponse: bool = true;
  /** Governance waits for the request body (a rule tests body fields). */
  private governOnBody: bool = false;
  /** Governance already read the request line and client IP (they do not change later). */
  private requestRead: bool = false;

  constructor(context_id: u32, private root: StateRoot) {
    super(context_id, root);
  }

  onRequestHeaders(headers: u32, end_of_stream: bool): FilterHeadersStatusValues {
    const state = this.root.state;
    if (state === null) return FilterHeadersStatusValues.Continue;
    const ex = state.takeExchange();
    this.ex = ex;
    ex.startMs = host.nowMs();
    // Read once: Kong's auth plugins have set their consumer headers by now (the chain runs
    // after Lua access handlers), and the event gets these headers plus our transaction id.
    host.loadHeaderMap(host.MapType.RequestHeaders, ex.requestHeaders);
    if (!state.cfg.disableTransactionId) {
      // The client's id when it sent one, else a new UUID that the upstream sees too.
      const id = ex.transactionId;
      const req = ex.requestHeaders;
      const i = req.find(TRANSACTION_HEADER);
      if (i >= 0) appendTrimmed(id, req.valuePtr(i), req.valueLen(i));
      if (id.length == 0 && newUuid(id)) {
        host.addHeaderBytes(host.MapType.RequestHeaders, TRANSACTION_HEADER_BYTES, id.ptr, id.length);
        ex.addedTransactionHeader = true;
      }
    }
    const rules = state.remote.rules;
    if (rules === null || rules.blockingCount == 0 || state.remote.appConfig === null) return FilterHeadersStatusValues.Continue;
    if (rules.needsBody && hasBody(ex)) {
      this.governOnBody = true; // decided in on_request_body, once the body is there
      return FilterHeadersStatusValues.Continue;
    }
    return this.govern(ex, state, null) ? FilterHeadersStatusValues.StopIteration : FilterHeadersStatusValues.Continue;
  }

  onRequestBody(body_buffer_length: usize, end_of_stream: bool): FilterDataStatusValues {
    // Kong calls this once with the whole length; the bytes are read in on_log.
    this.requestBodyLength = <i32>body_buffer_length;
    const ex = this.ex;
    const state = this.root.state;
    if (!this.governOnBody || ex === null || state === null) return FilterDataStatusValues.Continue;
    this.governOnBody = false;
    let body: Uint8Array | null = null;
    if (this.requestBodyLength <= state.cfg.requestMaxBodySizeLimit) {
      bodyScratch.clear();
      if (host.readBody(host.BufferType.RequestBody, this.requestBodyLength, bodyScratch) == host.Result.Ok) body = bodyScratch.toUint8Array();
    }
    return this.govern(ex, state, body) ? FilterDataStatusValues.StopIterationAndBuffer : FilterDataStatusValues.Continue;
  }

  /**
   * Applies the governance rules (no I/O: rules and cohorts are cached). When a rule
   * blocks, answers the request with the rule's response; the event is still logged.
   */
  private govern(ex: Exchange, state: FilterState, body: Uint8Array | null): bool {
    const req = ex.requestHeaders;
    readRequest(ex);
    this.requestRead = true;
    identify(state.identity, req, null, ex.identity);
    const facts = fillFacts(state.facts, ex);
    facts.body = body;
    const block = state.block;
    if (!govern(state.remote.rules, state.remote.appConfig, facts, block)) return false;
    ex.blockedBy = block.ruleId;
    const b = String.UTF8.encode(block.body);
    host.sendLocalResponse(<u32>block.status, "", changetype<usize>(b), b.byteLength, host.serializePairs(block.headers));
    return true;
  }

  onResponseHeaders(headers: u32, end_of_stream: bool): FilterHeadersStatusValues {
    const ex = this.ex;
    if (ex === null) return FilterHeadersStatusValues.Continue;
    const id = ex.transactionId;
    if (id.length > 0) host.addHeaderBytes(host.MapType.ResponseHeaders, TRANSACTION_HEADER_BYTES, id.ptr, id.length);
    return FilterHeadersStatusValues.Continue;
  }

  onResponseBody(body_buffer_length: usize, end_of_stream: bool): FilterDataStatusValues {
    const ex = this.ex;
    const state = this.root.state;
    if (ex === null || state === null || !this.capturingResponse || body_buffer_length == 0) return FilterDataStatusValues.Continue;
    if (state.cfg.disableCaptureResponseBody) {
      this.capturingResponse = false;
      return FilterDataStatusValues.Continue;
    }
    const len = <i32>body_buffer_length;
    if (ex.responseBody.length + len > state.cfg.responseMaxBodySizeLimit) {
      // Over the limit: no truncated body, a marker instead (SPEC §4).
      ex.responseOmitted = Omitted.SizeLimit;
      ex.responseBody.clear();
      this.capturingResponse = false;
      return FilterDataStatusValues.Continue;
    }
    if (host.readBody(host.BufferType.ResponseBody, len, ex.responseBody) != host.Result.Ok) {
      ex.responseOmitted = Omitted.Unreadable;
      ex.responseBody.clear();
      this.capturingResponse = false;
    }
    return FilterDataStatusValues.Continue;
  }

  onLog(): void {
    const ex = this.ex;
    const state = this.root.state;
    if (ex === null || state === null) return;
    ex.endMs = host.nowMs();
    if (!state.versionKnown) state.learnKongVersion(property(KONG_VERSION), property(KONG_ROUTE_ID).length > 0);
    this.collect(ex, state);
    // No config yet (or the collector never answered): keep everything, weight 1.
    const appConfig = state.remote.appConfig;
    if (appConfig !== null) {
      const facts = state.facts;
      if (appConfig.needsRequestFacts()) {
        fillFacts(facts, ex);
        facts.status = ex.status;
        facts.body = appConfig.needsBody && ex.requestBody.length > 0 ? ex.requestBody.toUint8Array() : null;
      } else {
        facts.userId = ex.identity.userId;
        facts.companyId = ex.identity.companyId;
      }
      const rate = sampleRate(appConfig, facts);
      if (!keep(rate, state.random01())) {
        state.queue.count(Drop.Sampled, 1);
        return;
      }
      ex.weight = weightFor(rate);
    }
    const buf = state.zone.buffer();
    writeEvent(buf, ex, state.cfg);
    state.zone.hold(state.queue, buf);
  }

  onDelete(): void {
    const ex = this.ex;
    const state = this.root.state;
    if (ex !== null && state !== null) state.giveBack(ex);
    this.ex = null;
    requestDone();
  }

  /** Reads the final request/response state (headers, body, identity, Kong metadata). */
  private collect(ex: Exchange, state: FilterState): void {
    const cfg = state.cfg;
    const req = ex.requestHeaders;
    const resp = ex.responseHeaders;
    host.loadHeaderMap(host.MapType.ResponseHeaders, resp);
    if (!this.requestRead) readRequest(ex);
    const status = resp.get(":status");
    ex.status = status !== null ? leadingDecimal(status) : 0;

    if (this.requestBodyLength > 0 && !cfg.disableCaptureRequestBody) {
      if (this.requestBodyLength > cfg.requestMaxBodySizeLimit) {
        ex.requestOmitted = Omitted.SizeLimit;
      } else if (host.readBody(host.BufferType.RequestBody, this.requestBodyLength, ex.requestBody) != host.Result.Ok) {
        ex.requestOmitted = Omitted.Unreadable;
        ex.requestBody.clear();
      }
    }

    identify(state.identity, req, resp, ex.identity);
    const credential = req.get("x-credential-identifier");
    if (credential !== null && credential.length > 0) ex.sessionToken = credential;
    const routeBytes = propertyScratch;
    routeBytes.clear();
    if (host.getPropertyInto(KONG_ROUTE_ID, routeBytes) != host.Result.Ok) routeBytes.clear();
    ex.routeId = state.routeId(routeBytes);
    let meta = state.routeMeta(ex.routeId, ex.endMs);
    if (meta === null) {
      meta = new RouteMeta();
      meta.serviceId = property(KONG_SERVICE_ID);
      meta.routeName = property(KONG_ROUTE_NAME);
      meta.serviceName = property(KONG_SERVICE_NAME);
      meta.readAt = ex.endMs;
      state.rememberRoute(ex.routeId, meta);
    }
    ex.serviceId = meta.serviceId;
    ex.routeName = meta.routeName;
    ex.serviceName = meta.serviceName;
  }
}

/** Method, path, scheme, host and client IP from the request header map. */
function readRequest(ex: Exchange): void {
  const req = ex.requestHeaders;
  const method = req.get(":method");
  if (method !== null) ex.method = method;
  // `request.path` is nginx's $request_uri as the client sent it; the engine's `:path` is the
  // decoded, normalized $uri plus args ("/a%20b//c?x" reads "/a b/c?x", a fragment is dropped).
  const raw = property(REQUEST_PATH);
  if (raw.length > 0) ex.path = raw;
  else {
    const path = req.get(":path");
    if (path !== null) ex.path = path;
  }
  const scheme = req.get(":scheme");
  if (scheme !== null) ex.scheme = scheme;
  // The client's Host header: `:authority` is Kong's own server name and port.
  let hostHeader = req.get("host");
  if (hostHeader === null) hostHeader = req.get(":authority");
  ex.host = hostHeader !== null ? hostHeader : "";
  ex.ipAddress = clientIp(req, "");
  if (ex.ipAddress.length == 0) ex.ipAddress = property(SOURCE_ADDRESS);
}

function fillFacts(facts: RequestFacts, ex: Exchange): RequestFacts {
  facts.verb = ex.method;
  facts.route = routeOf(ex.path);
  facts.ipAddress = ex.ipAddress;
  facts.status = -1;
  facts.userId = ex.identity.userId;
  facts.companyId = ex.identity.companyId;
  facts.headers = ex.requestHeaders;
  facts.contentType = ex.requestHeaders.get("content-type");
  facts.body = null;
  return facts;
}

function hasBody(ex: Exchange): bool {
  const length = ex.requestHeaders.get("content-length");
  if (length !== null) return length != "0";
  return ex.requestHeaders.find("transfer-encoding") >= 0;
}

const bodyScratch = new ByteBuf(0);
const propertyScratch = new ByteBuf(64);

// Property paths (kong.route_id is read for every request).
const KONG_VERSION = utf8("kong.version");
const REQUEST_PATH = utf8("request.path");
const KONG_ROUTE_ID = utf8("kong.route_id");
const KONG_SERVICE_ID = utf8("kong.service_id");
const KONG_ROUTE_NAME = utf8("kong.route_name");
const KONG_SERVICE_NAME = utf8("kong.service_name");
const SOURCE_ADDRESS = utf8("source.address");

function property(path: Utf8): string {
  propertyScratch.clear();
  if (host.getPropertyInto(path, propertyScratch) != host.Result.Ok) return "";
  return propertyScratch.toString();
}

// Random bytes are drawn from the host 256 UUIDs at a time: one host call per request was
// most of on_request_headers' cost.
const RANDOM_POOL_SIZE: i32 = 4096;
const randomPool: usize = memory.data(RANDOM_POOL_SIZE);
let randomUsed: i32 = RANDOM_POOL_SIZE;

/** Appends a new UUID to `out`; false when the host had no random bytes. */
function newUuid(out: ByteBuf): bool {
  if (randomUsed + 16 > RANDOM_POOL_SIZE) {
    if (!host.randomBytes(randomPool, RANDOM_POOL_SIZE)) return false;
    randomUsed = 0;
  }
  writeUuidV4(out, randomPool + <usize>randomUsed);
  randomUsed += 16;
  return true;
}

/** Appends [p, p+n) without leading and trailing spaces and control characters. */
function appendTrimmed(out: ByteBuf, p: usize, n: i32): void {
  let s = 0;
  let e = n;
  while (s < e && load<u8>(p + <usize>s) <= 0x20) s++;
  while (e > s && load<u8>(p + <usize>(e - 1)) <= 0x20) e--;
  out.raw(p + <usize>s, e - s);
}
