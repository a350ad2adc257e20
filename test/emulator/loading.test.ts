// Module loading: the engine's import surface, signatures, required exports, NYI stubs.

import { before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { KongWasmHost, encodeModule, type ModuleSpec } from "../../emulator/index.js";
import { host, msgs, hostLines, ok, get, probeModule } from "./helpers.js";

before(async () => {
  await probeModule();
});

/** A filter-shaped module: the required exports plus `imports`, nothing else. */
function filterWith(imports: ModuleSpec["imports"], skipExport?: string): WebAssembly.Module {
  const n = imports?.length ?? 0;
  const funcs: Array<{ name: string; sig: string; code: number[] }> = [
    { name: "proxy_abi_version_0_2_1", sig: ":", code: [] },
    { name: "malloc", sig: "i:i", code: [0x41, 0x10] },
    { name: "proxy_on_context_create", sig: "ii:", code: [] },
    { name: "proxy_on_vm_start", sig: "ii:i", code: [0x41, 0x01] },
    { name: "proxy_on_configure", sig: "ii:i", code: [0x41, 0x01] },
  ].filter((f) => f.name !== skipExport);
  return new WebAssembly.Module(
    encodeModule({
      imports,
      functions: funcs.map((f) => ({ sig: f.sig, code: f.code })),
      memoryPages: 1,
      exports: [
        ...funcs.map((f, i) => ({ name: f.name, kind: "func" as const, index: n + i })),
        { name: "memory", kind: "memory", index: 0 },
      ],
    }),
  );
}

const start = (module: WebAssembly.Module) => () => new KongWasmHost({ module, config: "" }).start();

describe("loading", () => {
  it("a module with only known env/WASI imports starts", () => {
    const m = filterWith([
      { module: "env", name: "proxy_log", sig: "iii:i" },
      { module: "env", name: "proxy_get_log_level", sig: "ii:i" },
      { module: "wasi_snapshot_preview1", name: "proc_exit", sig: "i:" },
      { module: "wasi_snapshot_preview1", name: "random_get", sig: "ii:i" },
    ]);
    assert.doesNotThrow(start(m));
  });

  for (const [mod, name, sig] of [
    ["env", "abort", "iiii:"],
    ["env", "trace", "iiiddddd:"],
    ["env", "seed", ":d"],
    ["env", "proxy_get_buffer_status", "iii:i"],
    ["env", "proxy_get_header_map_size", "ii:i"],
  ]) {
    it(`import ${mod}.${name} fails the link`, () => {
      // encodeModule knows i32/i64 only; the signature does not matter for a missing name.
      const m = filterWith([{ module: mod, name, sig: sig.replace(/d/g, "I") }]);
      assert.throws(start(m), new RegExp(`failed importing "${mod}.${name}": missing host function.*incompatible host interface`));
    });
  }

  it("wasi_unstable is an unknown module", () => {
    const m = filterWith([{ module: "wasi_unstable", name: "proc_exit", sig: "i:" }]);
    assert.throws(start(m), /cannot resolve unknown module "wasi_unstable"/);
  });

  it("proxy_get_log_level with the spec's 1-param signature fails to instantiate", () => {
    const m = filterWith([{ module: "env", name: "proxy_get_log_level", sig: "i:i" }]);
    assert.throws(start(m), /failed instantiating/);
  });

  it("required exports are checked", () => {
    assert.throws(start(filterWith([], "malloc")), /filter missing malloc/);
    assert.throws(start(filterWith([], "proxy_on_configure")), /missing one of: on_context_create, on_vm_start/);
    assert.throws(start(filterWith([], "proxy_abi_version_0_2_1")), /unknown ABI/);
  });

  it("on_configure returning 0 fails start like the fatal worker exit", async () => {
    await assert.rejects(host("configure: ret 0"), /configure failure.*fatal code 2/);
  });

  for (const fn of [
    "get_log_level",
    "done",
    "continue_response",
    "get_status",
    "resolve_shared_queue",
    "clear_route_cache",
    "grpc_cancel",
    "call_foreign_function",
  ]) {
    it(`NYI proxy_${fn} traps when called (500 in a request)`, async () => {
      const h = await host(`request_headers: nyi ${fn}`);
      const r = await h.request(get(), ok());
      assert.equal(r.status, 500);
      assert.ok(hostLines(h).some((l) => l.includes(`host trap (function not yet implemented): proxy_${fn}`)));
      assert.ok(!msgs(h).some((m) => m.startsWith(`nyi ${fn}`)), "the call must not return");
      await h.stop();
    });
  }

  it("metrics trap before Kong 3.8 and work from 3.8", async () => {
    const old = await host("request_headers: metric hits", { kongVersion: "3.7" });
    assert.equal((await old.request(get(), ok())).status, 500);
    await old.stop();
    const h = await host("request_headers: metric hits", { kongVersion: "3.8" });
    assert.equal((await h.request(get(), ok())).status, 200);
    assert.ok(msgs(h).includes("metric rc=0,0,0 v=2"));
    await h.stop();
  });

  it("calls _initialize and WASI random_get works", async () => {
    const h = await host("configure: random");
    assert.ok(msgs(h).includes("random rc=0 nonzero=1"));
    await h.stop();
  });
});
