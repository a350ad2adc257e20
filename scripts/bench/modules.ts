// The three modules the benchmark compares, built with the same toolchain: the filter
// (scripts/build.ts, asconfig.json's release target) and the comparison filters of bench/
// (bench/asconfig.json: the same options). A module is rebuilt only when a source it
// depends on is newer than it, or when `force` is set (compiling takes tens of seconds).
import { existsSync, readdirSync, statSync } from "node:fs";
import { join } from "node:path";
import { asc } from "../asc.ts";
import { buildFilter, RELEASE_WASM } from "../build.ts";

export const NOOP_WASM = "build/bench/noop.wasm";
export const READONLY_WASM = "build/bench/readonly.wasm";

const RUNTIME_DIR = "node_modules/@solo-io/proxy-runtime/assembly";

function newestMtime(paths: string[]): number {
  let newest = 0;
  for (const p of paths) {
    if (!existsSync(p)) continue;
    const st = statSync(p);
    if (st.isDirectory()) newest = Math.max(newest, newestMtime(readdirSync(p).filter((n) => n !== "__tests__").map((n) => join(p, n))));
    else newest = Math.max(newest, st.mtimeMs);
  }
  return newest;
}

function stale(out: string, sources: string[]): boolean {
  return !existsSync(out) || statSync(out).mtimeMs < newestMtime(sources);
}

export interface Modules {
  moesif: string;
  noop: string;
  readonly: string;
}

/** Builds what is missing or out of date; returns the wasm paths and what was built. */
export async function ensureModules(force: boolean, say: (line: string) => void): Promise<Modules & { built: string[] }> {
  const built: string[] = [];
  if (force || stale(RELEASE_WASM, ["assembly", RUNTIME_DIR, "asconfig.json", "scripts/as-transforms"])) {
    say(`building ${RELEASE_WASM} …`);
    await buildFilter(["release"]);
    built.push(RELEASE_WASM);
  }
  for (const [src, out] of [
    ["bench/noop.ts", NOOP_WASM],
    ["bench/readonly.ts", READONLY_WASM],
  ]) {
    if (force || stale(out, [src, RUNTIME_DIR, "bench/asconfig.json"])) {
      say(`building ${out} …`);
      asc([src, "--config", "bench/asconfig.json", "--outFile", out]);
      built.push(out);
    }
  }
  return { moesif: RELEASE_WASM, noop: NOOP_WASM, readonly: READONLY_WASM, built };
}
