// Runs the AssemblyScript compiler in a plain Node process. Loading the compiler inside a
// tsx process is very slow (tsx transforms binaryen's multi-megabyte JS), so everything
// that compiles AssemblyScript from TypeScript goes through here.
import { spawnSync } from "node:child_process";
import { createRequire } from "node:module";
import { dirname, join } from "node:path";

const require = createRequire(import.meta.url);
const ASC = join(dirname(require.resolve("assemblyscript/package.json")), "bin", "asc.js");

/** Compiles with the given asc arguments; throws with the compiler's output on failure. */
export function asc(args: string[], cwd = process.cwd()): void {
  const r = spawnSync(process.execPath, [ASC, ...args], { cwd, encoding: "utf8" });
  if (r.status !== 0) throw new Error(`asc ${args.join(" ")} failed:\n${r.stdout}${r.stderr}`);
}
