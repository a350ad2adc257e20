// Entry point: the proxy-wasm exports come from the (patched) runtime; the filter's root
// context factory is registered here. Everything else lives in filter/ and moesif/.
export * from "@solo-io/proxy-runtime/assembly/proxy";
import { RootContext, registerRootContext } from "@solo-io/proxy-runtime/assembly";

registerRootContext((id: u32): RootContext => new RootContext(id), "moesif");
