// Thin, allocation-light wrappers over the raw proxy-wasm host calls the filter uses on its
// hot paths. The runtime's helpers allocate a buffer per header and build strings; these
// read the host's serialized values directly. Nothing here traps on a non-Ok result.
import * as imports from "@solo-io/proxy-runtime/assembly/imports";
import { ByteBuf } from "../lib/bytes";
import { HeaderMap } from "../moesif/headermap";
import { utf8, Utf8, utf8Bytes, utf8Length } from "../lib/utf8";

export const enum Result {
  Ok = 0,
  NotFound = 1,
  BadArgument = 2,
  Empty = 7,
  CasMismatch = 8,
  InternalFailure = 10,
}

export const enum MapType {
  RequestHeaders = 0,
  ResponseHeaders = 2,
  HttpCallResponseHeaders = 6,
}

export const enum BufferType {
  RequestBody = 0,
  ResponseBody = 1,
  HttpCallResponseBody = 4,
}

export const enum Level {
  Trace = 0,
  Debug = 1,
  Info = 2,
  Warn = 3,
  Error = 4,
  Critical = 5,
}

// Out-params for host calls: [0] value pointer, [4] value size, [8] cas / token.
const OUT: usize = memory.data(16);

@inline function resetOut(): void {
  store<u64>(OUT, 0);
  store<u64>(OUT, 0, 8);
}

// Where the host's next allocation lands, set around one host call: the value is written
// straight into the caller's buffer instead of a fresh GC object that is copied and freed.
let landing: ByteBuf | null = null;
let landingPtr: usize = 0;

/**
 * The `malloc` export the host calls for every value it returns. Inside a `landIn` call it
 * hands out the free end of the caller's buffer; otherwise (runtime helpers, a second
 * allocation) a pinned ArrayBuffer, as the runtime's own malloc does.
 */
export function malloc(size: i32): usize {
  const b = landing;
  if (b !== null && size >= 0) {
    landing = null;
    b.ensure(size);
    landingPtr = b.ptr + <usize>b.length;
    return landingPtr;
  }
  return __pin(changetype<usize>(new ArrayBuffer(size)));
}

/** Ends a pinned host buffer's life (the runtime's helpers call it through their own import). */
export function free(ptr: usize): void {
  __unpin(ptr);
}

/** The next host allocation goes to the end of `out` (pass the same `out` to takeOutInto). */
@inline function landIn(out: ByteBuf): void {
  landing = out;
  landingPtr = 0;
}

/**
 * After a host call that returned a value in OUT: appends it to `out` (a no-op copy when it
 * landed there) and frees a host buffer that did not. The host returns Ok without writing
 * the out-params for empty values, so OUT is reset before every call.
 */
function takeOutInto(out: ByteBuf, ok: bool): void {
  landing = null;
  const ptr = <usize>load<u32>(OUT);
  if (ptr == 0) return;
  const len = <i32>load<u32>(OUT, 4);
  if (ptr == landingPtr) {
    if (ok) out.length += len;
  } else {
    if (ok) out.raw(ptr, len);
    __unpin(ptr);
  }
  landingPtr = 0;
}

// ---- logging

/**
 * One log line being written: a template in static UTF-8 whose `{}` take the values given
 * with str()/int()/text() in order; write() sends the line. Start one with log().
 */
export class LogLine {
  private buf: ByteBuf = new ByteBuf(256);
  private level: Level = Level.Info;
  /** The template's unwritten rest. */
  private at: usize = 0;
  private end: usize = 0;

  start(level: Level, template: Utf8): LogLine {
    this.buf.clear();
    this.level = level;
    this.at = utf8Bytes(template);
    this.end = this.at + <usize>utf8Length(template);
    return this;
  }

  /** Copies the template up to the next `{}` (or its end) and skips the placeholder. */
  private next(): void {
    const end = this.end;
    let p = this.at;
    while (p + 1 < end && !(load<u8>(p) == 0x7b && load<u8>(p + 1) == 0x7d)) p++;
    if (p + 1 >= end) p = end;
    this.buf.raw(this.at, <i32>(p - this.at));
    this.at = p < end ? p + 2 : end;
  }

  str(value: string): LogLine {
    this.next();
    this.buf.str(value);
    return this;
  }

  int(value: i64): LogLine {
    this.next();
    this.buf.int(value);
    return this;
  }

