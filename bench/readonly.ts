// Benchmark floor (SPEC §11 "read-only" filter): fetches the data the moesif filter reads,
// through proxy-runtime's public helpers and in the phases the filter reads them
// (assembly/filter/http.ts: response body chunks as they pass, request/response headers
// and the request body in on_log), and does nothing else with it. Built with the filter's
// minimal runtime, it collects garbage as the filter does (every 256 requests, in on_delete).
export * from "@solo-io/proxy-runtime/assembly/proxy";
import { Context, FilterDataStatusValues, RootContext, registerRootContext, stream_context } from "@solo-io/proxy-runtime/assembly";
import { BufferTypeValues, get_buffer_bytes } from "@solo-io/proxy-runtime/assembly/runtime";

class ReadOnlyHttp extends Context {
  private requestBodyLength: u32 = 0;

  onRequestBody(body_buffer_length: usize, end_of_stream: bool): FilterDataStatusValues {
    this.requestBodyLength = <u32>body_buffer_length;
    return FilterDataStatusValues.Continue;
  }

  onResponseBody(body_buffer_length: usize, end_of_stream: bool): FilterDataStatusValues {
    if (body_buffer_length > 0) get_buffer_bytes(BufferTypeValues.HttpResponseBody, 0, <u32>body_buffer_length);
    return FilterDataStatusValues.Continue;
  }

  onLog(): void {
    stream_context.headers.request.get_headers();
    stream_context.headers.response.get_headers();
    if (this.requestBodyLength > 0) get_buffer_bytes(BufferTypeValues.HttpRequestBody, 0, this.requestBodyLength);
  }

  onDelete(): void {
    if (++requests % 256 == 0) __collect();
  }
}

let requests = 0;

class ReadOnlyRoot extends RootContext {
  createContext(context_id: u32): Context {
    return new ReadOnlyHttp(context_id, this);
  }
}

registerRootContext((id: u32): RootContext => new ReadOnlyRoot(id), "readonly");
