// Runs every test: a typecheck, the AssemblyScript unit tests (as-pect) and the Node suites
// (node:test, which drive the compiled filter through the emulator), then, when Kong's engine
// is configured (KONG_WASM_ENGINE), the engine suites again on the engine; prints one line
// "N passed, N failed" counting all of them. Exits non-zero when anything failed.
// `--engine`: only the build and the engine pass (npm run test:engine).
import { spawnSync } from "node:child_process";
import { mkdirSync, readdirSync, readFileSync, statSync } from "node:fs";
import { join } from "node:path";
import { engineBinary, engineSkipReason } from "../engine/locate.ts";

// Suites written against test/helpers/gateway.ts that run again with TEST_GATEWAY=engine
// (their emulator-only tests skip there, saying why; test/ENGINE.md lists them). test/engine/
// holds engine-only tests.
const ENGINE_SUITES = [
  "test/engine",
  "test/capture.test.ts",
  "test/governance.test.ts",
  "test/delivery.test.ts",
  "test/multiworker.test.ts",
];
const engineOnlyRun = process.argv.includes("--engine");
const fileArgs = process.argv.slice(2).filter((a) => !a.startsWith("--"));

const stripAnsi = (s: string) => s.replace(/\x1b\[[0-9;]*m/g, "");

// A suite that never ends (a leaked handle) must not hang CI: each step has a time limit.
const STEP_TIMEOUT_MS = 25 * 60 * 1000;

function run(cmd: string, args: string[], env: NodeJS.ProcessEnv = {}) {
  const r = spawnSync(cmd, args, { encoding: "utf8", env: { ...process.env, ...env }, maxBuffer: 256 * 1024 * 1024, timeout: STEP_TIMEOUT_MS });
  if (r.error) console.log(`${cmd} ${args[0] ?? ""}: ${r.error.message}`);
  process.stdout.write(r.stdout ?? "");
  process.stderr.write(r.stderr ?? "");
  return { status: r.status ?? 1, out: stripAnsi((r.stdout ?? "") + (r.stderr ?? "")) };
}

function findTests(dir: string): string[] {
  const out: string[] = [];
  for (const name of readdirSync(dir)) {
    const p = join(dir, name);
    if (name === "fixtures" || name === "node_modules") continue;
    if (statSync(p).isDirectory()) out.push(...findTests(p));
    else if (name.endsWith(".test.ts")) out.push(p);
  }
  return out.sort();
}

let passed = 0;
let failed = 0;

const build = run("npx", ["tsx", "scripts/build.ts"]);
if (build.status !== 0) {
  console.log("build failed");
  console.log(`${passed} passed, ${failed + 1} failed`);
  process.exit(1);
}

/** One node:test run; adds its pass/fail counts. */
function nodeTests(files: string[], tap: string, env: NodeJS.ProcessEnv = {}): void {
  const node = run("node", [
    "--import", "tsx", "--test", "--test-concurrency=2",
    "--test-reporter=spec", "--test-reporter-destination=stdout",
    "--test-reporter=tap", `--test-reporter-destination=${tap}`,
    ...files,
  ], env);
  const tapText = readFileSync(tap, "utf8");
  const np = /^# pass (\d+)/m.exec(tapText);
  const nf = /^# fail (\d+)/m.exec(tapText);
  passed += np ? Number(np[1]) : 0;
  failed += nf ? Number(nf[1]) : 0;
  if (node.status !== 0 && (!nf || Number(nf[1]) === 0)) failed += 1;
}

mkdirSync(".tmp", { recursive: true });

if (!engineOnlyRun) {
  // The TypeScript of the emulator, engine gateway, local runner, scripts and tests type-checks: one check.
  const tsc = run("npx", ["tsc", "-p", "tsconfig.json"]);
  if (tsc.status === 0) passed += 1;
  else {
    failed += 1;
    console.log("typecheck failed");
  }

  // as-pect: "[Tests]: P / T"
  const asp = run("npx", ["asp"]);
  const m = /\[Tests\]:\s*(\d+)\s*\/\s*(\d+)/.exec(asp.out);
  if (m) {
    passed += Number(m[1]);
    failed += Number(m[2]) - Number(m[1]);
  }
  if (!m || asp.status !== 0) {
    if (!m || Number(m[2]) === Number(m[1])) failed += 1; // a compile error counts as a failure
    console.log("as-pect run failed");
  }

  // Engine-only files run in the engine pass below.
  const files = fileArgs.length > 0 ? fileArgs : findTests("test").filter((f) => !f.startsWith(join("test", "engine")));
  nodeTests(files, ".tmp/node-tests.tap");
}

if (engineBinary()) {
  console.log(`\nengine pass: ${ENGINE_SUITES.join(", ")} on ${engineBinary()}`);
  const files = ENGINE_SUITES.flatMap((p) => (p.endsWith(".test.ts") ? [p] : findTests(p)));
  nodeTests(files, ".tmp/engine-tests.tap", { TEST_GATEWAY: "engine" });
} else {
  console.log(`\n${engineSkipReason()}`);
  if (engineOnlyRun) failed += 1;
}

console.log(`${passed} passed, ${failed} failed`);
process.exit(failed > 0 ? 1 : 0);
