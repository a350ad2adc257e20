// HTTP dispatch: phases, wire format on real sockets, callbacks, failures per version,
// timeouts on the virtual clock, the two crash patterns, the in-process handler.

import { before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { DispatchError, type DispatchRequest } from "../../emulator/index.js";
import { host, msgs, cbs, hostLines, ok, scripted, rawServer, closedPort, probeModule, dec } from "./helpers.js";

before(async () => {
  await probeModule();
});

const REPLY = "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nX-Collector: yes\r\nContent-Length: 7\r\n\r\ncol-ok\n";

describe("dispatch on real sockets", () => {
  it("tick dispatch: wire format, callback args and response map (3.9)", async () => {
    const srv = await rawServer(REPLY);
    const h = await host(
      `configure: tick 1000|tick@1: dispatch 127.0.0.1:${srv.port} POST /collect?x=1 collector.example 0 probe-body|callback: hdrs 6; body 4 0 100`,
    );
    await h.advance(1000);
    await h.settle();
    const raw = srv.requests[0];
    assert.match(raw, /^POST \/collect\?x=1 HTTP\/1\.1\r\nHost: collector\.example\r\nConnection: close\r\nContent-Length: 10\r\nx-probe: 1\r\n\r\nprobe-body$/);
    assert.ok(!/user-host|keep-alive/.test(raw), "user Host/Connection dropped");
    const m = msgs(h);
    assert.ok(m.includes("dispatch rc=0 token=0"));
    assert.ok(m.includes(`CB on_http_call_response ${h.rootId} 0 3 7 0`));
    assert.ok(m.includes("hdrs 6 rc=0 n=5 :status=200 :dispatch_status=ok Content-Type=text/plain X-Collector=yes Content-Length=7"));
    assert.ok(m.includes("body 4 rc=0 len=7 data=col-ok\n"));
    await h.stop();
    await srv.close();
  });

  it("without :authority the Host header is the target", async () => {
    const srv = await rawServer(REPLY);
    const h = await host(`configure: tick 10|tick@1: dispatch 127.0.0.1:${srv.port} GET /x ~ 0`);
    await h.advance(10);
    await h.settle();
    assert.match(srv.requests[0], new RegExp(`Host: 127\\.0\\.0\\.1:${srv.port}\\r\\n`));
    await h.stop();
    await srv.close();
  });

  it("request-path dispatch + Pause: the request waits for the callback, then goes upstream", async () => {
    const srv = await rawServer(REPLY);
    const h = await host("");
    const r = await h.request(
      scripted(`request_headers: dispatch 127.0.0.1:${srv.port} GET /auth ~ 0; ret 1|callback: hget 6 :status`),
      ok("upstream"),
    );
    assert.equal(r.status, 200);
    assert.equal(dec(r.body), "upstream");
    const order = msgs(h, { context: 1 }).filter((l) => /CB on_http_call_response|CB on_response_headers|hget/.test(l));
    assert.deepEqual(order, [`CB on_http_call_response ${h.rootId} 0 3 7 0`, "hget :status rc=0 v=200", "CB on_response_headers 1 8 0"]);
    await h.stop();
    await srv.close();
  });

  it("connection refused: 3.9 calls back with :dispatch_status only; 3.8 only logs", async () => {
    const port = await closedPort();
    const script = `configure: tick 10|tick@1: dispatch 127.0.0.1:${port} GET /x ~ 0|callback: hdrs 6`;
    const h9 = await host(script);
    await h9.advance(10);
    await h9.settle();
    assert.ok(msgs(h9).includes(`CB on_http_call_response ${h9.rootId} 0 0 0 0`));
    assert.ok(msgs(h9).includes("hdrs 6 rc=0 n=1 :dispatch_status=broken connection"));
    assert.ok(hostLines(h9).some((l) => l.includes("dispatch failed: tcp socket - Connection refused")));
    await h9.stop();
    const h8 = await host(script, { kongVersion: "3.8" });
    await h8.advance(10);
    await h8.settle();
    assert.ok(!cbs(h8).some((l) => l.startsWith("CB on_http_call_response")));
    assert.ok(hostLines(h8).some((l) => l.includes("dispatch failed")));
    await h8.stop();
  });

  it("timeout on the virtual clock, and targets other than 127.0.0.1 fail to resolve", async () => {
    const silent = await rawServer(null);
    const h = await host(
      `configure: tick 100|tick@1: dispatch 127.0.0.1:${silent.port} GET /slow ~ 1000; dispatch collector.example GET /x ~ 0|callback: hget 6 :dispatch_status`,
    );
    await h.advance(100);
    await h.settle();
    assert.ok(msgs(h).includes("hget :dispatch_status rc=0 v=resolver failure"));
    assert.ok(!msgs(h).includes("hget :dispatch_status rc=0 v=timeout"));
    await h.advance(1000);
    assert.ok(msgs(h).includes("hget :dispatch_status rc=0 v=timeout"));
    await h.stop();
    await silent.close();
  });
});

describe("dispatch rules", () => {
  it("dispatch from on_log traps; on_delete is not called", async () => {
    const h = await host("log: dispatch 127.0.0.1:1 GET /x ~ 0");
    const r = await h.request(scripted(""), ok());
    assert.equal(r.status, 200);
    assert.ok(hostLines(h).some((l) => l.includes('can only send HTTP dispatch during "on_request_headers"')));
    assert.ok(!cbs(h, { context: 1 }).includes("CB on_delete 1"));
    await h.stop();
  });

  it("dispatch in on_configure traps: start fails", async () => {
    await assert.rejects(host("configure: dispatch 127.0.0.1:1 GET /x ~ 0"), /fatal/);
  });

  it("missing :path: InternalFailure + error in on_tick (token consumed), trap in a request", async () => {
    const h = await host("configure: tick 10|tick@1: dispatch 127.0.0.1:1 GET ~ ~ 0; dispatch 127.0.0.1:1 ~ /x ~ 0; dispatch 127.0.0.1:1 GET /x ~ 0");
    h.dispatchHandler = () => ({ status: 204, headers: [] });
    await h.advance(10);
    await h.settle();
    assert.deepEqual(
      msgs(h).filter((m) => m.startsWith("dispatch")),
      ["dispatch rc=10 token=-", "dispatch rc=10 token=-", "dispatch rc=0 token=2"],
    );
    assert.ok(hostLines(h).some((l) => l.includes("dispatch failed: no :path")));
    assert.ok(hostLines(h).some((l) => l.includes("dispatch failed: no :method")));
    const r = await h.request(scripted("request_headers: dispatch 127.0.0.1:1 GET ~ ~ 0; ret 1"), ok());
    assert.equal(r.status, 500);
    await h.stop();
  });

  it("request-path dispatch followed by Continue: no callback, then a worker crash", async () => {
    const h = await host("");
    h.dispatchHandler = () => ({ status: 200, headers: [] });
    const r = await h.request(scripted("request_headers: dispatch 127.0.0.1:1 GET /x ~ 0; ret 0"), ok());
    assert.equal(r.status, 200);
    await h.settle();
    assert.ok(!cbs(h).some((l) => l.startsWith("CB on_http_call_response")));
    assert.ok(!cbs(h).includes("CB on_response_headers 1 8 0"), "on_response_headers skipped");
    assert.equal(h.crashes.length, 1);
    assert.match(h.crashes[0].reason, /dispatch_resume_handler/);
    await h.stop();
  });

  it("dispatch from the callback of a tick dispatch: not sent, worker crash", async () => {
    const h = await host("configure: tick 10|tick@1: dispatch 127.0.0.1:1 GET /a ~ 0|callback@1: dispatch 127.0.0.1:1 GET /b ~ 0");
    const seen: string[] = [];
    h.dispatchHandler = (req: DispatchRequest) => {
      seen.push(req.path);
      return { status: 200, headers: [] };
    };
    await h.advance(10);
    await h.settle();
    assert.deepEqual(seen, ["/a"]);
    assert.ok(msgs(h).includes("dispatch rc=0 token=1"));
    assert.equal(h.crashes.length, 1);
    assert.match(h.crashes[0].reason, /ngx_alloc_chain_link/);
    await h.stop();
  });

  it("the in-process handler sees the request and can fail it", async () => {
    const h = await host("configure: tick 10|tick@1: dispatch 127.0.0.1:9 POST /e api.example 500 data|callback: hget 6 :dispatch_status");
    const got: DispatchRequest[] = [];
    h.dispatchHandler = (req) => {
      got.push(req);
      throw new DispatchError("reader failure");
    };
    await h.advance(10);
    await h.settle();
    assert.equal(got[0].method, "POST");
    assert.equal(got[0].authority, "api.example");
    assert.equal(got[0].timeoutMs, 500);
    assert.equal(dec(got[0].body), "data");
    assert.deepEqual(got[0].headers, [["x-probe", "1"]]);
    assert.ok(msgs(h).includes("hget :dispatch_status rc=0 v=reader failure"));
    await h.stop();
  });

  it("a root dispatch that finishes while another of the root is pending is counted as leaked (the engine never frees it)", async () => {
    const h = await host("configure: tick 10|tick@1: dispatch 127.0.0.1:9 POST /a ~ 500 data1; dispatch 127.0.0.1:9 POST /b ~ 500 data22|tick@3: dispatch 127.0.0.1:9 POST /c ~ 500 data333");
    let n = 0;
    h.dispatchHandler = async () => {
      await new Promise((r) => setTimeout(r, ++n * 5)); // /a finishes first, while /b is pending
      return { status: 200, headers: [] };
    };
    await h.advance(40);
    await h.settle();
    assert.equal(cbs(h).filter((l) => l.startsWith("CB on_http_call_response")).length, 3);
    assert.deepEqual(h.leakedDispatches, { calls: 1, bytes: 5 }, "/a leaked; /b and the lone /c were freed");
    await h.stop();
  });
});
