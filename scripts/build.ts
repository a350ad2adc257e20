// Builds the filter: build/moesif.wasm (release) and build/moesif.debug.wasm (debug), with
// the targets of asconfig.json. `--release` builds only the release module.
import asc from "assemblyscript/asc";

const targets = process.argv.includes("--release") ? ["release"] : ["release", "debug"];

for (const target of targets) {
  const { error, stderr } = await asc.main(["assembly/index.ts", "--target", target], {});
  if (error) {
    console.error(stderr.toString());
    console.error(`build (${target}) failed: ${error.message}`);
    process.exit(1);
  }
}
console.log(`built ${targets.map((t) => (t === "release" ? "build/moesif.wasm" : "build/moesif.debug.wasm")).join(", ")}`);