  /** Static UTF-8 text as the value. */
  text(value: Utf8): LogLine {
    this.next();
    this.buf.lit(value);
    return this;
  }

  write(): void {
    this.buf.raw(this.at, <i32>(this.end - this.at));
    imports.proxy_log(<usize>this.level, this.buf.ptr, this.buf.length);
  }
}

const line = new LogLine();

/** Starts a log line (one at a time: the values' expressions must not log). */
export function log(level: Level, template: Utf8): LogLine {
  return line.start(level, template);
}


// ---- time and randomness

/** Wall clock in milliseconds (the engine's clock has millisecond resolution). */
export function nowMs(): i64 {
  store<u64>(OUT, 0);
  if (imports.proxy_get_current_time_nanoseconds(OUT) != Result.Ok) return 0;
  return <i64>(load<u64>(OUT) / 1000000);
}

// @ts-ignore: decorator
@external("wasi_snapshot_preview1", "random_get")
declare function wasi_random_get(buf: usize, len: usize): u16;

/** Fills `len` bytes at `dst` from the host's random source; false if it failed. */
export function randomBytes(dst: usize, len: i32): bool {
  return wasi_random_get(dst, <usize>len) == 0;
}

// ---- header maps

/** Reads a header map from the host into `map` (empty when the host has none). */
export function loadHeaderMap(type: MapType, map: HeaderMap): void {
  map.clear();
  resetOut();
  landIn(map.bytes);
  const r = imports.proxy_get_header_map_pairs(<i32>type, OUT, OUT + 4);
  takeOutInto(map.bytes, r == Result.Ok);
  map.index();
}

/**
 * Reads one header's value into `out` (cleared first); false when absent. For dispatch
 * responses in root contexts, use this rather than loadHeaderMap: ngx_wasm_module allocates
 * the pairs call's scratch array in the context's pool, which for a root context lives as
 * long as the worker (~450 bytes per call never freed, BENCHMARKS.md); this call allocates
 * nothing there.
 */
export function headerValue(type: MapType, name: Utf8, out: ByteBuf): bool {
  out.clear();
  resetOut();
  landIn(out);
  const r = imports.proxy_get_header_map_value(<i32>type, utf8Bytes(name), <usize>utf8Length(name), OUT, OUT + 4);
  takeOutInto(out, r == Result.Ok);
  return r == Result.Ok;
}

/** The HTTP status of the dispatch response being handled; 0 when there was none (`scratch` is overwritten). */
export function callStatus(scratch: ByteBuf): i32 {
  if (!headerValue(MapType.HttpCallResponseHeaders, utf8(":status"), scratch)) return 0;
  let n = 0;
  for (let i = 0; i < scratch.length; i++) {
    const c = <i32>load<u8>(scratch.ptr + <usize>i) - 48;
    if (c < 0 || c > 9 || n > 99999) return 0;
    n = n * 10 + c;
  }
  return n;
}

/** Collector headers read from batch and config responses. */
export const CONFIG_ETAG_HEADER: Utf8 = utf8("x-moesif-config-etag");
export const RULES_TAG_HEADER: Utf8 = utf8("x-moesif-rules-tag");

/** Adds a header from a static UTF-8 name and `len` value bytes at `value` (no per-call encoding). */
export function addHeaderBytes(map: MapType, name: Utf8, value: usize, len: i32): Result {
  return <Result>imports.proxy_add_header_map_value(<i32>map, utf8Bytes(name), <usize>utf8Length(name), value, <usize>len);
}


// ---- bodies

/** Appends up to `max` bytes of a body buffer to `out`; returns the host result. */
export function readBody(buffer: BufferType, max: i32, out: ByteBuf): Result {
  if (max <= 0) return Result.Ok;
  resetOut();
  landIn(out);
  const r = <Result>imports.proxy_get_buffer_bytes(<i32>buffer, 0, <u32>max, OUT, OUT + 4);
  takeOutInto(out, r == Result.Ok);
  return r;
}

// ---- properties (request contexts only: never call from a root context)

/** Appends a property's value to `out`; returns NotFound (nothing written) when absent. */
export function getPropertyInto(path: Utf8, out: ByteBuf): Result {
  resetOut();
  landIn(out);
  const r = <Result>imports.proxy_get_property(utf8Bytes(path), <usize>utf8Length(path), OUT, OUT + 4);
  takeOutInto(out, r == Result.Ok);
  return r;
}

