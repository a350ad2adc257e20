// `npm start`: builds the filter and runs it for real on 127.0.0.1: a demo upstream API,
// the gateway with the filter (Kong's engine when KONG_WASM_ENGINE names one, else the
// emulated gateway; real clock, 2 workers) and a local Moesif-compatible collector with its
// event viewer. Ctrl-C stops everything.
import { readFileSync } from "node:fs";
import type { Server } from "node:http";
import { buildFilter, RELEASE_WASM } from "./build.ts";
import { KongWasmHost } from "../emulator/index.ts";
import { EngineGateway } from "../engine/gateway.ts";
import { engineBinary } from "../engine/locate.ts";
import { portOpen } from "../engine/nginx.ts";
import { freePort } from "../engine/ports.ts";
import { Collector } from "../local/collector.ts";
import { startDemoApi } from "../local/demo-api.ts";

const port = (name: string, fallback: number) => Number(process.env[name] ?? fallback);

async function listenGateway(host: KongWasmHost, wanted: number, upstream: string): Promise<Server> {
  try {
    return await host.listen(wanted, { url: upstream });
  } catch {
    return await host.listen(0, { url: upstream }); // the usual port is taken: any free one
  }
}

await buildFilter(["release"]);
let collector = new Collector({ port: port("COLLECTOR_PORT", 8088) });
let collectorPort: number;
try {
  collectorPort = await collector.start();
} catch {
  collector = new Collector({ port: 0 }); // the usual port is taken: any free one
  collectorPort = await collector.start();
}
const demo = await startDemoApi(port("DEMO_API_PORT", 3000)).catch(() => startDemoApi(0));

const config = {
  application_id: "local-demo-application-id",
  api_endpoint: `http://127.0.0.1:${collectorPort}`,
  request_header_masks: ["authorization"],
  request_body_masks: ["password"],
  response_body_masks: ["password"],
  request_query_masks: ["api_key"],
  authorization_company_id_field: "org_id",
  log_summary_interval_ms: 30000,
};

/** The gateway: Kong's engine (nginx + ngx_wasm_module) when configured, else the emulator. */
async function startGateway(): Promise<{ port: number; what: string; stop: () => Promise<void> }> {
  const wanted = port("GATEWAY_PORT", 8000);
  if (engineBinary()) {
    const listenPort = (await portOpen(wanted)) ? await freePort() : wanted;
    const engine = new EngineGateway({
      config: JSON.stringify(config),
      workers: 2,
      upstreamPort: demo.port,
      collectorUrl: `http://127.0.0.1:${collectorPort}`,
      listenPort,
    });
    await engine.start();
    return { port: engine.port, what: `Kong's engine ${engineBinary()}, 2 nginx workers; its error log: ${engine.nginx.errorLogPath}`, stop: () => engine.stop() };
  }
  const host = new KongWasmHost({
    module: new WebAssembly.Module(readFileSync(RELEASE_WASM)),
    config: JSON.stringify(config),
    workers: 2,
    clock: "real",
    properties: { "kong.route_id": "local-route", "kong.service_id": "local-service", "kong.service_name": "demo-api" },
    onLog: (l) => {
      if (l.level !== "debug" && l.level !== "trace") console.log(`[gateway w${l.worker}] [${l.level}] ${l.message}`);
    },
  });
  host.start();
  const server = await listenGateway(host, wanted, demo.url);
  const address = server.address();
  return {
    port: typeof address === "object" && address ? address.port : 0,
    what: "2 emulated workers; set KONG_WASM_ENGINE to run it in Kong's engine",
    stop: () => host.stop(),
  };
}
const gateway = await startGateway();
const gatewayPort = gateway.port;

console.log(`
kong-wasm-moesif is running (filter: ${RELEASE_WASM}; ${gateway.what})
  gateway    http://127.0.0.1:${gatewayPort}   (routes everything to the demo API)
  demo API   ${demo.url}
  collector  http://127.0.0.1:${collectorPort}   event viewer: open it in a browser

Try:
  curl -s -X POST "http://127.0.0.1:${gatewayPort}/v1/orders?api_key=secret" \\
    -H 'Content-Type: application/json' \\
    -H 'Authorization: Bearer eyJhbGciOiJub25lIn0.eyJzdWIiOiJ1c2VyXzEyMzQ1Iiwib3JnX2lkIjoiYWNtZS1jb3JwIn0.' \\
    -d '{"item_id":"sku-123","quantity":2,"password":"hunter2"}'
Events reach the collector within about a second; Ctrl-C stops everything.
`);

let stopping = false;
async function stop() {
  if (stopping) return;
  stopping = true;
  await gateway.stop();
  await collector.stop();
  await new Promise<void>((resolve) => demo.server.close(() => resolve()));
  process.exit(0);
}
process.on("SIGINT", stop);
process.on("SIGTERM", stop);
