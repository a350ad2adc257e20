// Local responses, and the real HTTP gateway (listen + {url} upstream, real clock).

import { before, describe, it } from "node:test";
import assert from "node:assert/strict";
import * as http from "node:http";
import type { AddressInfo } from "node:net";
import { sendRequest, serveUpstream, type ProxyRequest, type UpstreamResponse } from "../../emulator/index.js";
import { host, msgs, cbs, ok, scripted, probeModule, dec, enc, get } from "./helpers.js";

before(async () => {
  await probeModule();
});

describe("local responses", () => {
  it("without a Content-Type from the filter: nginx's default_type text/plain, as the filter sees it in on_response_headers", async () => {
    const h = await host("");
    const r = await h.request(scripted("request_headers: local 409 d refused x-a=1 | response_headers: hdrs 2"), ok());
    assert.equal(r.status, 409);
    assert.equal(r.headers[0][1], "text/plain");
    const line = msgs(h).find((l) => l.startsWith("hdrs 2"))!;
    assert.match(line, /^hdrs 2 rc=0 n=\d+ :status=409 Content-Type=text\/plain Connection=keep-alive x-a=1 Content-Length=8 Server=\S+ Date=/);
    // An empty body gets no default Content-Type.
    const e = await h.request(scripted("request_headers: local 401 d ~empty WWW-Authenticate=Bearer"), ok());
    assert.deepEqual(e.headers.slice(0, 3), [["Connection", "keep-alive"], ["WWW-Authenticate", "Bearer"], ["Content-Length", "0"]]);
    await h.stop();
  });

  it("status, reason = details, body + LF, headers; response callbacks still run; no upstream", async () => {
    const h = await host("");
    let called = false;
    const r = await h.request(
      scripted("request_headers: local 403 probe-details denied-body Content-Type=text/x-probe,x-local=yes"),
      () => {
        called = true;
        return { status: 200, headers: [] };
      },
    );
    assert.equal(called, false);
    assert.equal(r.status, 403);
    assert.equal(r.reason, "probe-details");
    assert.equal(dec(r.body), "denied-body\n");
    assert.equal(r.local, true);
    // The engine's map order (differential test): Content-Type, Connection, the filter's headers, Content-Length.
    assert.deepEqual(r.headers.slice(0, 4), [
      ["Content-Type", "text/x-probe"],
      ["Connection", "keep-alive"],
      ["x-local", "yes"],
      ["Content-Length", "12"],
    ]);
    assert.deepEqual(cbs(h, { context: 1 }).slice(2), [
      "CB on_response_headers 1 6 0",
      "CB on_response_body 1 12 1",
      "CB on_done 1",
      "CB on_log 1",
      "CB on_delete 1",
    ]);
    await h.stop();
  });

  it("an empty body gets Content-Length 0 and no LF; a second local response traps", async () => {
    const h = await host("");
    const r = await h.request(scripted("request_headers: local 401 nope ~empty"), ok());
    assert.equal(r.body.length, 0);
    assert.ok(r.headers.some(([k, v]) => k === "Content-Length" && v === "0"));
    const r2 = await h.request(scripted("request_headers: local 401 a ~empty; local 402 b ~empty"), ok());
    assert.equal(r2.status, 500);
    await h.stop();
  });

  it("a local response from a dispatch callback answers the paused request", async () => {
    const h = await host("");
    h.dispatchHandler = () => ({ status: 403, headers: [] });
    const r = await h.request(
      scripted("request_headers: dispatch 127.0.0.1:1 GET /auth ~ 0; ret 1|callback: local 429 slow-down ~empty"),
      ok(),
    );
    assert.equal(r.status, 429);
    assert.equal(r.upstreamCalled, false);
    await h.stop();
  });
});

