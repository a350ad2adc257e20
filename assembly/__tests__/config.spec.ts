import { parseConfig, parseEndpoint, Endpoint } from "../moesif/config";

describe("parseConfig", () => {
  it("applies the Lua plugin's defaults (Kong 3.x column)", () => {
    const r = parseConfig('{"application_id":"app"}');
    expect(r.error).toBe("");
    const c = r.config!;
    expect(c.apiEndpoint).toBe("https://api.moesif.net");
    expect(c.endpoint.target).toBe("api.moesif.net:443");
    expect(c.endpoint.authority).toBe("api.moesif.net");
    expect(c.connectTimeout).toBe(1000);
    expect(c.sendTimeout).toBe(2000);
    expect(c.batchSize).toBe(200);
    expect(c.eventQueueSize).toBe(100000);
    expect(c.maxCallbackTimeSpent).toBe(750);
    expect(c.requestMaxBodySizeLimit).toBe(100000);
    expect(c.responseMaxBodySizeLimit).toBe(100000);
    expect(c.apiVersion).toBe("1.0");
    expect(c.authorizationHeaderNames).toStrictEqual(["authorization"]);
    expect(c.authorizationUserIdField).toBe("sub");
    expect(c.flushIntervalMs).toBe(1000);
    expect(c.maxRetryTimeMs).toBe(300000);
    expect(c.kvNamespace).toBe("moesif");
  });

  it("reads every option", () => {
    const r = parseConfig('{"application_id":"app","api_endpoint":"http:\\/\\/127.0.0.1:9000\\/base\\/","connect_timeout":5,' +
      '"send_timeout":7,"keepalive":0,"api_version":"2","disable_capture_request_body":true,"disable_capture_response_body":true,' +
      '"request_header_masks":["Authorization"],"response_header_masks":["Set-Cookie"],"request_body_masks":["password"],' +
      '"response_body_masks":["token"],"request_query_masks":["api_key"],"batch_size":3,"user_id_header":"X-User",' +
      '"company_id_header":"X-Org","authorization_header_name":"Authorization, X-Token","authorization_user_id_field":"uid",' +
      '"authorization_company_id_field":"org.id","disable_gzip_payload_decompression":true,"max_callback_time_spent":10,' +
      '"request_max_body_size_limit":1,"response_max_body_size_limit":2,"event_queue_size":9,"debug":true,' +
      '"disable_transaction_id":true,"enable_compression":true,"flush_interval_ms":500,"max_retry_time_ms":0,' +
      '"queue_max_bytes":100000,"enable_metrics":true,"log_summary_interval_ms":0,"kv_namespace":"m-1"}');
    expect(r.error).toBe("");
    const c = r.config!;
    expect(c.endpoint.scheme).toBe("http");
    expect(c.endpoint.target).toBe("127.0.0.1:9000");
    expect(c.endpoint.authority).toBe("127.0.0.1:9000");
    expect(c.endpoint.basePath).toBe("/base");
    expect(c.requestHeaderMasks).toStrictEqual(["authorization"]);
    expect(c.responseHeaderMasks).toStrictEqual(["set-cookie"]);
    expect(c.requestBodyMasks).toStrictEqual(["password"]);
    expect(c.responseBodyMasks).toStrictEqual(["token"]);
    expect(c.requestQueryMasks).toStrictEqual(["api_key"]);
    expect(c.userIdHeader).toBe("x-user");
    expect(c.companyIdHeader).toBe("x-org");
    expect(c.authorizationHeaderNames).toStrictEqual(["authorization", "x-token"]);
    expect(c.authorizationCompanyIdField).toBe("org.id");
    expect(c.batchSize).toBe(3);
    expect(c.eventQueueSize).toBe(9);
    expect(c.disableTransactionId).toBe(true);
    expect(c.enableCompression).toBe(true);
    expect(c.kvNamespace).toBe("m-1");
    expect(r.warnings.length).toBe(0);
  });

  it("names the field of the first error", () => {
    expect(parseConfig("{}").error.includes("'application_id'")).toBe(true);
    expect(parseConfig('{"application_id":""}').error.includes("'application_id'")).toBe(true);
    expect(parseConfig('{"application_id":5}').error.includes("'application_id'")).toBe(true);
    expect(parseConfig('{"application_id":"a","batch_size":0}').error.includes("'batch_size'")).toBe(true);
    expect(parseConfig('{"application_id":"a","batch_size":1.5}').error.includes("'batch_size'")).toBe(true);
    expect(parseConfig('{"application_id":"a","request_max_body_size_limit":-1}').error.includes("'request_max_body_size_limit'")).toBe(true);
    expect(parseConfig('{"application_id":"a","debug":"yes"}').error.includes("'debug'")).toBe(true);
    expect(parseConfig('{"application_id":"a","request_body_masks":"password"}').error.includes("'request_body_masks'")).toBe(true);
    expect(parseConfig('{"application_id":"a","request_body_masks":[1]}').error.includes("'request_body_masks'")).toBe(true);
    expect(parseConfig('{"application_id":"a","api_endpoint":"api.moesif.net"}').error.includes("'api_endpoint'")).toBe(true);
    expect(parseConfig('{"application_id":"a","kv_namespace":"Bad/Name"}').error.includes("'kv_namespace'")).toBe(true);
    expect(parseConfig("[1]").error.includes("JSON object")).toBe(true);
    expect(parseConfig("not json").error.includes("JSON object")).toBe(true);
    expect(parseConfig('{"application_id":"a","event_queue_size":20000000}').error.includes("'event_queue_size'")).toBe(true);
  });

  it("accepts {} for an empty list (Kong's cjson encodes empty arrays as objects)", () => {
    const r = parseConfig('{"application_id":"a","request_header_masks":{},"request_query_masks":{}}');
    expect(r.error).toBe("");
    expect(r.config!.requestHeaderMasks.length).toBe(0);
    expect(parseConfig('{"application_id":"a","request_header_masks":{"a":1}}').error.includes("'request_header_masks'")).toBe(true);
  });

  it("treats JSON null as unset", () => {
    const r = parseConfig('{"application_id":"a","user_id_header":null,"batch_size":null}');
    expect(r.error).toBe("");
    expect(r.config!.batchSize).toBe(200);
  });

  it("warns about unknown fields and the deprecated timeout", () => {
    const r = parseConfig('{"application_id":"a","timeout":1000,"colour":"blue"}');
    expect(r.error).toBe("");
    expect(r.warnings.length).toBe(2);
    expect(r.warnings[0].includes("colour")).toBe(true);
    expect(r.warnings[1].includes("timeout")).toBe(true);
  });

  it("uses the deprecated body mask aliases only when the new lists are empty", () => {
    let c = parseConfig('{"application_id":"a","request_masks":["a"],"response_masks":["b"]}').config!;
    expect(c.requestBodyMasks).toStrictEqual(["a"]);
    expect(c.responseBodyMasks).toStrictEqual(["b"]);
    c = parseConfig('{"application_id":"a","request_masks":["a"],"request_body_masks":["x"]}').config!;
    expect(c.requestBodyMasks).toStrictEqual(["x"]);
  });
});

describe("parseEndpoint", () => {
  it("derives target, authority and base path", () => {
    const e = new Endpoint();
    expect(parseEndpoint("https://collector.example.com:8443/", e)).toBe(true);
    expect(e.target).toBe("collector.example.com:8443");
    expect(e.authority).toBe("collector.example.com:8443");
    expect(e.basePath).toBe("");
    expect(parseEndpoint("http://[::1]:9000/x", e)).toBe(true);
    expect(e.target).toBe("[::1]:9000");
    expect(e.basePath).toBe("/x");
    expect(parseEndpoint("http://host:99999", e)).toBe(false);
    expect(parseEndpoint("ftp://host", e)).toBe(false);
    expect(parseEndpoint("https://", e)).toBe(false);
  });
});
