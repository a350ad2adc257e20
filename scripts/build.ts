// Builds the filter with the targets of asconfig.json: build/moesif.wasm (release) and
// build/moesif.debug.wasm (debug). CLI: `tsx scripts/build.ts [--release]`.
import { spawnSync } from "node:child_process";
import { createRequire } from "node:module";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { asc } from "./asc.ts";

export const RELEASE_WASM = "build/moesif.wasm";
export const DEBUG_WASM = "build/moesif.debug.wasm";

export async function buildFilter(targets: Array<"release" | "debug"> = ["release", "debug"]): Promise<void> {
  for (const target of targets) {
    asc(["assembly/index.ts", "--target", target]);
    if (target === "release") shrink(RELEASE_WASM);
  }
}

// The features asc emits (its defaults plus asconfig.json's "enable"): wasm-opt must neither
// reject them nor introduce others the engine might lack.
const FEATURES = ["--enable-sign-ext", "--enable-mutable-globals", "--enable-nontrapping-float-to-int", "--enable-bulk-memory", "--enable-simd"];

/**
 * One more binaryen pass for size (`wasm-opt -Oz`, binaryen's JS build that AssemblyScript
 * already installs): −1.6 KB on asc's -O3 output, speed-neutral in the emulator A/B
 * (BENCHMARKS.md, "Module size"), and what keeps the module under 100,000 B.
 */
function shrink(wasm: string): void {
  const require = createRequire(import.meta.url);
  const wasmOpt = join(dirname(require.resolve("binaryen/package.json")), "bin", "wasm-opt");
  const r = spawnSync(process.execPath, [wasmOpt, "-Oz", ...FEATURES, wasm, "-o", wasm], { encoding: "utf8" });
  if (r.status !== 0) throw new Error(`wasm-opt -Oz ${wasm} failed:\n${r.stdout}${r.stderr}`);
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const targets: Array<"release" | "debug"> = process.argv.includes("--release") ? ["release"] : ["release", "debug"];
  try {
    await buildFilter(targets);
    console.log(`built ${targets.map((t) => (t === "release" ? RELEASE_WASM : DEBUG_WASM)).join(", ")}`);
  } catch (e) {
    console.error((e as Error).message);
    process.exit(1);
  }
}
