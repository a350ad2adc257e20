// Ids, call order and arguments, eof flags, body chunking, Pause semantics.

import { before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { crc32 } from "../../emulator/index.js";
import { host, cbs, hostLines, ok, get, enc, probeModule } from "./helpers.js";

before(async () => {
  await probeModule();
});

describe("ids", () => {
  it("root id is crc32(name + config + entry salt), large, never 1", async () => {
    const a = await host("", { entrySalt: 1 });
    const b = await host("", { entrySalt: 2 });
    assert.equal(a.rootId, crc32("probe" + "" + "1"));
    assert.notEqual(a.rootId, b.rootId, "same name+config in two entries gives two roots");
    assert.ok(a.rootId > 1);
    assert.equal(cbs(a)[0], `CB on_context_create ${a.rootId} 0`);
    await a.stop();
    await b.stop();
  });

  it("HTTP context ids count from 1 per worker", async () => {
    const h = await host("", { workers: 2 });
    const ids = [];
    for (let i = 0; i < 4; i++) ids.push((await h.request(get(), ok())).contextId);
    assert.deepEqual(ids, [1, 1, 2, 2]);
    await h.stop();
  });
});

describe("call order", () => {
  it("create, request headers/body, response headers/body, done, log, delete", async () => {
    const h = await host("");
    await h.request(get("/", [], "hello"), ok("world"));
    const root = h.rootId;
    assert.deepEqual(cbs(h, { context: 1 }), [
      `CB on_context_create 1 ${root}`,
      "CB on_request_headers 1 2 0",
      "CB on_request_body 1 5 1",
      "CB on_response_headers 1 8 0",
      "CB on_response_body 1 5 1",
      "CB on_done 1",
      "CB on_log 1",
      "CB on_delete 1",
    ]);
    await h.stop();
  });

  it("no on_request_body for an empty body; eof=1 on request headers up to 3.6", async () => {
    const h = await host("", { kongVersion: "3.6" });
    await h.request(get(), ok());
    const c = cbs(h, { context: 1 });
    assert.equal(c[1], "CB on_request_headers 1 1 1");
    assert.ok(!c.some((l) => l.startsWith("CB on_request_body")));
    await h.stop();
  });

  it("vm_start once per worker start; configure gets the config size", async () => {
    const h = await host("log: now", { workers: 2 });
    const starts = cbs(h).filter((l) => l.startsWith("CB on_vm_start"));
    assert.equal(starts.length, 2);
    assert.ok(cbs(h).includes(`CB on_configure ${h.rootId} ${"log: now".length}`));
    await h.stop();
  });
});

describe("response body chunks and eof", () => {
  const bodies = async (h: Awaited<ReturnType<typeof host>>) =>
    cbs(h).filter((l) => l.startsWith("CB on_response_body")).map((l) => l.split(" ").slice(3).join(" "));

  it("Content-Length in one chunk: one call with eof=1", async () => {
    const h = await host("");
    await h.request(get(), ok("x".repeat(14)));
    assert.deepEqual(await bodies(h), ["14 1"]);
    await h.stop();
  });

  it("Content-Length in several chunks: no call carries eof, no final call", async () => {
    const h = await host("");
    const r = await h.request(get(), () => ({ status: 200, headers: [], body: enc("y".repeat(20000)) }));
    assert.deepEqual(await bodies(h), ["8192 0", "8192 0", "3616 0"]);
    assert.equal(r.body.length, 20000);
    await h.stop();
  });

  it("chunked: each chunk eof=0, then (0, eof=1)", async () => {
    const h = await host("");
    await h.request(get(), () => ({ status: 200, headers: [], chunks: [enc("abc"), enc("de")] }));
    assert.deepEqual(await bodies(h), ["3 0", "2 0", "0 1"]);
    await h.stop();
  });

  it("204 gets one (0, eof=1) call; HEAD gets none", async () => {
    const h = await host("");
    await h.request(get(), () => ({ status: 204, headers: [] }));
    assert.deepEqual(await bodies(h), ["0 1"]);
    await h.request({ method: "HEAD", path: "/", headers: [] }, ok("body"));
    assert.deepEqual(await bodies(h), ["0 1"], "HEAD adds no call");
    await h.stop();
  });
});

describe("pause", () => {
  it("Pause with nothing pending leaves the request hanging (no upstream, status 0)", async () => {
    const h = await host("request_headers: ret 1");
    let called = false;
    const r = await h.request(get(), () => {
      called = true;
      return { status: 200, headers: [] };
    });
    assert.equal(r.status, 0);
    assert.equal(called, false);
    assert.ok(hostLines(h).some((l) => l.includes("returned Pause with no pending dispatch")));
    assert.ok(cbs(h, { context: 1 }).includes("CB on_log 1"), "client abort still runs the log phase");
    await h.stop();
  });

  it("Pause plus proxy_continue_request goes on", async () => {
    const h = await host("request_headers: continue; ret 1");
    assert.equal((await h.request(get(), ok())).status, 200);
    await h.stop();
  });
});

describe("logging and misc host calls", () => {
  it("proxy_log maps levels 0..5; other levels are BadArgument; set_effective_context is Ok", async () => {
    const h = await host("configure: log 0 t; log 1 d; log 2 i; log 3 w; log 4 e; log 5 c; log 9 x; effctx");
    const lv = h.logs.filter((l) => l.source === "filter" && l.message.length === 1).map((l) => `${l.level}:${l.message}`);
    assert.deepEqual(lv, ["trace:t", "debug:d", "info:i", "warn:w", "error:e", "critical:c"]);
    assert.ok(hostLines(h).some((l) => l.includes("proxy_log bad log_level: 9")));
    assert.ok(cbs(h).length > 0 && h.logs.some((l) => l.message === "effctx rc=0"));
    await h.stop();
  });

  it("reading request headers from a root context is a worker crash (NULL request)", async () => {
    const h = await host("configure: tick 10|tick@1: hdrs 0");
    await h.advance(10);
    assert.equal(h.crashes.length, 1);
    assert.match(h.crashes[0].reason, /outside of a request/);
    // The respawned worker runs vm_start again (a new process).
    assert.equal(cbs(h).filter((l) => l.startsWith("CB on_vm_start")).length, 2);
    await h.stop();
  });
});
