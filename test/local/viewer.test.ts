// The collector's live viewer page in a real browser (Debian Chromium through playwright-core).
import assert from "node:assert/strict";
import { existsSync } from "node:fs";
import http from "node:http";
import { after, before, describe, it } from "node:test";
import type { Browser, Page } from "playwright-core";
import { Collector } from "../../local/collector.ts";

const CHROMIUM = "/usr/bin/chromium";
const skip = existsSync(CHROMIUM) ? false : "chromium not installed: apt-get install chromium";
const WAIT_MS = 15_000;

function postBatch(url: string, events: unknown[]): Promise<number> {
  return new Promise((resolve, reject) => {
    const req = http.request(
      `${url}/v1/events/batch`,
      { method: "POST", headers: { "content-type": "application/json" }, agent: false },
      (res) => {
        res.resume();
        res.on("end", () => resolve(res.statusCode ?? 0));
      },
    );
    req.on("error", reject);
    req.end(JSON.stringify(events));
  });
}

function event(verb: string, uri: string, status: number, extra: Record<string, unknown> = {}) {
  return {
    request: { time: "2025-05-06T14:03:27.375Z", uri, verb, headers: { host: "api.example.com" } },
    response: { time: "2025-05-06T14:03:27.463Z", status, headers: {} },
    direction: "Incoming",
    ...extra,
  };
}

// Cell texts of the row at `index` (0 = top = newest).
async function rowCells(page: Page, index: number): Promise<string[]> {
  return page.locator("#rows tr").nth(index).locator("td").allTextContents();
}

describe("viewer page", { skip }, () => {
  let collector: Collector;
  let browser: Browser;
  let page: Page;

  before(async () => {
    const { chromium } = await import("playwright-core");
    collector = new Collector({ quiet: true });
    await collector.start();
    browser = await chromium.launch({
      executablePath: CHROMIUM,
      args: [
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
      ],
    });
    page = await browser.newPage();
    page.setDefaultTimeout(WAIT_MS);
  });

  after(async () => {
    await browser?.close();
    await collector?.stop();
  });

  it("shows events received before the page opened", async () => {
    assert.equal(await postBatch(collector.url, [event("GET", "http://api.example.com/v1/health", 200)]), 201);
    await page.goto(collector.url);
    await page.locator('#status[data-state="live"]').waitFor();
    await page.locator("#rows tr").first().waitFor();
    assert.deepEqual((await rowCells(page, 0)).slice(1, 4), ["GET", "http://api.example.com/v1/health", "200"]);
  });

  it("adds a pushed event at the top and shows its JSON on click", async () => {
    const uri = "http://api.example.com/v1/orders?page=2";
    const ev = event("POST", uri, 201, { user_id: "user_12345", company_id: "acme-corp", weight: 1 });
    assert.equal(await postBatch(collector.url, [ev]), 201);
    await page.locator("#rows tr").filter({ hasText: uri }).waitFor();
    assert.deepEqual(await rowCells(page, 0), ["14:03:27.375", "POST", uri, "201", "user_12345", "acme-corp", ""]);
    assert.equal(await page.locator("#count").textContent(), "2 events");

    await page.locator("#rows tr").first().click();
    const shown = await page.locator("#detail").textContent();
    assert.deepEqual(JSON.parse(shown ?? ""), ev);
    assert.match(shown ?? "", /\n  "user_id": "user_12345",\n/); // pretty-printed
    assert.equal(await page.locator("#rows tr.selected").count(), 1);
  });

  it("lists a batch newest first, shows blocked_by and renders fields as text", async () => {
    const hostile = 'http://api.example.com/v1/<img src=x onerror="document.title=1">';
    await postBatch(collector.url, [
      event("DELETE", "http://api.example.com/v1/orders/ord_1", 403, { blocked_by: "6650a1f2c3d4e5f601234567" }),
      event("GET", hostile, 404),
    ]);
    await page.locator("#rows tr").nth(3).waitFor();
    const top = await rowCells(page, 0);
    assert.deepEqual(top.slice(1, 4), ["GET", hostile, "404"]);
    const second = await rowCells(page, 1);
    assert.deepEqual([second[1], second[3], second[6]], ["DELETE", "403", "6650a1f2c3d4e5f601234567"]);
    assert.equal(await page.locator("#rows img").count(), 0);
  });

  it("filters rows and empties the table when the collector is cleared", async () => {
    await page.locator("#filter").fill("ord_1");
    assert.equal(await page.locator("#rows tr:not([hidden])").count(), 1);
    await page.locator("#filter").fill("");
    assert.equal(await page.locator("#rows tr:not([hidden])").count(), 4);

    collector.clear();
    await page.locator("#rows tr").first().waitFor({ state: "detached" });
    assert.equal(await page.locator("#count").textContent(), "0 events");
    await postBatch(collector.url, [event("PUT", "http://api.example.com/v1/orders/ord_2", 200)]);
    await page.locator("#rows tr").first().waitFor();
    assert.equal((await rowCells(page, 0))[1], "PUT");
    assert.equal(await page.locator("#rows tr").count(), 1);
  });
});
