// Reads nginx's error.log into the same LogLine records the emulator produces, plus the engine
// events tests wait for: traps (Wasmtime's "error while executing" reports) and worker exits.
import type { LogLevel, LogLine } from "../emulator/gateway.ts";

export interface WorkerExit {
  pid: number;
  /** "signal 9", "code 2", … as nginx words it. */
  how: string;
  fatal: boolean;
}

export interface ParsedLog {
  lines: LogLine[];
  /** Trap reports (first line + continuation lines), in order. */
  traps: string[];
  exits: WorkerExit[];
  /** pids of workers started by the master, in order. */
  workerPids: number[];
}

const HEAD = /^\d{4}\/\d\d\/\d\d \d\d:\d\d:\d\d \[(\w+)\] (\d+)#\d+: (?:\*(\d+) )?(.*)$/;
// Filter log calls: `[proxy-wasm]["<filter>" #<ctx>] message`.
const FILTER = /^\[proxy-wasm\]\["[^"]*" #(\d+)\] (.*)$/s;
// nginx appends the request's context to lines logged while serving it.
const REQUEST_SUFFIX = /, (?:client|server): .*$/s;
const VM_SUFFIX = / <vm: "[^"]*", runtime: "[^"]*">$/s;

function level(nginxLevel: string): LogLevel {
  switch (nginxLevel) {
    case "debug":
      return "debug";
    case "info":
    case "notice":
      return "info";
    case "warn":
      return "warn";
    case "error":
      return "error";
    default:
      return "critical"; // crit, alert, emerg
  }
}

/** Parses error.log text. LogLine.worker is the worker's index in start order (respawned and
 *  reloaded workers get new indexes); the master's lines carry -1. */
export function parseErrorLog(text: string): ParsedLog {
  const out: ParsedLog = { lines: [], traps: [], exits: [], workerPids: [] };
  // A record is a head line and the lines after it that do not start with a date (backtraces).
  const records: Array<{ head: RegExpExecArray; text: string }> = [];
  for (const raw of text.split("\n")) {
    const m = HEAD.exec(raw);
    if (m) records.push({ head: m, text: m[4] });
    else if (records.length && raw.length) records[records.length - 1].text += `\n${raw}`;
  }
  const index = new Map<number, number>();
  for (const { text: body } of records) {
    const started = /^start worker process (\d+)$/.exec(body);
    if (started && !index.has(Number(started[1]))) {
      index.set(Number(started[1]), out.workerPids.length);
      out.workerPids.push(Number(started[1]));
    }
  }
  for (const { head, text: body } of records) {
    const pid = Number(head[2]);
    const exited = /^worker process (\d+) exited (on signal \d+|with (?:fatal )?code \d+)/.exec(body);
    if (exited) {
      const how = exited[2].replace(/^on /, "").replace(/^with /, "");
      if (how !== "code 0") out.exits.push({ pid: Number(exited[1]), how, fatal: /fatal/.test(how) });
    }
    if (/error while executing|host trap|wasm trap/.test(body)) out.traps.push(body);
    const f = FILTER.exec(body.replace(REQUEST_SUFFIX, ""));
    const message = f ? f[2] : body.replace(REQUEST_SUFFIX, "").replace(VM_SUFFIX, "");
    out.lines.push({
      level: level(head[1]),
      worker: index.get(pid) ?? -1,
      context: f ? Number(f[1]) : head[3] ? Number(head[3]) : 0,
      message,
      source: f ? "filter" : "host",
    });
  }
  return out;
}
