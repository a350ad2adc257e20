import { Regex } from "../lib/regex";

/** JavaScript's `new RegExp(pattern, flags).test(input)`; the pattern must compile. */
function matches(pattern: string, input: string, flags: string = ""): bool {
  const re = Regex.compile(pattern, flags);
  expect(re).not.toBeNull(pattern);
  return re!.test(input);
}

function rejects(pattern: string, flags: string = ""): bool {
  return Regex.compile(pattern, flags) == null;
}

describe("Regex: rule values Moesif users write", () => {
  it("matches route patterns", () => {
    expect(matches("^/v1/orders/\\d+$", "/v1/orders/123")).toBe(true);
    expect(matches("^/v1/orders/\\d+$", "/v1/orders/")).toBe(false);
    expect(matches("^/v1/orders/\\d+$", "/v1/orders/12/items")).toBe(false);
    expect(matches("^/v1/orders/\\d+$", "/v2/orders/1")).toBe(false);
    expect(matches("/health/.*", "/health/live")).toBe(true);
    expect(matches("/health/.*", "/api/health/")).toBe(true);
    expect(matches("/health/.*", "/healthz")).toBe(false);
    expect(matches("^/(users|accounts)/[^/]+/?$", "/users/42")).toBe(true);
    expect(matches("^/(users|accounts)/[^/]+/?$", "/accounts/abc/")).toBe(true);
    expect(matches("^/(users|accounts)/[^/]+/?$", "/users/42/orders")).toBe(false);
    expect(matches("^/(users|accounts)/[^/]+/?$", "/admins/1")).toBe(false);
    expect(matches("^/(users|accounts)/[^/]+/?$", "/users//")).toBe(false);
    expect(matches("\\/v1\\/", "/api/v1/x")).toBe(true);
  });

  it("matches verbs, statuses and IPs", () => {
    expect(matches("^(GET|POST)$", "GET")).toBe(true);
    expect(matches("^(GET|POST)$", "POST")).toBe(true);
    expect(matches("^(GET|POST)$", "PUT")).toBe(false);
    expect(matches("^(GET|POST)$", "GETS")).toBe(false);
    expect(matches("^(GET|POST)$", "get")).toBe(false);
    expect(matches("^(GET|POST)$", "get", "i")).toBe(true);
    expect(matches("^5\\d\\d$", "503")).toBe(true);
    expect(matches("^5\\d\\d$", "404")).toBe(false);
    expect(matches("^203\\.0\\.113\\.\\d{1,3}$", "203.0.113.7")).toBe(true);
    expect(matches("^203\\.0\\.113\\.\\d{1,3}$", "203x0y113z7")).toBe(false);
    expect(matches("^203\\.0\\.113\\.\\d{1,3}$", "203.0.113.1234")).toBe(false);
    expect(matches("^10\\.", "10.1.2.3")).toBe(true);
    expect(matches("^10\\.", "110.1.2.3")).toBe(false);
  });

  it("matches GraphQL query text", () => {
    const q = "query Q {\n  user(id: 1) { name }\n}\nmutation   deleteUser($id: ID!) { deleteUser(id: $id) }";
    expect(matches("mutation\\s+deleteUser", q)).toBe(true);
    expect(matches("^\\s*query\\b", q)).toBe(true);
    expect(matches("^mutation", q)).toBe(false);
    expect(matches("^mutation", q, "m")).toBe(true);
    expect(matches("deleteuser", q, "i")).toBe(true);
  });
});

