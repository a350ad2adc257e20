// Runs every test: a typecheck, the AssemblyScript unit tests (as-pect) and the Node suites
// (node:test, which drive the compiled filter through the emulator), then prints one line
// "N passed, N failed" counting both. Exits non-zero when anything failed.
import { spawnSync } from "node:child_process";
import { mkdirSync, readdirSync, readFileSync, statSync } from "node:fs";
import { join } from "node:path";

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

// The TypeScript of the emulator, local runner, scripts and tests type-checks: one check.
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

mkdirSync(".tmp", { recursive: true });
const files = process.argv.slice(2).length > 0 ? process.argv.slice(2) : findTests("test");
const tap = ".tmp/node-tests.tap";
const node = run("node", [
  "--import", "tsx", "--test", "--test-concurrency=2",
  "--test-reporter=spec", "--test-reporter-destination=stdout",
  "--test-reporter=tap", `--test-reporter-destination=${tap}`,
  ...files,
]);
const tapText = readFileSync(tap, "utf8");
const np = /^# pass (\d+)/m.exec(tapText);
const nf = /^# fail (\d+)/m.exec(tapText);
passed += np ? Number(np[1]) : 0;
failed += nf ? Number(nf[1]) : 0;
if (node.status !== 0 && (!nf || Number(nf[1]) === 0)) failed += 1;

console.log(`${passed} passed, ${failed} failed`);
process.exit(failed > 0 ? 1 : 0);
