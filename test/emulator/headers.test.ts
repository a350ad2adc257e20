// Header maps: serialization order, :authority, case, duplicates, the 100-pair cap, setters.

import { before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { host, msgs, hostLines, ok, probeModule, dec } from "./helpers.js";
import type { ProxyRequest } from "../../emulator/index.js";

before(async () => {
  await probeModule();
});

const req = (script: string, headers: Array<[string, string]> = []): ProxyRequest => ({
  method: "GET",
  path: "/p/hdr?x=1",
  headers: [["Host", "api.client.example"], ["X-A", "first"], ["x-a", "second"], ["x-script", script], ...headers],
});

describe("request header map", () => {
  it("pseudo headers first, :authority = server name + port, client case and duplicates kept", async () => {
    const h = await host("", { serverName: "kong", listenPort: 8000 });
    await h.request(req("request_headers: hdrs 0; hget 0 X-a; hget 0 :authority"), ok());
    const m = msgs(h);
    assert.ok(m.includes("CB on_request_headers 1 4 0"), "nheaders counts real headers only");
    const line = m.find((l) => l.startsWith("hdrs 0"))!;
    assert.match(
      line,
      /^hdrs 0 rc=0 n=8 :path=\/p\/hdr\?x=1 :method=GET :scheme=http :authority=kong:8000 Host=api\.client\.example X-A=first x-a=second x-script=/,
    );
    assert.ok(m.includes("hget X-a rc=0 v=first"), "case-insensitive, first match");
    assert.ok(m.includes("hget :authority rc=0 v=kong:8000"));
    await h.stop();
  });

  it("caps the map at 100 pairs with a warn; nheaders is not capped", async () => {
    const h = await host("");
    const many: Array<[string, string]> = Array.from({ length: 110 }, (_, i) => [`h${i}`, "v"]);
    await h.request(req("request_headers: hdrs 0", many), ok());
    assert.ok(msgs(h).includes("CB on_request_headers 1 114 0"));
    assert.ok(msgs(h).some((l) => l.startsWith("hdrs 0 rc=0 n=100 ")));
    assert.ok(hostLines(h).some((l) => l.startsWith("[warn]") && l.includes("marshalled map truncated to 100 elements")));
    await h.stop();
  });

  it("setters before the upstream change what the upstream receives", async () => {
    const h = await host("");
    const r = await h.request(
      req("request_headers: hadd 0 X-Added yes; hset 0 x-a only; hdel 0 Host; hset 0 :path /rewritten"),
      ok(),
    );
    const sent = r.upstreamRequest!;
    assert.equal(sent.path, "/rewritten");
    assert.deepEqual(
      sent.headers.filter(([k]) => k !== "x-script"),
      [
        ["X-A", "only"],
        ["X-Added", "yes"],
      ],
    );
    await h.stop();
  });

  it("request headers cannot be set after the response started", async () => {
    const h = await host("");
    const r = await h.request(req("response_headers: hadd 0 X-Late 1"), ok());
    assert.equal(r.status, 500);
    assert.ok(hostLines(h).some((l) => l.includes("can only set request headers before response is produced")));
    await h.stop();
  });
});

describe("response header map", () => {
  it("includes :status and shim headers; setters change what the client gets", async () => {
    const h = await host("");
    const r = await h.request(
      req("response_headers: hdrs 2; hset 2 X-Backend changed; hadd 2 X-New 1; hdel 2 Via"),
      () => ({ status: 201, headers: [["Content-Type", "text/plain"], ["X-Backend", "b1"]], body: new TextEncoder().encode("hi") }),
    );
    const line = msgs(h).find((l) => l.startsWith("hdrs 2"))!;
    assert.match(line, /^hdrs 2 rc=0 n=10 :status=201 Content-Type=text\/plain Content-Length=2 Connection=keep-alive X-Backend=b1 /);
    assert.match(line, / Server=kong\/3\.9\.0 Date=/);
    assert.ok(msgs(h).includes("CB on_response_headers 1 9 0"));
    const names = r.headers.map(([k]) => k);
    assert.ok(!names.includes("Via"));
    assert.ok(r.headers.some(([k, v]) => k === "X-Backend" && v === "changed"));
    assert.ok(r.headers.some(([k, v]) => k === "X-New" && v === "1"));
    assert.equal(dec(r.body), "hi");
    await h.stop();
  });

  it("a 204/304 without Content-Length shows Transfer-Encoding: chunked to the filter, not to the client (engine shim)", async () => {
    const h = await host("");
    for (const status of [204, 304]) {
      const r = await h.request(req("response_headers: hdrs 2"), () => ({ status, headers: [["X-Up", "1"]] }));
      assert.ok(!r.headers.some(([k]) => k.toLowerCase() === "transfer-encoding"));
    }
    const lines = msgs(h).filter((l) => l.startsWith("hdrs 2"));
    assert.match(lines[0], /^hdrs 2 rc=0 n=\d+ :status=204 Transfer-Encoding=chunked Connection=keep-alive X-Up=1 /);
    assert.match(lines[1], /^hdrs 2 rc=0 n=\d+ :status=304 Transfer-Encoding=chunked Connection=keep-alive X-Up=1 /);
    await h.stop();
  });

  it("request header values lose the whitespace around them, as nginx parses them", async () => {
    const h = await host("");
    const r = await h.request(req("request_headers: hget 0 X-Sp", [["X-Sp", " \t a  b \t "]]), ok());
    assert.ok(msgs(h).includes("hget X-Sp rc=0 v=a  b"), msgs(h).filter((l) => l.startsWith("hget")).join());
    assert.equal(r.upstreamRequest!.headers.find(([k]) => k === "X-Sp")?.[1], "a  b");
    await h.stop();
  });

  it("response headers cannot be set in on_response_body", async () => {
    const h = await host("");
    await h.request(req("response_body: hset 2 X-Late 1"), ok());
    assert.ok(hostLines(h).some((l) => l.includes('can only set response headers before \\"on_response_body\\"') || l.includes('can only set response headers before "on_response_body"')));
    await h.stop();
  });
});
