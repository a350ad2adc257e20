// The loopback servers around the engine in tests: the upstream, which answers each proxied
// request with the function of the test request it belongs to, and the collector, which hands
// every dispatch to the same DispatchHandler the emulator's in-process mode calls.
import http from "node:http";
import type { AddressInfo } from "node:net";
import { DispatchError } from "../emulator/errors.ts";
import type { DispatchHandler, DispatchRequest, ProxyRequest, Upstream, UpstreamResponse } from "../emulator/gateway.ts";

type Pairs = Array<[string, string]>;

// Node reads and writes header bytes as latin1; tests (and the emulator) use UTF-8 strings.
const fromWire = (s: string): string => Buffer.from(s, "latin1").toString("utf8");
const toWire = (s: string): string => Buffer.from(s, "utf8").toString("latin1");

function pairs(raw: string[]): Pairs {
  const out: Pairs = [];
  for (let i = 0; i + 1 < raw.length; i += 2) out.push([raw[i], fromWire(raw[i + 1])]);
  return out;
}

function readBody(req: http.IncomingMessage): Promise<Uint8Array> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    req.on("data", (c: Buffer) => chunks.push(c));
    req.on("end", () => resolve(new Uint8Array(Buffer.concat(chunks))));
    req.on("error", reject);
  });
}

async function listen(server: http.Server, port = 0): Promise<number> {
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(port, "127.0.0.1", () => resolve());
  });
  return (server.address() as AddressInfo).port;
}

function close(server: http.Server): Promise<void> {
  return new Promise((resolve) => {
    server.closeAllConnections();
    server.close(() => resolve());
  });
}

async function writeUpstreamResponse(res: http.ServerResponse, r: UpstreamResponse): Promise<void> {
  res.sendDate = false;
  res.writeHead(r.status, r.headers.flatMap(([k, v]) => [k, toWire(v)]));
  if (r.chunks) {
    for (const c of r.chunks) {
      res.write(c);
      await new Promise((resolve) => setImmediate(resolve)); // separate writes, as separate upstream chunks
    }
    res.end();
  } else {
    res.end(r.body ?? undefined);
  }
}

interface Pending {
  upstream: Upstream;
  seen?: ProxyRequest;
}

/** The upstream of the proxied location. nginx adds a header carrying the client's port, which
 *  says which test request a proxied request belongs to; it is removed before the test sees it. */
export class TestUpstream {
  private readonly server: http.Server;
  private readonly pending = new Map<number, Pending>();
  port = 0;
  /** Answers proxied requests whose client is not registered (load generators, curl). */
  fallback: (req: ProxyRequest) => UpstreamResponse | Promise<UpstreamResponse> = () => ({
    status: 200,
    headers: [["Content-Type", "application/json"]],
    body: new TextEncoder().encode('{"ok":true}'),
  });

  constructor(readonly clientHeader: string) {
    this.server = http.createServer((req, res) => void this.handle(req, res));
    this.server.keepAliveTimeout = 60_000;
  }

  async start(): Promise<number> {
    this.port = await listen(this.server);
    return this.port;
  }

  stop(): Promise<void> {
    return close(this.server);
  }

  expect(clientPort: number, upstream: Upstream): void {
    this.pending.set(clientPort, { upstream });
  }

  /** The request as the upstream received it (filter changes applied), and forgets the client. */
  take(clientPort: number): ProxyRequest | undefined {
    const p = this.pending.get(clientPort);
    this.pending.delete(clientPort);
    return p?.seen;
  }

  private async handle(req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
    try {
      const headers = pairs(req.rawHeaders);
      const client = Number(headers.find(([k]) => k.toLowerCase() === this.clientHeader)?.[1]);
      const body = await readBody(req);
      const seen: ProxyRequest = {
        method: req.method ?? "GET",
        path: req.url ?? "/",
        headers: headers.filter(([k]) => k.toLowerCase() !== this.clientHeader),
        body: body.length ? body : undefined,
      };
      const p = this.pending.get(client);
      let r: UpstreamResponse;
      if (!p) r = await this.fallback(seen);
      else {
        p.seen = seen;
        if (typeof p.upstream !== "function") throw new Error("the engine gateway takes upstream functions only");
        r = await p.upstream(seen);
      }
      await writeUpstreamResponse(res, r);
    } catch (e) {
      res.destroy(e as Error);
    }
  }
}

/** The collector (api_endpoint) of the filter's dispatches. A handler that throws
 *  DispatchError("broken connection") resets the connection; "timeout" never answers. */
export class TestCollector {
  private readonly server: http.Server;
  port = 0;
  handler: DispatchHandler | null = null;
  received = 0;

  constructor() {
    this.server = http.createServer((req, res) => void this.handle(req, res));
  }

  async start(port = 0): Promise<number> {
    this.port = await listen(this.server, port);
    return this.port;
  }

  stop(): Promise<void> {
    return close(this.server);
  }

  private async handle(req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
    const body = await readBody(req);
    this.received++;
    const headers = pairs(req.rawHeaders);
    const url = req.url ?? "/";
    const dreq: DispatchRequest = {
      target: `127.0.0.1:${this.port}`,
      method: req.method ?? "GET",
      path: url,
      authority: headers.find(([k]) => k.toLowerCase() === "host")?.[1],
      scheme: "http",
      // The engine adds Host, Connection and Content-Length itself; the emulator's handler sees the filter's own headers.
      headers: headers.filter(([k]) => !["host", "connection", "content-length"].includes(k.toLowerCase())),
      body,
      timeoutMs: 0,
      worker: 0,
      token: 0,
    };
    try {
      if (!this.handler) {
        res.writeHead(404).end();
        return;
      }
      const r = await this.handler(dreq);
      res.sendDate = false;
      res.writeHead(r.status, r.headers.flat());
      res.end(r.body ?? undefined);
    } catch (e) {
      if (e instanceof DispatchError && e.status === "timeout") return; // never answer: the engine times out
      res.destroy();
    }
  }
}
