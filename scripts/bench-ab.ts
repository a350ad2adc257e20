// A/B of two builds of the filter in the emulator: the scenarios of `npm run bench` (reference
// request, the same without the JWT, 100 KB JSON and 10 KB gzip responses) with both modules
// in the same interleaved blocks (scripts/bench/cpu.ts), in both orders, `--runs` times. The
// module that runs second in a block tends to be a little faster, hence both orders. Prints the
// median µs per request of each run and B/A per run and overall (geometric mean).
// Usage: npx tsx scripts/bench-ab.ts before.wasm after.wasm [--runs N]
import { runScenario, type Scenario } from "./bench/cpu.ts";
import { benchConfig, gzipJsonBody, gzipResponse, jsonBody, jsonResponse, referenceRequest } from "./bench/fixtures.ts";

const args = process.argv.slice(2);
const runsAt = args.indexOf("--runs");
const runs = runsAt >= 0 ? Number(args[runsAt + 1]) : 2;
const [a, b] = args.filter((x, i) => !x.startsWith("--") && i !== runsAt + 1);
if (!a || !b || !(runs > 0)) {
  console.error("usage: npx tsx scripts/bench-ab.ts A.wasm B.wasm [--runs N]");
  process.exit(2);
}

const POOL = 1000;
const withJwt = Array.from({ length: POOL }, (_, i) => referenceRequest(i, true));
const noJwt = Array.from({ length: POOL }, (_, i) => referenceRequest(i, false));
const config = benchConfig("http://collector.test:80");
const small = jsonResponse(jsonBody(1024, 2));
const big = jsonResponse(jsonBody(100_000, 3));
const gz = gzipResponse(gzipJsonBody(10 * 1024, 4).gz);
const scenarios: Array<Omit<Scenario, "filters" | "config">> = [
  { name: "reference", request: (i) => withJwt[i % POOL], response: small, warmup: 1000, measured: 10_000, block: 500, perTick: 100 },
  { name: "no JWT", request: (i) => noJwt[i % POOL], response: small, warmup: 1000, measured: 10_000, block: 500, perTick: 100 },
  { name: "100 KB JSON response", request: (i) => withJwt[i % POOL], response: big, warmup: 100, measured: 600, block: 100, perTick: 5 },
  { name: "10 KB gzip response", request: (i) => withJwt[i % POOL], response: gz, warmup: 100, measured: 600, block: 100, perTick: 5 },
];

const ratios = new Map<string, number[]>(scenarios.map((s) => [s.name, []]));
for (let run = 0; run < runs; run++) {
  for (const order of [["A", "B"], ["B", "A"]]) {
    const filters = order.map((name) => ({ name, wasm: name === "A" ? a : b }));
    for (const s of scenarios) {
      const r = await runScenario({ ...s, filters, config }, () => {});
      const median = (name: string) => r.filters.find((f) => f.filter === name)!.median;
      ratios.get(s.name)!.push(median("B") / median("A"));
      console.log(`run ${run + 1} (${order.join(" then ")}) ${s.name}: A ${median("A").toFixed(2)} µs, B ${median("B").toFixed(2)} µs, B/A ${(median("B") / median("A")).toFixed(3)}`);
    }
  }
}
for (const [name, rs] of ratios) {
  const geo = Math.exp(rs.reduce((sum, r) => sum + Math.log(r), 0) / rs.length);
  console.log(`${name}: B/A ${geo.toFixed(3)} (runs ${Math.min(...rs).toFixed(3)}–${Math.max(...rs).toFixed(3)})`);
}
