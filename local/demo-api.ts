// Demo upstream API behind the emulated gateway (SPEC §9): a small orders service with
// endpoints that exercise the filter's body handling (JSON, gzip, text, large bodies).
import { randomUUID } from "node:crypto";
import http, { type IncomingMessage, type ServerResponse } from "node:http";
import { pathToFileURL } from "node:url";
import zlib from "node:zlib";

export interface DemoApi {
  server: http.Server;
  port: number;
  url: string;
}

interface Order {
  id: string;
  customer_id: string;
  status: string;
  items: { sku: string; name: string; quantity: number; unit_price: number }[];
  total: number;
  currency: string;
  created_at: string;
}

const MAX_REQUEST_BYTES = 1024 * 1024;
// Orders created through POST are kept so GET /v1/orders/:id finds them, up to this many.
const MAX_STORED_ORDERS = 1000;
const MAX_BIG_KB = 16 * 1024;

function seedOrders(): Map<string, object> {
  const seed: Order[] = [
    {
      id: "ord_1001",
      customer_id: "cus_ada",
      status: "shipped",
      items: [{ sku: "sku-123", name: "Mechanical keyboard", quantity: 1, unit_price: 89.9 }],
      total: 89.9,
      currency: "EUR",
      created_at: "2025-05-06T09:12:44.118Z",
    },
    {
      id: "ord_1002",
      customer_id: "cus_grace",
      status: "created",
      items: [
        { sku: "sku-456", name: "USB-C cable", quantity: 3, unit_price: 9.99 },
        { sku: "sku-789", name: "Laptop stand", quantity: 1, unit_price: 34.5 },
      ],
      total: 64.47,
      currency: "EUR",
      created_at: "2025-05-06T10:03:27.045Z",
    },
    {
      id: "ord_1003",
      customer_id: "cus_ada",
      status: "cancelled",
      items: [{ sku: "sku-321", name: "Webcam", quantity: 1, unit_price: 49 }],
      total: 49,
      currency: "EUR",
      created_at: "2025-05-06T11:47:03.902Z",
    },
  ];
  return new Map<string, object>(seed.map((o) => [o.id, o]));
}

function sendJson(res: ServerResponse, status: number, value: unknown, headers: Record<string, string> = {}): void {
  const body = Buffer.from(JSON.stringify(value));
  res.writeHead(status, {
    "content-type": "application/json; charset=utf-8",
    "content-length": String(body.length),
    ...headers,
  });
  res.end(body);
}

function readBody(req: IncomingMessage): Promise<Buffer | null> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    req.on("data", (c: Buffer) => {
      size += c.length;
      if (size <= MAX_REQUEST_BYTES) chunks.push(c);
    });
    req.on("end", () => resolve(size > MAX_REQUEST_BYTES ? null : Buffer.concat(chunks)));
    req.on("error", reject);
  });
}

// About `kb` KiB of JSON: a list of uniform records.
function bigPayload(kb: number): unknown {
  const target = kb * 1024;
  const items: unknown[] = [];
  let size = 0; // the wrapper object adds a few bytes on top, so the result is at least `kb` KiB
  for (let i = 0; size < target; i++) {
    const item = { id: i, sku: `sku-${String(i).padStart(6, "0")}`, name: `Catalog item ${i}`, price: (i % 100) + 0.99, in_stock: i % 3 !== 0 };
    items.push(item);
    size += JSON.stringify(item).length + 1;
  }
  return { kb, count: items.length, items };
}