// ---- shared data (ngx_wasm_module semantics: cas 0 = create only, null value deletes)

/** Reads a key into `out` (appended). Returns Ok with `lastCas()` set, or NotFound. */
export function kvGet(key: ArrayBuffer, out: ByteBuf): Result {
  resetOut();
  landIn(out);
  const r = <Result>imports.proxy_get_shared_data(changetype<usize>(key), key.byteLength, OUT, OUT + 4, OUT + 8);
  takeOutInto(out, r == Result.Ok);
  return r;
}

/** The cas returned by the last successful kvGet. */
export function lastCas(): u32 {
  return load<u32>(OUT, 8);
}

export function kvSet(key: ArrayBuffer, value: usize, valueLen: i32, cas: u32): Result {
  return <Result>imports.proxy_set_shared_data(changetype<usize>(key), key.byteLength, value, <usize>valueLen, cas);
}

export function kvDelete(key: ArrayBuffer, cas: u32): Result {
  return <Result>imports.proxy_set_shared_data(changetype<usize>(key), key.byteLength, 0, 0, cas);
}

// ---- HTTP dispatch (from on_tick only: see SPEC §6)

/** Dispatches a call; on Ok the token is in `lastToken()`. */
export function dispatch(target: string, headerPairs: ArrayBuffer, body: usize, bodyLen: i32, timeoutMs: u32): Result {
  const t = String.UTF8.encode(target);
  store<u32>(OUT, 0, 8);
  return <Result>imports.proxy_http_call(
    changetype<usize>(t), t.byteLength,
    changetype<usize>(headerPairs), headerPairs.byteLength,
    body, <usize>bodyLen,
    0, 0,
    timeoutMs, OUT + 8,
  );
}

export function lastToken(): u32 {
  return load<u32>(OUT, 8);
}

// ---- local responses

export function sendLocalResponse(status: u32, details: string, body: usize, bodyLen: i32, headerPairs: ArrayBuffer | null): Result {
  const d = String.UTF8.encode(details);
  const h = headerPairs === null ? 0 : changetype<usize>(headerPairs);
  const hl = headerPairs === null ? 0 : headerPairs.byteLength;
  return <Result>imports.proxy_send_local_response(status, changetype<usize>(d), d.byteLength, body, <usize>bodyLen, h, <usize>hl, -1 as u32);
}

// ---- tick

export function setTickPeriod(ms: u32): Result {
  return <Result>imports.proxy_set_tick_period_milliseconds(ms);
}


/** Serializes header pairs ([name, value, name, value, ...]) in the host's map format. */
export function serializePairs(pairs: Array<string>): ArrayBuffer {
  const n = pairs.length >> 1;
  const encoded = new Array<ArrayBuffer>(pairs.length);
  let size = 4 + n * 8;
  for (let i = 0; i < pairs.length; i++) {
    encoded[i] = String.UTF8.encode(pairs[i]);
    size += encoded[i].byteLength + 1;
  }
  const out = new ArrayBuffer(size);
  const base = changetype<usize>(out);
  store<u32>(base, <u32>n);
  let data = base + 4 + <usize>n * 8;
  for (let i = 0; i < pairs.length; i++) {
    const len = encoded[i].byteLength;
    store<u32>(base + 4 + <usize>i * 4, <u32>len);
    memory.copy(data, changetype<usize>(encoded[i]), <usize>len);
    store<u8>(data + <usize>len, 0);
    data += <usize>len + 1;
  }
  return out;
}

// ---- metrics (Kong >= 3.8 only: earlier the host calls trap, so they are opt-in)

export const enum MetricType {
  Counter = 0,
  Gauge = 1,
}

/** Defines a metric; returns its id, or -1 when the host refused. */
export function defineMetric(type: MetricType, name: Utf8): i64 {
  store<u32>(OUT, 0, 8);
  if (imports.proxy_define_metric(<i32>type, utf8Bytes(name), <usize>utf8Length(name), OUT + 8) != Result.Ok) return -1;
  return <i64>load<u32>(OUT, 8);
}

export function incrementMetric(id: u32, delta: i64): void {
  imports.proxy_increment_metric(id, delta);
}

