// Benchmark baseline (SPEC §11): the proxy-runtime plumbing alone. Its HTTP context does
// nothing; every callback keeps the runtime's default (Continue).
export * from "@solo-io/proxy-runtime/assembly/proxy";
import { Context, RootContext, registerRootContext } from "@solo-io/proxy-runtime/assembly";

class NoopRoot extends RootContext {
  createContext(context_id: u32): Context {
    return new Context(context_id, this);
  }
}

registerRootContext((id: u32): RootContext => new NoopRoot(id), "noop");
