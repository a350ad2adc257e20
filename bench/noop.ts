// Benchmark baseline (SPEC §11): the proxy-runtime plumbing alone. Its HTTP context does
// nothing; every callback keeps the runtime's default (Continue). Built with the filter's
// minimal runtime, it collects garbage as the filter does (every 256 requests, in on_delete).
export * from "@solo-io/proxy-runtime/assembly/proxy";
import { Context, RootContext, registerRootContext } from "@solo-io/proxy-runtime/assembly";

let requests = 0;

class NoopHttp extends Context {
  onDelete(): void {
    if (++requests % 256 == 0) __collect();
  }
}

class NoopRoot extends RootContext {
  createContext(context_id: u32): Context {
    return new NoopHttp(context_id, this);
  }
}

registerRootContext((id: u32): RootContext => new NoopRoot(id), "noop");
