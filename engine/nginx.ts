// One nginx master of Kong's engine in its own prefix directory: start, reload, signal workers,
// stop. Every start is paired with a stop (tests call stop() in finally blocks), and a process
// exit handler kills what is left so no nginx outlives the test process.
import { spawn, execFileSync, type ChildProcess } from "node:child_process";
import { chmodSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync, existsSync } from "node:fs";
import { connect } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";

const live = new Set<ChildProcess>();
process.once("exit", () => {
  for (const p of live) p.kill("SIGKILL");
});

export const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

/** Polls `check` every `everyMs` until it returns a value other than undefined/false, or throws after `timeoutMs`. */
export async function until<T>(what: string, check: () => T | undefined | false | Promise<T | undefined | false>, timeoutMs = 20_000, everyMs = 25): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await check();
    if (v !== undefined && v !== false) return v as T;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await sleep(everyMs);
  }
}

export function portOpen(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = connect({ host: "127.0.0.1", port }, () => {
      s.destroy();
      resolve(true);
    });
    s.on("error", () => resolve(false));
  });
}

/** nginx's environment: ours minus `NGINX`, which nginx reads as inherited listening sockets. */
function nginxEnv(): NodeJS.ProcessEnv {
  const env = { ...process.env };
  delete env.NGINX;
  return env;
}

export class NginxProcess {
  readonly prefix: string;
  private child: ChildProcess | null = null;
  private exited: Promise<number | null> = Promise.resolve(null);

  constructor(readonly binary: string, prefix?: string) {
    this.prefix = prefix ?? mkdtempSync(join(tmpdir(), "kwm-engine-"));
    // mkdtemp makes the directory 0700: workers started by root run as nobody and must reach temp/ (spooled bodies).
    chmodSync(this.prefix, 0o755);
    for (const d of ["logs", "temp"]) mkdirSync(join(this.prefix, d), { recursive: true });
  }

  get errorLogPath(): string {
    return join(this.prefix, "logs", "error.log");
  }

  errorLog(): string {
    return existsSync(this.errorLogPath) ? readFileSync(this.errorLogPath, "latin1") : "";
  }

  get masterPid(): number | null {
    return this.child?.pid ?? null;
  }

  writeConf(conf: string): void {
    writeFileSync(join(this.prefix, "nginx.conf"), conf);
  }

  /** Starts the master (`daemon off`) with the conf written before; resolves once `port` accepts connections. */
  async start(port: number): Promise<void> {
    if (this.child) throw new Error("already started");
    const child = spawn(this.binary, ["-p", this.prefix, "-c", "nginx.conf"], {
      env: nginxEnv(),
      stdio: ["ignore", "ignore", "pipe"],
    });
    let stderr = "";
    child.stderr?.on("data", (d: Buffer) => (stderr += d.toString()));
    this.child = child;
    live.add(child);
    this.exited = new Promise((resolve) =>
      child.once("exit", (code) => {
        live.delete(child);
        resolve(code);
      }),
    );
    let gone = false;
    void this.exited.then(() => (gone = true));
    await until(`nginx to listen on 127.0.0.1:${port}`, async () => {
      if (gone) throw new Error(`nginx exited at start: ${stderr.trim() || this.errorLog().slice(-2000)}`);
      return portOpen(port);
    });
  }

  /** The master's current worker pids (workers being shut down after a reload included). */
  workerPids(): number[] {
    const master = this.masterPid;
    if (master === null) return [];
    try {
      return execFileSync("ps", ["-o", "pid=", "--ppid", String(master)], { encoding: "utf8" })
        .split("\n")
        .map((s) => Number(s.trim()))
        .filter((n) => n > 0);
    } catch {
      return []; // ps exits 1 when there are none
    }
  }

  signalMaster(signal: NodeJS.Signals): void {
    if (this.child?.pid) process.kill(this.child.pid, signal);
  }

  /** `nginx -s reload`: re-reads nginx.conf (write it first to change it) and replaces the workers. */
  reload(): void {
    this.signalMaster("SIGHUP");
  }

  /** Fast stop; waits for the master to exit (SIGKILL after `graceMs`). Idempotent. */
  async stop(graceMs = 10_000, signal: NodeJS.Signals = "SIGTERM"): Promise<void> {
    const child = this.child;
    if (!child) return;
    if (child.exitCode === null && child.signalCode === null) {
      child.kill(signal);
      const timer = setTimeout(() => {
        for (const pid of this.workerPids()) {
          try {
            process.kill(pid, "SIGKILL");
          } catch {
            /* already gone */
          }
        }
        child.kill("SIGKILL");
      }, graceMs);
      await this.exited;
      clearTimeout(timer);
    }
    this.child = null;
  }

  /** Removes the prefix directory (logs included). */
  cleanup(): void {
    rmSync(this.prefix, { recursive: true, force: true });
  }
}
