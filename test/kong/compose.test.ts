// docker-compose.yml: Docker is not run here, so this checks what can go wrong without it:
// the YAML, every mounted path, the ports, that each Kong setting is one Kong 3.9 knows
// (names taken from Kong 3.9.3's kong_defaults.lua and ngx_wasm_module at Kong 3.9's pin),
// that the pieces point at each other, and that the collector and demo API command lines
// start and answer (run with the repo's tsx on 127.0.0.1 instead of in node:20).
import { test } from "node:test";
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { existsSync, readFileSync, statSync } from "node:fs";
import { parse } from "yaml";
import { RELEASE_WASM } from "../../scripts/build.ts";
import { ROOT, compileConfigSchema, type Json } from "./config-schema.ts";

type Obj = { [k: string]: Json };

function obj(v: Json | undefined, what: string): Obj {
  assert.ok(v !== null && typeof v === "object" && !Array.isArray(v), `${what} is a mapping`);
  return v as Obj;
}

function strings(v: Json | undefined, what: string): string[] {
  assert.ok(Array.isArray(v) && v.every((x) => typeof x === "string"), `${what} is a list of strings`);
  return v as string[];
}

// YAML 1.1 (as older compose parsers read it): an unquoted on/off would become a boolean there.
const COMPOSE = obj(parse(readFileSync(ROOT + "docker-compose.yml", "utf8"), { version: "1.1" }), "docker-compose.yml");
const SERVICES = obj(COMPOSE.services, "services");
const kong = obj(SERVICES.kong, "services.kong");
const ENV = obj(kong.environment, "kong.environment") as Record<string, Json>;
const PKG = JSON.parse(readFileSync(ROOT + "package.json", "utf8")) as { devDependencies: Record<string, string> };

type Mount = { source: string; target: string; readOnly: boolean; createHostPath: boolean };

function mounts(svc: Obj): Mount[] {
  const list = Array.isArray(svc.volumes) ? svc.volumes : [];
  return list.map((v) => {
    if (typeof v === "string") {
      const [source, target, mode] = v.split(":");
      return { source, target, readOnly: mode === "ro", createHostPath: true };
    }
    const m = obj(v, "volume");
    assert.equal(m.type, "bind", "only bind mounts");
    const bind = m.bind === undefined ? {} : obj(m.bind, "bind");
    return { source: String(m.source), target: String(m.target), readOnly: m.read_only === true, createHostPath: bind.create_host_path !== false };
  });
}

function repoPath(source: string): string {
  assert.ok(source.startsWith("./"), `${source}: mounted from the repository (relative to docker-compose.yml)`);
  return ROOT + source.slice(2);
}

// Kong 3.9.3 kong/templates/kong_defaults.lua: the plain keys this file may set.
const KONG_KEYS = new Set([
  "database", "declarative_config", "wasm", "wasm_filters_path", "wasm_filters",
  "proxy_listen", "admin_listen", "log_level", "plugins", "lua_ssl_trusted_certificate",
]);
// Kong 3.9.3 kong/conf_loader/constants.lua DYNAMIC_KEY_NAMESPACES (most specific first):
// nginx_wasm_shm_kv_<zone> → `shm_kv <zone> <size>;`, nginx_wasm_<directive> → wasm{},
// nginx_http_<directive> → http{}.
// ngx_wasm_module 9136e463 (Kong 3.9's pin) src/wasm/ngx_wasm_core_module.c: wasm{} directives.
const WASM_DIRECTIVES = new Set([
  "shm_kv", "resolver", "resolver_timeout", "proxy_wasm_lua_resolver", "tls_trusted_certificate",
  "tls_verify_cert", "tls_verify_host", "tls_no_verify_warn", "socket_connect_timeout",
  "socket_send_timeout", "socket_read_timeout",
]);
const HTTP_DIRECTIVES = new Set(["client_body_buffer_size", "client_max_body_size"]);

