// user_id and company_id for the event (SPEC §5). The order follows the Lua plugin
// (reference/moesif.md §6) with its token bugs fixed: the Bearer scheme is matched
// case-insensitively, JWT payloads decode from base64url as well as base64 with or without
// padding, Basic takes the username before the FIRST colon, dotted claim names walk nested
// objects, numeric claims keep their exact source text, object/array claims identify
// nobody, and the company claim is read whenever a token payload exists, also when the user
// came from a header. Header names in IdentityConfig are expected lowercase (the config
// loader normalizes them). Malformed tokens identify nobody; nothing here traps.

import { decodeBase64BytesInto } from "../lib/base64";
import { ByteBuf } from "../lib/bytes";
import { isValidJson, skipJsonWs } from "../lib/json";
import { memberText, parseJsonBytes } from "../lib/json_value";
import { HeaderLookup } from "./headers";

export class IdentityConfig {
  userIdHeader: string = "";
  companyIdHeader: string = "";
  authorizationHeaderNames: Array<string> = ["authorization"];
  userIdField: string = "sub";
  companyIdField: string = "";
}

export class Identity {
  userId: string | null = null;
  companyId: string | null = null;
}

/** Headers Kong auth plugins set for the authenticated consumer, in the Lua plugin's order. */
const CONSUMER_HEADERS: StaticArray<string> = ["x-consumer-custom-id", "x-consumer-username", "x-consumer-id"];

export function identify(cfg: IdentityConfig, req: HeaderLookup, resp: HeaderLookup | null, out: Identity): void {
  let user = present(req, cfg.userIdHeader);
  for (let i = 0; user === null && i < CONSUMER_HEADERS.length; i++) user = present(req, unchecked(CONSUMER_HEADERS[i]));

  let company = present(req, cfg.companyIdHeader);
  if (company === null) company = present(resp, cfg.companyIdHeader);
  const wantCompanyClaim = company === null && cfg.companyIdField.length > 0;

  // The token is decoded only when it can still contribute something.
  if (user === null || wantCompanyClaim) {
    // The header's bytes as the host sent them (no string for a long token).
    const auth = authBytes;
    auth.clear();
    if (auth.capacity > 65536) auth.shrinkTo(512);
    if (firstPresentBytes(req, cfg.authorizationHeaderNames, auth)) {
      const a = auth.ptr;
      let s = 0;
      let e = auth.length;
      while (s < e && isSpace(codeAt(a, s))) s++;
      while (e > s && isSpace(codeAt(a, e - 1))) e--;

      let payload = false;
      const bearer = afterScheme(a, s, e, "bearer");
      if (bearer >= 0) {
        payload = dottedPayload(a, bearer, e, false);
      } else {
        const basic = afterScheme(a, s, e, "basic");
        if (basic >= 0) {
          if (user === null) user = basicUsername(a, basic, e);
        } else {
          // Custom scheme or bare token: as the Lua plugin, segment 2 if dotted, else the whole value.
          payload = dottedPayload(a, s, e, true);
        }
      }
      if (payload && user === null) user = claim(cfg.userIdField);
      if (payload && wantCompanyClaim) company = claim(cfg.companyIdField);
    }
  }

  if (user === null) user = present(resp, cfg.userIdHeader);
  out.userId = user;
  out.companyId = company;
}

// The Authorization value being read (reused: no allocation per token).
const authBytes = new ByteBuf(512);

@inline function codeAt(p: usize, i: i32): u32 {
  return <u32>load<u8>(p + <usize>i);
}

@inline function unitAt(s: string, i: i32): u32 {
  return <u32>load<u16>(changetype<usize>(s) + (<usize>i << 1));
}

@inline function isSpace(c: u32): bool {
  return c == 0x20 || c == 0x09;
}

/** A header's value, with empty values counting as absent. */
function present(h: HeaderLookup | null, name: string): string | null {
  if (h === null || name.length == 0) return null;
  const v = h.get(name);
  return v !== null && v.length > 0 ? v : null;
}

/** Appends the first non-empty value among `names` to `out` (empty on entry); false if none. */
function firstPresentBytes(h: HeaderLookup, names: Array<string>, out: ByteBuf): bool {
  for (let i = 0; i < names.length; i++) {
    if (h.getBytes(unchecked(names[i]), out) && out.length > 0) return true;
    out.clear();
  }
  return false;
}

/** Index of the credentials when v[s, e) starts with `scheme` (lowercase, matched
 *  case-insensitively) and at least one space or tab; else -1. */
function afterScheme(v: usize, s: i32, e: i32, scheme: string): i32 {
  const n = scheme.length;
  if (e - s <= n) return -1;
  for (let i = 0; i < n; i++) {
    const c = codeAt(v, s + i);
    // Setting bit 0x20 maps A-Z onto a-z and maps no other byte onto a letter.
    if ((c | 0x20) != unitAt(scheme, i)) return -1;
  }
  let p = s + n;
  if (!isSpace(codeAt(v, p))) return -1;
  while (p < e && isSpace(codeAt(v, p))) p++;
  return p;
}

// The decoded token payload of the request being identified (reused: no allocation per token).
const payloadBytes = new ByteBuf(512);

/** Decodes the JSON object in segment 2 of a dotted token in bytes v[s, e) into payloadBytes;
 *  with `wholeIfUndotted` an undotted token is itself the payload. False when there is none. */
function dottedPayload(v: usize, s: i32, e: i32, wholeIfUndotted: bool): bool {
  let a = s;
  let b = e;
  let dot = s;
  while (dot < e && codeAt(v, dot) != 0x2e) dot++;
  if (dot < e) {
    a = dot + 1;
    b = a;
    while (b < e && codeAt(v, b) != 0x2e) b++;
  } else if (!wholeIfUndotted) {
    return false;
  }
  if (a >= b) return false;
  const buf = payloadBytes;
  buf.clear();
  if (buf.capacity > 65536) buf.shrinkTo(512);
  if (!decodeBase64BytesInto(v + <usize>a, b - a, buf) || buf.length == 0) return false;
  // A JSON object, validated in full as the DOM parser would (claims are then read in place).
  const end = buf.ptr + <usize>buf.length;
  const p = skipJsonWs(buf.ptr, end);
  return p < end && load<u8>(p) == 0x7b && isValidJson(buf.ptr, buf.length);
}

/** RFC 7617 user-id: the decoded credentials up to the first colon. */
function basicUsername(v: usize, s: i32, e: i32): string | null {
  if (s >= e) return null;
  const buf = payloadBytes;
  buf.clear();
  if (!decodeBase64BytesInto(v + <usize>s, e - s, buf)) return null;
  const n = buf.length;
  for (let i = 0; i < n; i++) {
    if (load<u8>(buf.ptr + <usize>i) == 0x3a) return i > 0 ? String.UTF8.decodeUnsafe(buf.ptr, <usize>i) : null;
  }
  return null;
}

/**
 * A scalar claim of the payload in payloadBytes as text: the exact key first (read in place),
 * then a dotted path through nested objects (the DOM, only for names with a dot).
 */
function claim(name: string): string | null {
  if (name.length == 0) return null;
  let text = memberText(payloadBytes.ptr, payloadBytes.length, name);
  if (text === null && name.includes(".")) {
    const doc = parseJsonBytes(payloadBytes.ptr, payloadBytes.length);
    const v = doc !== null ? doc.path(name) : null;
    if (v !== null) text = v.toText();
  }
  return text !== null && text.length > 0 ? text : null;
}
