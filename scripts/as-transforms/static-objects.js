// AssemblyScript transform (asconfig.json): static objects without a block size.
//
// asc writes every static object (string literal, constant array, …) with its full header:
// mmInfo (the allocator's block size), gcInfo, gcInfo2, rtId, rtSize. The filter's runtime
// (minimal = rt/tcms.ts, with rt/tlsf.ts) reads mmInfo only for heap blocks: static objects
// lie below __heap_base, and __collect, __renew and the allocator test for that before they
// look at a block's size. (The as-pect tests use the incremental runtime and do not load
// this transform.) With mmInfo zero, binaryen's memory packing drops the data segment that held it:
// one segment of ~8 bytes less per static object, −2.7 KB for the ~370 of the filter.
// Plain JavaScript because asc loads it outside tsx; the package (package.json "file:")
// makes it resolvable from asconfig.json.
import { Compiler } from "assemblyscript";
import { Transform } from "assemblyscript/transform";

const addRuntimeMemorySegment = Compiler.prototype.addRuntimeMemorySegment;
if (typeof addRuntimeMemorySegment !== "function") {
  throw new Error("static-objects transform: Compiler#addRuntimeMemorySegment not found (AssemblyScript changed)");
}
Compiler.prototype.addRuntimeMemorySegment = function (buffer) {
  // The buffer starts with the block header; mmInfo is its first field (rt/common.ts BLOCK).
  buffer.fill(0, 0, 4);
  return addRuntimeMemorySegment.call(this, buffer);
};

// The work is done by the patch above, when asc loads this file.
export default class StaticObjectsTransform extends Transform {}
