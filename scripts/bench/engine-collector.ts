// The loopback collector of `npm run bench:engine`, run as its own process pinned to the
// load generator's core: it must not compete with the measured nginx worker. Each filter
// variant points its api_endpoint at its own path prefix (`/<variant>`), so events are
// counted per variant. Batches are counted, not parsed (a full JSON parse of 100 KB events
// would cost this core more than the load generator): every event the filter writes starts
// with `{"request":`, which cannot occur inside an event (bodies are embedded as JSON
// values or base64, and keys are escaped strings).
// GET <prefix>/v1/config serves a fresh app's config, with sample_rate 0 under `/s0-*`
// prefixes (the capture-only variant); GET /_counts returns the counts so far.
import http from "node:http";
import { inflateSync } from "node:zlib";

const MARK = Buffer.from('{"request":');
const counts: Record<string, number> = {};
const batches: Record<string, number> = {};

function config(sampleRate: number): Buffer {
  return Buffer.from(JSON.stringify({
    sample_rate: sampleRate, user_sample_rate: {}, company_sample_rate: {}, regex_config: [], user_rules: {}, company_rules: {},
  }));
}
const FULL = config(100);
const NONE = config(0);

function countEvents(body: Buffer): number {
  let n = 0;
  for (let at = body.indexOf(MARK); at >= 0; at = body.indexOf(MARK, at + MARK.length)) n++;
  return n;
}

const server = http.createServer((req, res) => {
  const chunks: Buffer[] = [];
  req.on("data", (c: Buffer) => chunks.push(c));
  req.on("end", () => {
    const url = req.url ?? "/";
    const prefix = url.split("/")[1] ?? "";
    if (req.method === "GET") {
      let body: Buffer;
      if (url === "/_counts") body = Buffer.from(JSON.stringify({ events: counts, batches }));
      else if (url.endsWith("/v1/rules")) body = Buffer.from("[]");
      else body = prefix.startsWith("s0-") ? NONE : FULL;
      res.writeHead(200, { "content-type": "application/json", "content-length": String(body.length) });
      res.end(body);
      return;
    }
    let body = Buffer.concat(chunks);
    if (req.headers["content-encoding"]) body = inflateSync(body);
    counts[prefix] = (counts[prefix] ?? 0) + countEvents(body);
    batches[prefix] = (batches[prefix] ?? 0) + 1;
    res.writeHead(201, { "content-length": "0" });
    res.end();
  });
});
server.keepAliveTimeout = 60_000;

server.listen(Number(process.argv[2] ?? 0), "127.0.0.1", () => {
  process.send?.({ port: (server.address() as { port: number }).port });
});

// The parent closes the channel when it is done (or dies): stop with it.
process.on("disconnect", () => {
  server.closeAllConnections();
  server.close(() => process.exit(0));
});
