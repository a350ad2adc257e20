// Compiles the AssemblyScript probe filters in test/fixtures/probes/ into build/probes/*.wasm
// (the compiler runs in a plain Node process: see scripts/asc.ts). Probes import only env.proxy_* and WASI functions:
// `--use abort=<probe>/probeAbort` replaces the default env.abort import.

import { existsSync, mkdirSync, readdirSync, renameSync, rmSync, statSync } from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { asc } from "../scripts/asc.ts";

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");
export const PROBE_SRC = path.join(ROOT, "test/fixtures/probes");
export const PROBE_OUT = path.join(ROOT, "build/probes");

/** Builds missing or outdated probes; returns name → .wasm path. */
export async function buildProbes(force = false): Promise<Record<string, string>> {
  mkdirSync(PROBE_OUT, { recursive: true });
  const self = statSync(fileURLToPath(import.meta.url)).mtimeMs;
  const out: Record<string, string> = {};
  for (const file of readdirSync(PROBE_SRC).filter((f) => f.endsWith(".ts"))) {
    const name = file.slice(0, -3);
    const src = path.join(PROBE_SRC, file);
    const wasm = path.join(PROBE_OUT, `${name}.wasm`);
    out[name] = wasm;
    if (!force && existsSync(wasm) && statSync(wasm).mtimeMs >= Math.max(statSync(src).mtimeMs, self)) continue;
    // Parallel test processes may build at once: write aside, then rename atomically.
    const tmp = path.join(PROBE_OUT, `${name}.${process.pid}.tmp.wasm`);
    try {
      asc([
        path.relative(ROOT, src),
        "--config", path.relative(ROOT, path.join(PROBE_SRC, "asconfig.json")),
        "--outFile", path.relative(ROOT, tmp),
        "--runtime", "incremental",
        "--use", `abort=${path.relative(ROOT, src).slice(0, -3)}/probeAbort`,
        "--exportStart", "_initialize",
        "--optimizeLevel", "1",
      ], ROOT);
    } catch (e) {
      rmSync(tmp, { force: true });
      throw new Error(`probe ${name} failed to compile: ${(e as Error).message}`);
    }
    renameSync(tmp, wasm);
  }
  return out;
}

if (process.argv[1] && fileURLToPath(import.meta.url) === path.resolve(process.argv[1])) {
  buildProbes(true).then(
    (r) => console.log(Object.values(r).join("\n")),
    (e: Error) => {
      console.error(e.message);
      process.exit(1);
    },
  );
}