describe("real HTTP gateway", () => {
  it("listen() proxies to a {url} upstream on 127.0.0.1 with the real clock; stats are recorded", async () => {
    const upstream = http.createServer((req, res) => {
      let body = "";
      req.on("data", (c) => (body += c));
      req.on("end", () => {
        res.writeHead(200, { "Content-Type": "text/plain", "X-Seen-Header": String(req.headers["x-added"]) });
        res.end(`echo:${req.url}:${body}`);
      });
    });
    await new Promise<void>((r) => upstream.listen(0, "127.0.0.1", () => r()));
    const up = (upstream.address() as AddressInfo).port;
    const h = await host("request_headers: hadd 0 X-Added 1|configure: tick 20|response_body: body 1 0 100", {
      clock: "real",
      workers: 2,
    });
    const gw = await h.listen(0, { url: `http://127.0.0.1:${up}` });
    const port = (gw.address() as AddressInfo).port;
    const res = await fetch(`http://127.0.0.1:${port}/hello?x=1`, { method: "POST", body: "payload" });
    assert.equal(res.status, 200);
    assert.equal(await res.text(), "echo:/hello?x=1:payload");
    assert.equal(res.headers.get("x-seen-header"), "1");
    assert.ok(msgs(h).includes("body 1 rc=0 len=23 data=echo:/hello?x=1:payload"));
    await new Promise((r) => setTimeout(r, 80));
    assert.ok(cbs(h).some((l) => l.startsWith("CB on_tick")), "real-clock ticks fire");
    assert.equal(h.stats.calls.proxy_on_request_headers, 1);
    assert.ok(h.stats.nanos.proxy_on_request_headers > 0n);
    await h.stop();
    await new Promise<void>((r) => upstream.close(() => r()));
  });
});

describe("loopback HTTP (shared with the engine gateway)", () => {
  const bodyCalls = (h: Awaited<ReturnType<typeof host>>) =>
    cbs(h).filter((l) => l.startsWith("CB on_response_body")).map((l) => l.split(" ").slice(3).join(" "));

  it("serveUpstream: the filter sees a served function as it sees the function in-process", async () => {
    const seen: ProxyRequest[] = [];
    const fn = (framed: "body" | "chunks") => (req: ProxyRequest): UpstreamResponse => {
      seen.push(req);
      const text = `echo:${req.method} ${req.path}:${req.body ? dec(req.body) : ""}`;
      return framed === "body"
        ? { status: 201, headers: [["Content-Type", "text/plain"], ["X-Up", "1"]], body: enc(text) }
        : { status: 200, headers: [["Content-Type", "text/plain"]], chunks: [enc("ab"), enc("cde")] };
    };
    for (const framed of ["body", "chunks"] as const) {
      const results = [];
      const calls = [];
      const up = await serveUpstream(fn(framed));
      for (const upstream of [fn(framed), { url: up.url }]) {
        const h = await host("response_body: body 1 0 100");
        results.push(await h.request(get("/p?q=1", [["X-Client", "c"]], "payload"), upstream));
        calls.push({ bodies: bodyCalls(h), msgs: msgs(h).filter((m) => m.startsWith("body ")) });
        await h.stop();
      }
      await up.close();
      const [inProcess, served] = results;
      assert.equal(served.status, inProcess.status);
      assert.equal(dec(served.body), dec(inProcess.body));
      assert.deepEqual(calls[1], calls[0], `${framed}: same body callbacks and bytes`);
      assert.equal(
        served.headers.find(([k]) => k === "X-Up")?.[1],
        inProcess.headers.find(([k]) => k === "X-Up")?.[1],
      );
    }
    const [direct, overSocket] = seen.slice(0, 2);
    assert.equal(overSocket.method, direct.method);
    assert.equal(overSocket.path, direct.path);
    assert.equal(dec(overSocket.body!), "payload");
    assert.equal(overSocket.headers.find(([k]) => k === "X-Client")?.[1], "c");
  });

  it("serveUpstream drops the connection when the function throws; sendRequest reports the failure", async () => {
    const up = await serveUpstream(() => {
      throw new Error("upstream down");
    });
    const got = await sendRequest(up.url, get("/"));
    assert.equal(got.ok, false);
    assert.equal(got.port, up.port);
    const h = await host("");
    const r = await h.request(get("/"), { url: up.url });
    assert.equal(r.status, 502);
    await h.stop();
    await up.close();
  });
});
