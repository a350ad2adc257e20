// Properties in request and root contexts, per Kong version.

import { before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { KongWasmHost } from "../../emulator/index.js";
import { host, msgs, hostLines, ok, probeModule } from "./helpers.js";
import type { ProxyRequest } from "../../emulator/index.js";

before(async () => {
  await probeModule();
});

const props = (h: KongWasmHost): Record<string, string> =>
  Object.fromEntries(
    msgs(h)
      .filter((m) => m.startsWith("prop "))
      .map((m) => {
        const [, path, rc, ...v] = m.split(" ");
        return [path, `${rc} ${v.join(" ")}`];
      }),
  );

const req = (paths: string[], phase = "request_headers"): ProxyRequest => ({
  method: "GET",
  path: "/p/path?q=1",
  headers: [
    ["Host", "127.0.0.1:18280"],
    ["x-request-id", "client-rid-123"],
    ["x-script", `${phase}: ${paths.map((p) => `prop ${p}`).join("; ")}`],
  ],
  remoteAddr: "10.1.2.3",
});

describe("request context properties", () => {
  it("serves the documented paths", async () => {
    const h = await host("", { properties: { "kong.route_id": "r-1", "kong.service_name": "svc" } });
    await h.request(
      req([
        "source.address",
        "request.path",
        "request.url_path",
        "request.method",
        "request.query",
        "request.scheme",
        "request.protocol",
        "request.id",
        "request.host",
        "request.headers.host",
        "response.code",
        "plugin_name",
        "plugin_root_id",
        "upstream.address",
        "ngx.remote_addr",
        "ngx.no_such_var",
        "kong.route_id",
        "kong.service_name",
        "kong.route_name",
        "foo.bar",
        "request.time",
      ]),
      ok(),
    );
    const p = props(h);
    assert.equal(p["source.address"], "rc=0 v=10.1.2.3");
    assert.equal(p["request.path"], "rc=0 v=/p/path?q=1");
    assert.equal(p["request.url_path"], "rc=0 v=/p/path");
    assert.equal(p["request.method"], "rc=0 v=GET");
    assert.equal(p["request.query"], "rc=0 v=q=1");
    assert.equal(p["request.scheme"], "rc=0 v=http");
    assert.equal(p["request.protocol"], "rc=0 v=HTTP/1.1");
    assert.equal(p["request.id"], "rc=0 v=client-rid-123");
    assert.equal(p["request.host"], "rc=0 v=emulator");
    assert.equal(p["request.headers.host"], "rc=0 v=127.0.0.1:18280");
    assert.equal(p["response.code"], "rc=0 v=000");
    assert.equal(p["plugin_name"], "rc=0 v=probe");
    assert.equal(p["plugin_root_id"], "rc=0 v=0");
    assert.equal(p["upstream.address"], "rc=1 v=");
    assert.equal(p["ngx.remote_addr"], "rc=0 v=10.1.2.3");
    assert.equal(p["ngx.no_such_var"], "rc=1 v=");
    assert.equal(p["kong.route_id"], "rc=0 v=r-1");
    assert.equal(p["kong.service_name"], "rc=0 v=svc");
    assert.equal(p["kong.route_name"], "rc=1 v=", "a route without a name is NotFound");
    assert.equal(p["foo.bar"], "rc=1 v=");
    assert.equal(p["request.time"], "rc=0 v=1767225600.000");
    await h.stop();
  });

  it("response.code and upstream.* after the response; kong.service_name needs 3.9", async () => {
    const h = await host("", { kongVersion: "3.8", properties: { "kong.service_name": "svc" } });
    await h.request(req(["response.code", "upstream.address", "kong.service_name"], "log"), () => ({ status: 201, headers: [] }));
    const p = props(h);
    assert.equal(p["response.code"], "rc=0 v=201");
    assert.equal(p["upstream.address"], "rc=0 v=127.0.0.1");
    assert.equal(p["kong.service_name"], "rc=1 v=");
    await h.stop();
  });
});

describe("root context properties", () => {
  it("dotted paths answer InternalFailure with an error line; plugin_root_id is 0", async () => {
    const h = await host("configure: prop request.path; prop plugin_root_id; prop foo|tick: prop plugin_name");
    const p = props(h);
    assert.equal(p["request.path"], "rc=10 v=");
    assert.equal(p["plugin_root_id"], "rc=0 v=0");
    assert.equal(p["foo"], "rc=1 v=");
    assert.ok(hostLines(h).some((l) => l.includes("cannot get scoped properties outside of a request")));
    await h.stop();
  });

  it("plugin_name in on_configure crashes the worker: start() fails and the crash is recorded", async () => {
    const h = new KongWasmHost({ module: await probeModule(), config: "configure: prop plugin_name", filterName: "probe" });
    assert.throws(() => h.start(), /crashed during proxy_on_configure/);
    assert.equal(h.crashes.length >= 1, true);
    assert.match(h.crashes[0].reason, /get_filter_name/);
  });
});
