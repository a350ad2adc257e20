// Builds the filter with the targets of asconfig.json: build/moesif.wasm (release) and
// build/moesif.debug.wasm (debug). CLI: `tsx scripts/build.ts [--release]`.
import { asc } from "./asc.ts";
import { fileURLToPath } from "node:url";

export const RELEASE_WASM = "build/moesif.wasm";
export const DEBUG_WASM = "build/moesif.debug.wasm";

export async function buildFilter(targets: Array<"release" | "debug"> = ["release", "debug"]): Promise<void> {
  for (const target of targets) asc(["assembly/index.ts", "--target", target]);
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
