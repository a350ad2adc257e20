// Entry point: the proxy-wasm exports come from the (patched) runtime; the filter's root
// context is registered here. Plumbing lives in filter/, product logic in moesif/ and lib/.
export * from "@solo-io/proxy-runtime/assembly/exports";
// The filter's own malloc: host values land straight in the caller's buffer (filter/host.ts).
export { malloc, free } from "./filter/host";
import { RootContext, registerRootContext } from "@solo-io/proxy-runtime/assembly";
import { MoesifRoot } from "./filter/root";

registerRootContext((id: u32): RootContext => new MoesifRoot(id), "moesif");
