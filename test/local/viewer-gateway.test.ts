// End to end as a user sees it: a request through the emulated gateway (real clock) with
// the compiled filter, delivered to the local collector, appears in the event viewer page
// in Debian Chromium.
import assert from "node:assert/strict";
import { existsSync } from "node:fs";
import http from "node:http";
import { after, before, describe, it } from "node:test";
import type { Browser, Page } from "playwright-core";
import { Collector } from "../../local/collector.ts";
import { startDemoApi, type DemoApi } from "../../local/demo-api.ts";
import { KongWasmHost } from "../../emulator/index.ts";
import { filterModule } from "../helpers/filter.ts";

const CHROMIUM = "/usr/bin/chromium";
const skip = existsSync(CHROMIUM) ? false : "chromium not installed: apt-get install chromium";

function get(url: string, headers: Record<string, string>): Promise<number> {
  return new Promise((resolve, reject) => {
    const req = http.request(url, { headers, agent: false }, (res) => {
      res.resume();
      res.on("end", () => resolve(res.statusCode ?? 0));
    });
    req.on("error", reject);
    req.end();
  });
}

describe("viewer through the gateway", { skip }, () => {
  let collector: Collector;
  let demo: DemoApi;
  let host: KongWasmHost;
  let gateway: http.Server;
  let browser: Browser;
  let page: Page;

  before(async () => {
    collector = new Collector({ port: 0, quiet: true });
    await collector.start();
    demo = await startDemoApi(0);
    host = new KongWasmHost({
      module: await filterModule(),
      config: JSON.stringify({ application_id: "viewer-test", api_endpoint: collector.url, user_id_header: "x-user-id" }),
      workers: 2,
      clock: "real",
    });
    host.start();
    gateway = await host.listen(0, { url: demo.url });
    const { chromium } = await import("playwright-core");
    browser = await chromium.launch({
      executablePath: CHROMIUM,
      args: ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
        "--disable-background-networking", "--disable-component-update", "--disable-sync"],
    });
    page = await browser.newPage();
    page.setDefaultTimeout(15_000);
  });

  after(async () => {
    await browser?.close();
    await host?.stop();
    await collector?.stop();
    await new Promise<void>((r) => (demo ? demo.server.close(() => r()) : r()));
  });

  it("shows a request made through the gateway", async () => {
    await page.goto(collector.url);
    await page.locator('#status[data-state="live"]').waitFor();
    const address = gateway.address();
    const port = typeof address === "object" && address ? address.port : 0;
    assert.equal(await get(`http://127.0.0.1:${port}/v1/orders?page=2`, { host: "shop.example", "x-user-id": "alice" }), 200);
    const row = page.locator("#rows tr").filter({ hasText: "http://shop.example/v1/orders?page=2" });
    await row.first().waitFor();
    const cells = await row.first().locator("td").allTextContents();
    assert.ok(cells.includes("GET") && cells.includes("200") && cells.includes("alice"), cells.join(" | "));
    await row.first().click();
    await page.locator("#detail", { hasText: '"transaction_id"' }).waitFor();
    const detail = JSON.parse((await page.locator("#detail").textContent()) ?? "{}");
    assert.equal(detail.request.uri, "http://shop.example/v1/orders?page=2");
    assert.equal(detail.user_id, "alice");
  });
});