describe("Regex: syntax", () => {
  it("folds case with flag i", () => {
    expect(matches("^/API/", "/api/x", "i")).toBe(true);
    expect(matches("[a-z]+", "ABC", "i")).toBe(true);
    expect(matches("[^a-z]", "A", "i")).toBe(false);
    expect(matches("\\u00e9", "\u00c9", "i")).toBe(true);
    expect(matches("(a)\\1", "aA", "i")).toBe(true);
    expect(matches("(a)\\1", "aA")).toBe(false);
    // JavaScript never folds a non-ASCII unit onto ASCII without the u flag.
    expect(matches("\u017f", "s", "i")).toBe(false);
  });

  it("honours quantifier bounds", () => {
    expect(matches("^a{2}$", "aa")).toBe(true);
    expect(matches("^a{2}$", "aaa")).toBe(false);
    expect(matches("^a{2,}$", "aaaa")).toBe(true);
    expect(matches("^a{2,}$", "a")).toBe(false);
    expect(matches("^a{1,3}$", "aaa")).toBe(true);
    expect(matches("^a{1,3}$", "aaaa")).toBe(false);
    expect(matches("^a{0}$", "")).toBe(true);
    expect(matches("^(ab){2}$", "abab")).toBe(true);
    expect(matches("^(ab){2}$", "ab")).toBe(false);
    expect(matches("^x?y+z*$", "yyy")).toBe(true);
    // A brace that does not form a quantifier is a literal, as in JavaScript.
    expect(matches("a{,2}", "a{,2}")).toBe(true);
  });

  it("gives the same test() result for lazy and greedy forms", () => {
    expect(matches("a+?b", "aaab")).toBe(true);
    expect(matches("a+b", "aaab")).toBe(true);
    expect(matches("^a*?$", "aaa")).toBe(true);
    expect(matches("^a{1,3}?$", "aaa")).toBe(true);
    expect(matches("<.+?>", "x<tag>y")).toBe(true);
    expect(matches("^a??b$", "ab")).toBe(true);
  });

  it("parses classes", () => {
    expect(matches("[-a]", "-")).toBe(true);
    expect(matches("[a-]", "-")).toBe(true);
    expect(matches("[a\\-z]", "b")).toBe(false);
    expect(matches("[a\\-z]", "-")).toBe(true);
    expect(matches("[\\]]", "]")).toBe(true);
    expect(matches("[^\\]]", "]")).toBe(false);
    expect(matches("[\\d.]+$", "1.5")).toBe(true);
    expect(matches("^[\\w-]+$", "ab_c-1")).toBe(true);
    expect(matches("^[\\s\\S]$", "\n")).toBe(true);
    expect(matches("[\\b]", "\b")).toBe(true);
    expect(matches("[]", "a")).toBe(false);
    expect(matches("[^]", "\n")).toBe(true);
  });

  it("handles anchors, dot and word boundaries", () => {
    expect(matches("^abc", "xabc")).toBe(false);
    expect(matches("abc$", "abcx")).toBe(false);
    expect(matches("^b", "a\nb", "m")).toBe(true);
    expect(matches("a$", "a\nb", "m")).toBe(true);
    expect(matches("a.c", "a\nc")).toBe(false);
    expect(matches("a.c", "a\nc", "s")).toBe(true);
    expect(matches("\\bcat\\b", "a cat.")).toBe(true);
    expect(matches("\\bcat\\b", "concat")).toBe(false);
    expect(matches("\\Bcat", "concat")).toBe(true);
    expect(matches(".*done$", "line\nnot done")).toBe(true);
  });

  it("handles escapes, backreferences and lookahead", () => {
    expect(matches("\\x41\\u00e9\\t\\/", "A\u00e9\t/")).toBe(true);
    expect(matches("(\\w)\\1", "hello")).toBe(true);
    expect(matches("(\\w)\\1", "abc")).toBe(false);
    expect(matches("^(?!/internal).*", "/internal/x")).toBe(false);
    expect(matches("^(?!/internal).*", "/public")).toBe(true);
    expect(matches("q(?=u)", "quit")).toBe(true);
    expect(matches("q(?=u)", "qatar")).toBe(false);
    expect(matches("(?:ab)+c", "xababc")).toBe(true);
  });

  it("returns null for invalid or unsupported patterns and flags", () => {
    expect(rejects("(")).toBe(true);
    expect(rejects("[a-")).toBe(true);
    expect(rejects("a{2,1}")).toBe(true);
    expect(rejects("*a")).toBe(true);
    expect(rejects("\\")).toBe(true);
    expect(rejects(")")).toBe(true);
    expect(rejects("a**")).toBe(true);
    expect(rejects("[z-a]")).toBe(true);
    expect(rejects("^*")).toBe(true);
    expect(rejects("(?<=a)b")).toBe(true);
    expect(rejects("(?<name>a)")).toBe(true);
    expect(rejects("a", "u")).toBe(true);
    expect(rejects("a", "x")).toBe(true);
    expect(rejects("a", "ii")).toBe(true);
    expect(rejects("a", "gims")).toBe(false);
  });
});

describe("Regex: bounded work", () => {
  it("gives up on catastrophic backtracking within the step budget", () => {
    const re = Regex.compile("(a+)+$")!;
    expect(re.test("aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaab")).toBe(false);
    expect(re.exhausted).toBe(true);
    expect(re.test("aaaa")).toBe(true);
    expect(re.exhausted).toBe(false);
  });

  it("uses a configurable budget", () => {
    const re = Regex.compile("^(\\w+\\s?)*$")!;
    const saved = Regex.stepBudget;
    Regex.stepBudget = 50;
    expect(re.test("several words to walk through")).toBe(false);
    expect(re.exhausted).toBe(true);
    Regex.stepBudget = saved;
    expect(re.test("several words to walk through")).toBe(true);
  });

  it("scans long inputs without running out of budget", () => {
    let s = "";
    for (let i = 0; i < 2000; i++) s += "field" + i.toString() + " ";
    const long = s + "mutation deleteUser";
    const re = Regex.compile("(query|mutation)\\s+deleteUser")!;
    expect(re.test(long)).toBe(true);
    expect(re.exhausted).toBe(false);
    const tail = Regex.compile("deleteUser$")!;
    expect(tail.test(long)).toBe(true);
    expect(tail.exhausted).toBe(false);
    const dotted = Regex.compile(".*delete.*User")!;
    expect(dotted.test(long)).toBe(true);
    expect(dotted.exhausted).toBe(false);
  });

  it("refuses patterns too large or too deep instead of trapping", () => {
    let deep = "";
    for (let i = 0; i < 1000; i++) deep += "(";
    deep += "a";
    for (let i = 0; i < 1000; i++) deep += ")";
    expect(rejects(deep)).toBe(true);
    expect(rejects("a{100000}")).toBe(true);
    expect(rejects("((a{100}){100}){100}")).toBe(true);
    expect(matches("^(a{2,5}b){3}$", "aabaaabaaaaab")).toBe(true);
  });
});
