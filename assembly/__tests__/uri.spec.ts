import { ByteBuf } from "../lib/bytes";
import { writeRequestUri, routeOf } from "../moesif/uri";

function uri(path: string, masks: Array<string>, scheme: string = "https", host: string = "api.example.com"): string {
  const out = new ByteBuf(8);
  writeRequestUri(out, scheme, host, path, masks);
  return out.toString();
}

describe("writeRequestUri", () => {
  it("writes scheme, host as given (with its port) and the target", () => {
    expect(uri("/v1/items?a=1", [], "http", "shop.example:8443")).toBe("http://shop.example:8443/v1/items?a=1");
  });

  it("writes / for an empty target", () => {
    expect(uri("", [])).toBe("https://api.example.com/");
  });

  it("writes / before a bare query", () => {
    expect(uri("?key=1", ["key"])).toBe("https://api.example.com/?key=*****");
  });

  it("masks a parameter by exact name", () => {
    expect(uri("/p?key=secret&b=2", ["key"])).toBe("https://api.example.com/p?key=*****&b=2");
  });

  it("does not mask a longer name containing the mask (Lua substring bug: key vs my_key)", () => {
    expect(uri("/p?my_key=abc&key=zzz", ["key"])).toBe("https://api.example.com/p?my_key=abc&key=*****");
  });

  it("does not mask a name that merely starts or ends with the mask", () => {
    expect(uri("/p?keys=1&akey=2&key_=3", ["key"])).toBe("https://api.example.com/p?keys=1&akey=2&key_=3");
  });

  it("masks names with pattern characters (Lua pattern bug: api-key)", () => {
    expect(uri("/p?api-key=abc&x.y=1&a%b=2", ["api-key", "x.y", "a%b"])).toBe(
      "https://api.example.com/p?api-key=*****&x.y=*****&a%b=*****",
    );
  });

  it("masks an empty value (Lua bug: key= left alone)", () => {
    expect(uri("/p?key=&b=2", ["key"])).toBe("https://api.example.com/p?key=*****&b=2");
    expect(uri("/p?b=2&key=", ["key"])).toBe("https://api.example.com/p?b=2&key=*****");
  });

  it("masks every occurrence (Lua bug: first only)", () => {
    expect(uri("/p?key=1&key=2&x=3&key=4", ["key"])).toBe("https://api.example.com/p?key=*****&key=*****&x=3&key=*****");
  });

  it("leaves a parameter without = alone", () => {
    expect(uri("/p?key&b=2&key", ["key"])).toBe("https://api.example.com/p?key&b=2&key");
  });

  it("is case-sensitive and does not URL-decode names", () => {
    expect(uri("/p?KEY=1&k%65y=2&key=3", ["key"])).toBe("https://api.example.com/p?KEY=1&k%65y=2&key=*****");
  });

  it("never touches the path, even when it looks like a parameter (Lua bug: full uri)", () => {
    expect(uri("/key=abc/x?key=1", ["key"])).toBe("https://api.example.com/key=abc/x?key=*****");
  });

  it("keeps a value that itself contains =", () => {
    expect(uri("/p?token=a=b=c&q=x=y", ["token"])).toBe("https://api.example.com/p?token=*****&q=x=y");
  });

  it("keeps empty parameters and a trailing &", () => {
    expect(uri("/p?&&key=1&", ["key"])).toBe("https://api.example.com/p?&&key=*****&");
    expect(uri("/p?", ["key"])).toBe("https://api.example.com/p?");
  });

  it("never touches the fragment", () => {
    expect(uri("/p?key=1#key=2", ["key"])).toBe("https://api.example.com/p?key=*****#key=2");
    expect(uri("/p#frag?key=1", ["key"])).toBe("https://api.example.com/p#frag?key=1");
  });

  it("applies several masks", () => {
    expect(uri("/p?password=p&user=u&token=t", ["token", "password"])).toBe(
      "https://api.example.com/p?password=*****&user=u&token=*****",
    );
  });

  it("writes non-ASCII path, names and values as UTF-8", () => {
    const out = new ByteBuf(8);
    writeRequestUri(out, "https", "h", "/caf\u00e9?cl\u00e9=\u20ac&n=\u{1F600}", ["cl\u00e9"]);
    expect(out.toString()).toBe("https://h/caf\u00e9?cl\u00e9=*****&n=\u{1F600}");
    // é (2 bytes) + é (2) + 😀 (4): byte length proves UTF-8, not UTF-16 or Latin-1.
    expect(out.length).toBe("https://h/caf\u00e9?cl\u00e9=*****&n=\u{1F600}".length + 1 + 1 + 2);
  });

  it("appends to what the buffer already holds", () => {
    const out = new ByteBuf(4);
    out.str("\"uri\":\"");
    writeRequestUri(out, "http", "h", "/a?k=v", ["k"]);
    expect(out.toString()).toBe("\"uri\":\"http://h/a?k=*****");
  });
});

describe("routeOf", () => {
  it("strips the query", () => {
    expect(routeOf("/v1/items?a=1")).toBe("/v1/items");
  });
  it("strips a fragment", () => {
    expect(routeOf("/v1/items#x")).toBe("/v1/items");
  });
  it("returns / for an empty path", () => {
    expect(routeOf("")).toBe("/");
    expect(routeOf("?a=1")).toBe("/");
  });
  it("returns the path unchanged without a query", () => {
    expect(routeOf("/a/b")).toBe("/a/b");
  });
});
