// A minimal collector for the delivery benchmark, run as a child process (so that its
// parsing does not share the emulator's thread): counts the events of each batch POST and
// reports the running total to the parent over IPC. GET /v1/config and /v1/rules get what
// Moesif serves a fresh app.
import http from "node:http";
import { inflateSync } from "node:zlib";
import { APP_CONFIG } from "./fixtures.ts";

let events = 0;

const server = http.createServer((req, res) => {
  const chunks: Uint8Array[] = [];
  req.on("data", (c: Buffer) => chunks.push(new Uint8Array(c.buffer, c.byteOffset, c.length)));
  req.on("end", () => {
    if (req.method === "GET") {
      const body = req.url?.endsWith("/v1/rules") ? new TextEncoder().encode("[]") : APP_CONFIG;
      res.writeHead(200, { "content-type": "application/json", "content-length": String(body.length) });
      res.end(body);
      return;
    }
    let raw = new Uint8Array(chunks.reduce((n, c) => n + c.length, 0));
    let at = 0;
    for (const c of chunks) {
      raw.set(c, at);
      at += c.length;
    }
    if (req.headers["content-encoding"]) raw = new Uint8Array(inflateSync(raw));
    const batch = JSON.parse(new TextDecoder().decode(raw)) as unknown[];
    events += batch.length;
    res.writeHead(201, { "content-length": "0" });
    res.end();
    process.send?.({ events });
  });
});

server.listen(0, "127.0.0.1", () => {
  process.send?.({ port: (server.address() as { port: number }).port });
});

// The parent closes the channel when it is done (or dies): stop with it.
process.on("disconnect", () => {
  server.closeAllConnections();
  server.close(() => process.exit(0));
});
