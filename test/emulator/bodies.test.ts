// Request and response bodies: phases, the spool threshold, get_buffer_bytes details.

import { before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { host, msgs, hostLines, ok, get, scripted, probeModule, dec } from "./helpers.js";

before(async () => {
  await probeModule();
});

describe("request body", () => {
  it("NotFound in on_request_headers, readable in on_request_body and on_log", async () => {
    const h = await host("request_headers: body 0 0 100|request_body: body 0 0 100|log: body 0 0 3");
    await h.request(get("/", [], "hello"), ok());
    assert.deepEqual(
      msgs(h).filter((m) => m.startsWith("body ")),
      ["body 0 rc=1 len=- data=", "body 0 rc=0 len=5 data=hello", "body 0 rc=0 len=3 data=hel"],
    );
    await h.stop();
  });

  it("Content-Length bodies stay readable up to ~1.25 x client_body_buffer_size + preread", async () => {
    const h = await host("request_body: body 0 0 20000");
    await h.request(get("/", [], "a".repeat(11000)), ok());
    await h.request(get("/", [], "a".repeat(11300)), ok());
    const lines = msgs(h).filter((m) => m.startsWith("body 0"));
    assert.match(lines[0], /^body 0 rc=0 len=11000 /);
    assert.equal(lines[1], "body 0 rc=1 len=- data=");
    assert.ok(hostLines(h).some((l) => l.startsWith("[error]") && l.includes("cannot read request body buffered to file")));
    assert.ok(hostLines(h).some((l) => l.startsWith("[warn]") && l.includes("buffered to a temporary file")));
    assert.ok(msgs(h).includes("CB on_request_body 2 11300 1"), "on_request_body still gets the full size");
    await h.stop();
  });

  it("the readable limits measured on the engine, to the byte: preread first, chunk framing counts, long heads", async () => {
    // Each case: headers, chunked or not, and the largest readable body size (the engine's, for
    // client_body_buffer_size 8192; see bodyFitsInMemory).
    const head = (hs: Array<[string, string]>) => "POST / HTTP/1.1\r\n".length + hs.reduce((n, [k, v]) => n + k.length + v.length + 4, 2);
    const base: Array<[string, string]> = [["Host", "api.example"], ["x-script", ""]];
    const te: Array<[string, string]> = [...base, ["Transfer-Encoding", "chunked"]];
    const pad: Array<[string, string]> = [["Host", "api.example"], ["X-Pad", "p".repeat(3000)]];
    const padStart = "POST / HTTP/1.1\r\n".length + "Host: api.example\r\n".length;
    const cl = (hs: Array<[string, string]>, n: number) => [...hs, ["Content-Length", String(n)]] as Array<[string, string]>;
    // Content-Length: head + body < 1024 + 10240; chunked (4096-byte chunks: 3 size lines "1000"/"xxx",
    // CRLFs, "0\r\n\r\n"): head + wire ≤ 1024 + 8192; a 3 KB head: the large buffer holds it from X-Pad on.
    const wire = (n: number) => n + 5 + Math.ceil(n / 4096) * 4 + [...Array(Math.ceil(n / 4096)).keys()].reduce((k, i) => k + Math.min(4096, n - i * 4096).toString(16).length, 0);
    let chunkedMax = 0;
    while (head(te) + wire(chunkedMax + 1) <= 9216) chunkedMax++;
    const clMax = (hs: Array<[string, string]>, limit: number): number => {
      let n = 0;
      while (head(cl(hs, n + 1)) + n + 1 < limit) n++;
      return n;
    };
    const cases: Array<[Array<[string, string]>, boolean, number]> = [
      [base, false, clMax(base, 11264)],
      [te, true, chunkedMax],
      [pad, false, clMax(pad, 10240 + 8192 + padStart)],
    ];
    for (const [hs, chunked, max] of cases) {
      for (const n of [max, max + 1]) {
        const h = await host("request_body: body 0 0 1");
        const headers = chunked ? hs : cl(hs, n);
        await h.request({ method: "POST", path: "/", headers, body: new Uint8Array(n).fill(97) }, ok());
        const line = msgs(h).find((m) => m.startsWith("body 0"));
        assert.equal(line?.startsWith("body 0 rc=0"), n === max, `${chunked ? "chunked" : "Content-Length"} head ${head(headers)} body ${n}: ${line}`);
        await h.stop();
      }
    }
  });

  it("the threshold follows clientBodyBufferSize", async () => {
    const h = await host("request_body: body 0 0 20000", { clientBodyBufferSize: 16384 });
    await h.request(get("/", [], "a".repeat(15000)), ok());
    assert.ok(msgs(h).some((m) => m.startsWith("body 0 rc=0 len=15000")));
    await h.stop();
  });

  it("setting the request body changes what the upstream receives", async () => {
    const h = await host("request_body: setbody 0 0 5 HELLO");
    const r = await h.request(get("/", [], "hello world"), ok());
    assert.equal(dec(r.upstreamRequest!.body!), "HELLO world");
    await h.stop();
  });
});

describe("response body", () => {
  it("readable in on_response_body; `start` is ignored; max truncates", async () => {
    const h = await host("response_body: body 1 3 4");
    await h.request(get(), ok("abcdefgh"));
    assert.ok(msgs(h).includes("body 1 rc=0 len=4 data=abcd"));
    await h.stop();
  });

  it("the empty eof chunk answers Ok without writing the out-params", async () => {
    const h = await host("response_body: body 1 0 100");
    await h.request(get(), () => ({ status: 200, headers: [], chunks: [new TextEncoder().encode("ab")] }));
    assert.deepEqual(
      msgs(h).filter((m) => m.startsWith("body 1")),
      ["body 1 rc=0 len=2 data=ab", "body 1 rc=0 len=- data="],
    );
    await h.stop();
  });

  it("reading the response body in on_log traps (client already served, no on_delete)", async () => {
    const h = await host("log: body 1 0 10");
    const r = await h.request(get(), ok("served"));
    assert.equal(r.status, 200);
    assert.equal(dec(r.body), "served");
    assert.equal(r.trapped, true);
    assert.ok(hostLines(h).some((l) => l.includes('can only get response body during "on_response_body"')));
    assert.ok(!msgs(h).includes("CB on_delete 1"));
    await h.stop();
  });

  it("reading it in on_request_headers traps with 500", async () => {
    const h = await host("");
    const r = await h.request(scripted("request_headers: body 1 0 10"), ok());
    assert.equal(r.status, 500);
    await h.stop();
  });

  it("setting the response body changes what the client gets", async () => {
    const h = await host("response_body: setbody 1 0 0 >>");
    const r = await h.request(get(), ok("body"));
    assert.equal(dec(r.body), ">>body");
    await h.stop();
  });

  it("the plugin configuration buffer holds the config string", async () => {
    const h = await host("configure: body 7 0 9");
    assert.ok(msgs(h).includes("body 7 rc=0 len=9 data=configure"));
    await h.stop();
  });
});