function shmBytes(v: string): number {
  const m = /^(\d+)([km]?)$/i.exec(v.split(" ")[0]);
  assert.ok(m, `${v}: a size like 32m`);
  return Number(m[1]) * ({ "": 1, k: 1024, m: 1024 * 1024 } as Record<string, number>)[m[2].toLowerCase()];
}

test("docker-compose.yml: Kong 3.9 image, DB-less, every Kong setting one Kong 3.9 knows", () => {
  assert.equal(kong.image, "kong:3.9");
  for (const [name, value] of Object.entries(ENV)) {
    assert.equal(typeof value, "string", `${name}: quote the value (YAML 1.1 reads on/off as booleans)`);
    assert.ok(name.startsWith("KONG_"), `${name}: Kong reads KONG_* variables`);
    const key = name.slice(5).toLowerCase(); // Kong lower-cases the variable name
    if (key.startsWith("nginx_wasm_shm_kv_")) {
      const bytes = shmBytes(value as string);
      assert.ok(bytes >= 3 * 4096 && bytes % 4096 === 0, `${name}: at least 12k and a multiple of 4096`);
    } else if (key.startsWith("nginx_wasm_")) {
      assert.ok(WASM_DIRECTIVES.has(key.slice(11)), `${name}: not a wasm{} directive of Kong 3.9's ngx_wasm_module`);
    } else if (key.startsWith("nginx_http_")) {
      assert.ok(HTTP_DIRECTIVES.has(key.slice(11)), `${name}: unexpected http{} directive`);
    } else {
      assert.ok(KONG_KEYS.has(key), `${name}: not a kong.conf key of Kong 3.9`);
    }
  }
  assert.equal(ENV.KONG_DATABASE, "off");
  assert.equal(ENV.KONG_WASM, "on");
  assert.ok(Object.keys(ENV).some((k) => k.startsWith("KONG_NGINX_WASM_SHM_KV_")), "an shm_kv zone for the queue");
  assert.ok("KONG_NGINX_WASM_RESOLVER" in ENV || "KONG_NGINX_WASM_PROXY_WASM_LUA_RESOLVER" in ENV, "a resolver for the collector calls");
});

test("docker-compose.yml: every mounted file exists and lands where Kong looks for it", () => {
  const byTarget = new Map(mounts(kong).map((m) => [m.target, m]));
  const filters = String(ENV.KONG_WASM_FILTERS_PATH);
  const wasm = byTarget.get(`${filters}/moesif.wasm`);
  assert.ok(wasm, "moesif.wasm in wasm_filters_path");
  assert.equal(wasm.source, "./" + RELEASE_WASM, "the release build of npm run build");
  assert.equal(wasm.createHostPath, false, "a missing build must fail, not become an empty directory");
  const meta = byTarget.get(`${filters}/moesif.meta.json`);
  assert.ok(meta && existsSync(repoPath(meta.source)), "moesif.meta.json next to it");
  assert.ok(byTarget.has(String(ENV.KONG_DECLARATIVE_CONFIG)), "the declarative config is mounted");
  for (const [name, svc] of Object.entries(SERVICES)) {
    for (const m of mounts(obj(svc, name))) {
      assert.ok(m.readOnly, `${name}: ${m.target} read-only`);
      if (m !== wasm) assert.ok(existsSync(repoPath(m.source)), `${name}: ${m.source} exists`);
    }
  }
});

// The node services: `npx --yes tsx@<version> <script> --port N --host 0.0.0.0`.
function nodeService(name: string): { script: string; args: string[]; port: number } {
  const svc = obj(SERVICES[name], name);
  assert.equal(svc.image, "node:20");
  const cmd = strings(svc.command, `${name}.command`);
  assert.deepEqual(cmd.slice(0, 3), ["npx", "--yes", `tsx@${PKG.devDependencies.tsx}`], `${name}: the repo's tsx version`);
  const args = cmd.slice(4);
  const at = (flag: string) => args[args.indexOf(flag) + 1];
  assert.equal(at("--host"), "0.0.0.0", `${name}: reachable from the other containers`);
  const dir = String(svc.working_dir);
  for (const m of mounts(svc)) assert.ok(m.target.startsWith(dir + "/"), `${name}: ${m.target} under ${dir}`);
  const local = mounts(svc).find((m) => m.target === dir + "/local");
  assert.ok(local && statSync(repoPath(local.source)).isDirectory(), `${name}: ./local mounted`);
  assert.ok(mounts(svc).some((m) => m.target === dir + "/package.json"), `${name}: package.json ("type": "module") mounted`);
  assert.ok(existsSync(ROOT + cmd[3]), `${name}: ${cmd[3]} exists`);
  return { script: cmd[3], args, port: Number(at("--port")) };
}

