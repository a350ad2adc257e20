// Each fix of patches/@solo-io+proxy-runtime+0.1.8.patch, shown through a filter built on the
// patched runtime (test/fixtures/runtime-probe) running in the emulator.
import { before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { mkdirSync, readFileSync } from "node:fs";
import { asc } from "../scripts/asc.ts";
import { KongWasmHost } from "../emulator/index.ts";
import { functionImports } from "./helpers/wasm-imports.ts";

const OUT = "build/test/runtime-probe.wasm";
let module: WebAssembly.Module;
let bin: Uint8Array<ArrayBuffer>;

before(() => {
  mkdirSync("build/test", { recursive: true });
  asc(["test/fixtures/runtime-probe/index.ts", "-o", OUT, "--runtime", "incremental", "--exportStart", "_initialize",
    "--use", "abort=abort_proc_exit", "-O2"]);
  bin = new Uint8Array(readFileSync(OUT));
  module = new WebAssembly.Module(bin);
});

function probeLines(host: KongWasmHost): string[] {
  return host.logs.filter((l) => l.message.startsWith("probe: ")).map((l) => l.message.slice(7));
}

async function run(headers: Array<[string, string]> = []) {
  const host = new KongWasmHost({ module, config: '{"a":"\\/x"}', queues: { probeq: 65536 } });
  host.dispatchHandler = () => ({ status: 204, headers: [], body: new Uint8Array() });
  host.start();
  const result = await host.request({ method: "GET", path: "/", headers: [["Host", "h"], ["X-Empty", ""], ["X-Full", "full"], ...headers] }, () => ({ status: 200, headers: [] }));
  return { host, result };
}

describe("patched proxy-runtime", () => {
  it("links: ABI 0.2.1 export, no wasi_unstable / env.abort / missing host functions", () => {
    const names = functionImports(bin).map((i) => `${i.module}.${i.name}`);
    assert.ok(!names.some((n) => n.startsWith("wasi_unstable.")));
    assert.ok(!names.includes("env.abort"));
    assert.ok(!names.includes("env.proxy_get_buffer_status") && !names.includes("env.proxy_get_header_map_size"));
    const exports = WebAssembly.Module.exports(module).map((e) => e.name);
    assert.ok(exports.includes("proxy_abi_version_0_2_1") && !exports.includes("proxy_abi_version_0_2_0"));
    assert.ok(exports.includes("malloc"));
  });

  it("finds the root context although plugin_root_id is \"0\", and reads the configuration through the size pointer", async () => {
    const { host } = await run();
    assert.ok(probeLines(host).includes('config={"a":"\\/x"}'), probeLines(host).join("\n"));
    assert.ok(probeLines(host).includes("tick=0"));
  });

  it("does not reuse a stale buffer for empty values, and a missing property is empty, not a trap", async () => {
    const { host, result } = await run();
    assert.equal(result.status, 200);
    const lines = probeLines(host);
    assert.ok(lines.includes("empty1=[] full=[full] empty2=[]"), lines.join("\n"));
    assert.ok(lines.includes("missing-property=[]"));
  });

  it("shared data: create-only cas 0, update with the cas, delete with the cas", async () => {
    const { host } = await run();
    const lines = probeLines(host);
    assert.ok(lines.includes("kv create=0 get=v1 cas=1"), lines.join("\n"));
    assert.ok(lines.includes("kv create-again=8 (CasMismatch)"));
    assert.ok(lines.includes("kv update=0 get=v2 cas=2"));
    assert.ok(lines.includes("kv delete=0 after=1"));
  });

  it("shared queues return their token", async () => {
    const { host } = await run();
    const lines = probeLines(host);
    assert.ok(lines.includes("queue register=0 token=0") || lines.some((l) => /^queue register=0 token=\d+$/.test(l)), lines.join("\n"));
    assert.ok(lines.includes("queue dequeue=0 data=item"));
  });

  it("http calls keep their callback (typed with BaseContext) and deliver it", async () => {
    const { host } = await run();
    await host.advance(1100);
    const lines = probeLines(host);
    assert.ok(lines.includes("dispatch=0 pending=1"), lines.join("\n"));
    assert.ok(lines.some((l) => l.startsWith("callback from root headers=")), lines.join("\n"));
  });

  it("abort logs and traps (no proc_exit): the request gets a 500", async () => {
    const { host, result } = await run([["X-Abort", "1"]]);
    assert.equal(result.status, 500);
    assert.equal(result.trapped, true);
    assert.ok(host.logs.some((l) => l.level === "critical" && l.message.includes("probe abort")));
  });

  it("builds no debug strings on the request path", async () => {
    const { host } = await run();
    assert.equal(host.logs.filter((l) => l.level === "debug" && l.source !== "host").length, 0);
  });
});
