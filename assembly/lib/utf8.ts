// Text kept as UTF-8 static data. String literals are UTF-16 objects in the module (two bytes
// per character plus a header); text that only ever leaves as UTF-8 — log lines, the event's
// JSON keys, host property paths — is written `utf8("…")` instead and costs one byte per
// character, and nothing to encode at run time.

/** Address of static UTF-8 text: a little-endian u16 byte length, then the bytes. */
export type Utf8 = usize;

/**
 * The literal's UTF-8 bytes as static data. Each call with a string literal is replaced at
 * compile time by scripts/as-transforms/utf8.js (listed in asconfig.json and
 * as-pect.asconfig.json); any other use does not compile.
 */
// @ts-ignore: the transform replaces every call, so the body is never compiled
export function utf8(text: string): Utf8 {
  ERROR("utf8() takes one string literal and needs the utf8 transform (scripts/as-transforms/utf8.js)");
}

/** Byte length of static UTF-8 text. */
@inline export function utf8Length(text: Utf8): i32 {
  return <i32>load<u16>(text);
}

/** Address of the first byte of static UTF-8 text. */
@inline export function utf8Bytes(text: Utf8): usize {
  return text + 2;
}