test("docker-compose.yml: ports, and the declarative config points at the demo API and the collector", () => {
  assert.deepEqual(strings(kong.ports, "kong.ports"), ["8000:8000", "127.0.0.1:8001:8001"]);
  assert.ok(String(ENV.KONG_ADMIN_LISTEN).endsWith(":8001"));
  const collector = nodeService("collector");
  const demo = nodeService("demo-api");
  assert.equal(collector.port, 8088);
  assert.equal(demo.port, 8080);
  assert.deepEqual(strings(obj(SERVICES.collector, "collector").ports, "collector.ports"), ["127.0.0.1:8088:8088"]);

  const declarative = mounts(kong).find((m) => m.target === ENV.KONG_DECLARATIVE_CONFIG)!;
  const doc = obj(parse(readFileSync(repoPath(declarative.source), "utf8")), declarative.source);
  const svc = obj((doc.services as Json[])[0], "services[0]");
  assert.equal(svc.url, `http://demo-api:${demo.port}`);
  const route = obj((svc.routes as Json[])[0], "routes[0]");
  const chain = obj((route.filter_chains as Json[])[0], "filter_chains[0]");
  const filter = obj((chain.filters as Json[])[0], "filters[0]");
  assert.equal(filter.name, "moesif");
  const config = obj(filter.config, "filter config");
  assert.equal(config.api_endpoint, `http://collector:${collector.port}`);
  const validate = compileConfigSchema();
  assert.ok(validate(config), JSON.stringify(validate.errors));
  const zone = String(config.kv_namespace ?? "moesif").toUpperCase();
  assert.ok(`KONG_NGINX_WASM_SHM_KV_${zone}` in ENV, "the shm_kv zone is the filter's kv_namespace");
});

// Runs a node service's command line (same script and flags, port 0, loopback) and returns its URL.
async function startService(name: string): Promise<{ url: string; stop: () => void }> {
  const { script, args } = nodeService(name);
  const local = args.map((a, i) => (args[i - 1] === "--port" ? "0" : args[i - 1] === "--host" ? "127.0.0.1" : a));
  const child = spawn(process.execPath, ["--import", "tsx", script, ...local], { cwd: ROOT, stdio: ["ignore", "pipe", "inherit"] });
  let out = "";
  const url = await new Promise<string>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`${name} did not start: ${out}`)), 30_000);
    child.stdout.on("data", (d: Buffer) => {
      out += d.toString();
      const m = /listening on (http:\/\/127\.0\.0\.1:\d+)/.exec(out);
      if (m) {
        clearTimeout(timer);
        resolve(m[1]);
      }
    });
    child.once("exit", (code) => reject(new Error(`${name} exited (${code}): ${out}`)));
  });
  return { url, stop: () => child.kill() };
}

test("the collector and demo API command lines start and answer", async () => {
  const demo = await startService("demo-api");
  const collector = await startService("collector").catch((e: Error) => {
    demo.stop();
    throw e;
  });
  try {
    const orders = await fetch(demo.url + "/v1/orders");
    assert.equal(orders.status, 200);
    const config = await fetch(collector.url + "/v1/config", { headers: { "X-Moesif-Application-Id": "local-demo-application-id" } });
    assert.equal(config.status, 200);
    assert.equal(typeof (await config.json()), "object");
  } finally {
    demo.stop();
    collector.stop();
  }
});
