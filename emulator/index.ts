// Kong Wasm host emulator: public entry point.
export * from "./gateway.js";
export * from "./types.js";
export { KongWasmHost } from "./host.js";
export { readRequest, writeResult, serveGateway, sendRequest, serveUpstream, type Received, type UpstreamServer } from "./loopback.js";
export { SharedKV, KvZone, SharedQueue, entryCost, KV_ENTRY_OVERHEAD, KV_RESERVED_PAGES } from "./kv.js";
export { DispatchError, HostTrap, WorkerCrash, WasiExit } from "./errors.js";
export { crc32 } from "./crc32.js";
export { marshalInto, marshalSize, unmarshal } from "./headers.js";
export { encodeModule, type ModuleSpec } from "./wasm-binary.js";
export { ENV_FUNCS, WASI_FUNCS } from "./abi.js";