async function handle(orders: Map<string, object>, req: IncomingMessage, res: ServerResponse): Promise<void> {
  const url = new URL(req.url ?? "/", "http://demo.local");
  const path = url.pathname;
  const method = req.method ?? "GET";
  const isGet = method === "GET" || method === "HEAD";
  const wrongMethod = (allow: string) =>
    sendJson(res, 405, { error: "method_not_allowed", allow }, { allow });

  if (path === "/v1/health") {
    if (!isGet) return wrongMethod("GET, HEAD");
    return sendJson(res, 200, { status: "ok", service: "demo-api", time: new Date().toISOString() });
  }
  if (path === "/v1/orders") {
    if (isGet) return sendJson(res, 200, [...orders.values()]);
    if (method !== "POST") return wrongMethod("GET, HEAD, POST");
    const body = await readBody(req);
    if (body === null) return sendJson(res, 413, { error: "payload_too_large", limit_bytes: MAX_REQUEST_BYTES });
    let input: unknown;
    try {
      input = JSON.parse(body.toString("utf8"));
    } catch {
      return sendJson(res, 400, { error: "invalid_json", message: "request body must be a JSON object" });
    }
    if (input === null || typeof input !== "object" || Array.isArray(input)) {
      return sendJson(res, 400, { error: "invalid_order", message: "request body must be a JSON object" });
    }
    const order = {
      ...(input as Record<string, unknown>),
      id: `ord_${randomUUID().replace(/-/g, "").slice(0, 12)}`,
      status: "created",
      created_at: new Date().toISOString(),
    };
    orders.set(order.id, order);
    if (orders.size > MAX_STORED_ORDERS) orders.delete(orders.keys().next().value as string);
    return sendJson(res, 201, order, { location: `/v1/orders/${order.id}` });
  }
  const m = /^\/v1\/orders\/([^/]+)$/.exec(path);
  if (m) {
    if (!isGet) return wrongMethod("GET, HEAD");
    let id = m[1];
    try {
      id = decodeURIComponent(id);
    } catch {
      // Malformed %-escapes: look the id up as sent (it will not be found).
    }
    const order = orders.get(id);
    if (!order) return sendJson(res, 404, { error: "order_not_found", id });
    return sendJson(res, 200, order);
  }
  if (path === "/v1/gzip") {
    if (!isGet) return wrongMethod("GET, HEAD");
    const body = zlib.gzipSync(JSON.stringify({ compressed: true, orders: [...orders.values()].slice(0, 3) }));
    res.writeHead(200, {
      "content-type": "application/json; charset=utf-8",
      "content-encoding": "gzip",
      "content-length": String(body.length),
    });
    res.end(body);
    return;
  }
  if (path === "/v1/text") {
    if (!isGet) return wrongMethod("GET, HEAD");
    const body = "Orders service is up.\nThis endpoint answers plain text.\n";
    res.writeHead(200, { "content-type": "text/plain; charset=utf-8", "content-length": String(Buffer.byteLength(body)) });
    res.end(body);
    return;
  }
  if (path === "/v1/big") {
    if (!isGet) return wrongMethod("GET, HEAD");
    const kb = Number(url.searchParams.get("kb") ?? "64");
    if (!Number.isInteger(kb) || kb < 0 || kb > MAX_BIG_KB) {
      return sendJson(res, 400, { error: "invalid_kb", message: `kb must be an integer from 0 to ${MAX_BIG_KB}` });
    }
    return sendJson(res, 200, bigPayload(kb));
  }
  return sendJson(res, 404, { error: "not_found", path });
}

// host: 127.0.0.1 unless run in a container (docker-compose.yml passes 0.0.0.0).
export function startDemoApi(port = 0, host = "127.0.0.1"): Promise<DemoApi> {
  const orders = seedOrders();
  const server = http.createServer((req, res) => {
    handle(orders, req, res).catch((err: unknown) => {
      if (!res.headersSent) sendJson(res, 500, { error: "internal_error", message: (err as Error).message });
      else res.destroy();
    });
  });
  return new Promise((resolve, reject) => {
    server.once("error", reject);
    server.listen(port, host, () => {
      const actual = (server.address() as { port: number }).port;
      resolve({ server, port: actual, url: `http://127.0.0.1:${actual}` });
    });
  });
}

// `tsx local/demo-api.ts [--port N] [--host ADDR]` runs it standalone (default 127.0.0.1:3000).
if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const i = process.argv.indexOf("--port");
  const h = process.argv.indexOf("--host");
  startDemoApi(i > 0 ? Number(process.argv[i + 1]) : 3000, h > 0 ? process.argv[h + 1] : undefined).then(
    ({ url }) => console.log(`[demo-api] listening on ${url}  (try: curl ${url}/v1/orders)`),
    (err: Error) => {
      console.error(`[demo-api] cannot start: ${err.message}`);
      process.exit(1);
    },
  );
}
