// No shm_kv zone, on the emulator's model of each Kong version (the engine suite checks Kong
// 3.9's engine itself: test/engine/nozone.test.ts). Virtual time: ten minutes of steady traffic.
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { KongWasmHost } from "../emulator/host.ts";
import type { KongVersion } from "../emulator/types.ts";
import { enc, filterModule } from "./helpers/filter.ts";
import { Collector } from "../local/collector.ts";

const module = await filterModule();

async function tenMinutesWithoutZone(version: KongVersion): Promise<{ traps: number; errors: number; served: number; requests: number }> {
  const host = new KongWasmHost({ module, config: JSON.stringify({ application_id: "nozone", api_endpoint: "http://127.0.0.1:9" }), kv: null, kongVersion: version });
  host.start();
  let served = 0;
  const requests = 1200;
  for (let i = 0; i < requests; i++) {
    const r = await host.request({ method: "POST", path: `/r/${i}`, headers: [["Host", "a"]], body: enc(`{"i":${i}}`) }, () => ({ status: 200, headers: [], body: enc("ok") }));
    if (r.status === 200) served++;
    await host.advance(500);
  }
  const traps = host.logs.filter((l) => /Uncaught .*could not resolve namespace/.test(l.message)).length;
  // The whole line: it is written from a UTF-8 template with four values (filter/host.ts LogLine).
  const errors = host.logs.filter((l) => l.level === "error" && ZONE_ERROR.test(l.message)).length;
  await host.stop();
  return { traps, errors, served, requests };
}

const ZONE_ERROR = new RegExp("^moesif: restarted after a trap; no events are queued until shared data answers " +
  "\\((next check in \\d+ s|no further checks until nginx reloads)\\)\\. For 'could not resolve namespace', add a shm_kv zone " +
  "for 'moesif/' keys: nginx_wasm_shm_kv_moesif \\(Kong 3\\.6\\+; nginx_wasm_shm_moesif on 3\\.4/3\\.5\\) or " +
  "nginx_wasm_shm_kv \\(the '\\*' zone, Kong 3\\.7\\+\\), e\\.g\\. 32m$");

describe("no shm_kv zone (emulator)", () => {
  for (const version of ["3.9", "3.6", "3.4"] as KongVersion[]) {
    it(`Kong ${version}: every request served, traps bounded, the setting named`, async () => {
      const r = await tenMinutesWithoutZone(version);
      console.log(`# Kong ${version}: ${r.requests} requests, ${r.traps} traps, ${r.errors} error lines`);
      assert.equal(r.served, r.requests);
      assert.ok(r.errors >= 1);
      // 3.6+: one tick chain more per re-created root counts the failed probes, which stop at
      // MAX_CHAINS (10): 9 traps per worker life. Before 3.6 a trapped tick's chain ends, so
      // nothing counts: one probe a minute.
      const bound = version === "3.4" || version === "3.5" ? 1 + 10 : 9;
      assert.ok(r.traps <= bound, `${r.traps} traps in ten minutes (bound ${bound})`);
    });
  }
});

describe("zone present (emulator)", () => {
  it("an instance re-created after a trap holds its events until its probe, then queues and sends them once", async () => {
    const c = new Collector({ port: 0, quiet: true });
    await c.start();
    const host = new KongWasmHost({ module, config: JSON.stringify({ application_id: "zone", api_endpoint: c.url }), workers: 1 });
    host.start();
    try {
      await host.advance(300);
      host.recycle(0); // a trap: the next instance sees no on_vm_start
      for (let i = 0; i < 20; i++) {
        await host.request({ method: "GET", path: `/h/${i}`, headers: [["Host", "a"], ["X-Moesif-Transaction-Id", `h-${i}`]] }, () => ({ status: 200, headers: [], body: enc("ok") }));
      }
      for (let t = 0; t < 8; t++) await host.advance(1000);
      const ids = (c.events as Array<{ transaction_id?: string }>).map((e) => e.transaction_id);
      assert.equal(ids.length, 20);
      assert.equal(new Set(ids).size, 20);
      assert.ok(host.logs.some((l) => /shared data answers/.test(l.message)));
      assert.ok(!host.logs.some((l) => /Uncaught/.test(l.message)), "no trap");
    } finally {
      await host.stop();
      await c.stop();
    }
  });
});
