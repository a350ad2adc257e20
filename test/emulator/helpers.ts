// Shared helpers for the emulator suites: probe module, hosts, upstreams, raw servers.

import * as net from "node:net";
import { readFileSync } from "node:fs";
import { buildProbes } from "../fixtures/build-probes.ts";
import { KongWasmHost, type HostOptions, type ProxyRequest, type UpstreamResponse } from "../../emulator/index.js";

export const enc = (s: string): Uint8Array => new TextEncoder().encode(s);
export const dec = (b: Uint8Array): string => new TextDecoder().decode(b);

let probe: WebAssembly.Module | null = null;

/** The script probe (built on first use when missing or outdated). */
export async function probeModule(): Promise<WebAssembly.Module> {
  if (!probe) {
    const paths = await buildProbes();
    probe = new WebAssembly.Module(new Uint8Array(readFileSync(paths.script)));
  }
  return probe;
}

export type Opts = Omit<HostOptions, "module" | "config">;

/** A started host running the script probe with `config` as its script. */
export async function host(config: string, opts: Opts = {}): Promise<KongWasmHost> {
  const h = new KongWasmHost({ module: await probeModule(), config, filterName: "probe", ...opts });
  h.start();
  return h;
}

/** Filter log messages (proxy_log lines), optionally of one worker/context. */
export function msgs(h: KongWasmHost, where: { worker?: number; context?: number } = {}): string[] {
  return h.logs
    .filter((l) => l.source === "filter")
    .filter((l) => where.worker === undefined || l.worker === where.worker)
    .filter((l) => where.context === undefined || l.context === where.context)
    .map((l) => l.message);
}

/** Callback lines ("CB ...") in order. */
export function cbs(h: KongWasmHost, where: { worker?: number; context?: number } = {}): string[] {
  return msgs(h, where).filter((m) => m.startsWith("CB "));
}

export function hostLines(h: KongWasmHost): string[] {
  return h.logs.filter((l) => l.source === "host").map((l) => `[${l.level}] ${l.message}`);
}

export function ok(body = "ok", headers: Array<[string, string]> = [["Content-Type", "text/plain"]]) {
  return (): UpstreamResponse => ({ status: 200, headers, body: enc(body) });
}

export function get(path = "/", headers: Array<[string, string]> = [], body?: string): ProxyRequest {
  return { method: body === undefined ? "GET" : "POST", path, headers: [["Host", "api.example"], ...headers], body: body === undefined ? undefined : enc(body) };
}

/** A request whose per-request script is `script` (sent as the x-script header). */
export function scripted(script: string, path = "/", body?: string): ProxyRequest {
  return get(path, [["x-script", script]], body);
}

export interface RawServer {
  port: number;
  /** Raw request texts received. */
  requests: string[];
  close(): Promise<void>;
}

/** A TCP server on 127.0.0.1 that records raw requests and answers with `reply` (raw HTTP). */
export async function rawServer(reply: string | null): Promise<RawServer> {
  const requests: string[] = [];
  const sockets = new Set<net.Socket>();
  const server = net.createServer((s) => {
    sockets.add(s);
    s.on("close", () => sockets.delete(s));
    let buf = "";
    s.on("data", (d) => {
      buf += d.toString("latin1");
      const end = buf.indexOf("\r\n\r\n");
      if (end < 0) return;
      const cl = /content-length: *(\d+)/i.exec(buf.slice(0, end));
      if (buf.length < end + 4 + (cl ? Number(cl[1]) : 0)) return;
      requests.push(buf);
      buf = "";
      if (reply !== null) s.end(reply);
    });
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", () => r()));
  const port = (server.address() as net.AddressInfo).port;
  return {
    port,
    requests,
    close: () =>
      new Promise<void>((r) => {
        for (const s of sockets) s.destroy();
        server.close(() => r());
      }),
  };
}

/** A port nothing listens on. */
export async function closedPort(): Promise<number> {
  const s = net.createServer();
  await new Promise<void>((r) => s.listen(0, "127.0.0.1", () => r()));
  const port = (s.address() as net.AddressInfo).port;
  await new Promise<void>((r) => s.close(() => r()));
  return port;
}
