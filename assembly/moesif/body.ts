// How a captured body goes into the event (SPEC §4): JSON embedded byte-exact with masked
// keys removed, anything else base64; gzip/deflate inflated first (capped) unless disabled;
// omitted bodies say why.
import { ByteBuf } from "../lib/bytes";
import { copyJsonMasked } from "../lib/json";
import { encodeBase64 } from "../lib/base64";
import { inflate, InflateResult, Wrapper } from "../lib/inflate";
import { utf8 } from "../lib/utf8";

export const enum Omitted {
  None = 0,
  SizeLimit = 1,
  Unreadable = 2,
  InflateLimit = 3,
}

export function omittedName(o: Omitted): string {
  if (o == Omitted.SizeLimit) return "size_limit";
  if (o == Omitted.Unreadable) return "unreadable";
  if (o == Omitted.InflateLimit) return "inflate_limit";
  return "";
}

/** ASCII case-insensitive substring test on a header value. */
export function containsIgnoreCase(haystack: string, needle: string): bool {
  const n = needle.length;
  const h = haystack.length;
  for (let i = 0; i + n <= h; i++) {
    let j = 0;
    for (; j < n; j++) {
      let c = haystack.charCodeAt(i + j);
      if (c >= 65 && c <= 90) c += 32;
      if (c != needle.charCodeAt(j)) break;
    }
    if (j == n) return true;
  }
  return false;
}

const inflated = new ByteBuf(4096);

/**
 * Writes `,"body":…,"transfer_encoding":…` for a non-empty body into `out`, or returns
 * the reason it was left out (nothing written). `limit` caps the inflated size.
 */
export function writeBody(
  out: ByteBuf, src: usize, len: i32, contentType: string | null, contentEncoding: string | null,
  masks: Array<string>, inflateBodies: bool, limit: i32,
): Omitted {
  let ptr = src;
  let n = len;
  // Compressed bytes that were not inflated (disabled, or not valid gzip/deflate) go out as
  // base64 of the raw bytes, even when they happen to parse as JSON.
  let compressed = false;
  if (contentEncoding !== null) {
    const gzip = containsIgnoreCase(contentEncoding, "gzip");
    if (gzip || containsIgnoreCase(contentEncoding, "deflate")) {
      compressed = true;
      if (inflateBodies) {
        inflated.clear();
        const r = inflate(src, len, gzip ? Wrapper.Gzip : Wrapper.Auto, limit, inflated);
        if (r == InflateResult.LimitExceeded) {
          shrink();
          return Omitted.InflateLimit;
        }
        if (r == InflateResult.Ok) {
          ptr = inflated.ptr;
          n = inflated.length;
          compressed = false;
        }
      }
    }
  }
  if (!compressed && contentType !== null && containsIgnoreCase(contentType, "json")) {
    const mark = out.length;
    out.lit(utf8(',"body":'));
    if (copyJsonMasked(ptr, n, masks, out)) {
      out.lit(utf8(',"transfer_encoding":"json"'));
      shrink();
      return Omitted.None;
    }
    out.length = mark; // not valid JSON after all: base64
  }
  out.lit(utf8(',"body":"'));
  encodeBase64(ptr, n, out);
  out.lit(utf8('","transfer_encoding":"base64"'));
  shrink();
  return Omitted.None;
}

// One very large inflated body must not keep its buffer for the rest of the worker's life.
function shrink(): void {
  inflated.shrinkTo(1 << 20);
}
