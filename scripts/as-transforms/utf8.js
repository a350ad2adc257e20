// AssemblyScript transform: `utf8("text")` becomes the text's UTF-8 bytes as static data.
//
// asc stores string literals as UTF-16 String objects (8 header bytes plus two bytes per
// character). Text that only ever goes out as UTF-8 (log lines, JSON keys of the event, HTTP
// header names) is smaller and needs no encoding at run time as bytes: each call with a
// string literal (or literals joined with `+`) is replaced, after parsing, by
//
//   memory.data<u8>([len & 0xff, len >> 8, ...bytes], 1)
//
// a pointer to a little-endian u16 byte length followed by the bytes (assembly/lib/utf8.ts
// reads it). Any other use of `utf8` is left alone and fails to compile there (the function's
// body is ERROR), so a build without this transform cannot silently differ.
import { LiteralKind, Node, NodeKind, Token } from "assemblyscript";
import { Transform } from "assemblyscript/transform";

const NAME = "utf8";
const MAX_BYTES = 0xffff;

/** The text of a string literal, or of literals joined with `+` (for long lines); null otherwise. */
function literalText(node) {
  if (node.kind === NodeKind.Literal && node.literalKind === LiteralKind.String) return node.value;
  if (node.kind === NodeKind.Binary && node.operator === Token.Plus) {
    const left = literalText(node.left);
    const right = literalText(node.right);
    if (left !== null && right !== null) return left + right;
  }
  if (node.kind === NodeKind.Parenthesized) return literalText(node.expression);
  return null;
}

function isUtf8Call(node) {
  return node.kind === NodeKind.Call && node.expression.kind === NodeKind.Identifier && node.expression.text === NAME &&
    node.args.length === 1 && literalText(node.args[0]) !== null && (node.typeArguments === null || node.typeArguments.length === 0);
}

function staticBytes(call) {
  const range = call.range;
  const bytes = Buffer.from(literalText(call.args[0]), "utf8");
  if (bytes.length > MAX_BYTES) throw new Error(`${range.source.normalizedPath}: utf8() text longer than ${MAX_BYTES} bytes`);
  const values = [bytes.length & 0xff, bytes.length >> 8, ...bytes];
  // globalThis.i64_new comes with the assemblyscript module (its 64-bit integer helper).
  const elements = values.map((v) => Node.createIntegerLiteralExpression(i64_new(v, 0), range));
  return Node.createCallExpression(
    Node.createPropertyAccessExpression(Node.createIdentifierExpression("memory", range), Node.createIdentifierExpression("data", range), range),
    [Node.createNamedType(Node.createSimpleTypeName("u8", range), null, false, range)],
    [Node.createArrayLiteralExpression(elements, range), Node.createIntegerLiteralExpression(i64_new(1, 0), range)],
    range,
  );
}

/** Replaces matching calls anywhere below `node` (a generic walk: AST classes have no visitor). */
function rewrite(node, seen) {
  if (seen.has(node)) return;
  seen.add(node);
  for (const key of Object.keys(node)) {
    if (key === "range" || key === "parent") continue;
    const value = node[key];
    if (Array.isArray(value)) {
      for (let i = 0; i < value.length; i++) {
        const item = value[i];
        if (item instanceof Node) {
          if (isUtf8Call(item)) value[i] = staticBytes(item);
          else rewrite(item, seen);
        }
      }
    } else if (value instanceof Node) {
      if (isUtf8Call(value)) node[key] = staticBytes(value);
      else rewrite(value, seen);
    }
  }
}

export default class Utf8Transform extends Transform {
  afterParse(parser) {
    const seen = new Set();
    // The filter's own sources only: library files never call utf8().
    for (const source of parser.sources) {
      if (!source.normalizedPath.startsWith("~lib/")) rewrite(source, seen);
    }
  }
}
