class P { a: i32 = 1; b: string = "x"; }
describe("smoke", () => {
  it("adds", () => { expect(1 + 1).toBe(2); });
  it("strict equals classes", () => { expect(new P()).toStrictEqual(new P()); });
  it("strict differs", () => { const q = new P(); q.a = 2; expect(q).not.toStrictEqual(new P()); });
});
