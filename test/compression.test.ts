// The filter's DEFLATE/zlib/gzip code (assembly/lib/{inflate,deflate,checksum}.ts) checked
// against Node's zlib through a small wasm harness (test/fixtures/zlib-harness.ts).

import { before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import path from "node:path";
import zlib from "node:zlib";
import { asc } from "../scripts/asc.ts";
import { xorshift32 } from "../scripts/prng.ts";

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");
const WASM = path.join(ROOT, "build/test/zlib-harness.wasm");

const RAW = 0;
const ZLIB = 1;
const GZIP = 2;
const AUTO = 3;
const OK = 0;
const INVALID = 1;
const LIMIT = 2;

interface Harness {
  memory: WebAssembly.Memory;
  inputBuffer(n: number): number;
  guardedBuffer(n: number): number;
  compress(n: number, wrapper: number, guarded: number): number;
  decompress(n: number, wrapper: number, maxOutput: number, guarded: number): number;
  outputPtr(): number;
  outputLength(): number;
  crc(n: number): number;
  adler(n: number): number;
}

let h: Harness;

before(async () => {
  // baseDir keeps the project's asconfig.json (the filter's build settings) out of this build.
  asc([
    "zlib-harness.ts",
    "--baseDir", path.join(ROOT, "test/fixtures"),
    "--outFile", WASM,
    "--runtime", "incremental",
    "--exportRuntime",
    "--use", "abort=",
    "--enable", "simd",
    "-O3",
  ]);
  const { instance } = await WebAssembly.instantiate(readFileSync(WASM), {});
  h = instance.exports as unknown as Harness;
});

function load(data: Uint8Array, guarded = false): void {
  const p = guarded ? h.guardedBuffer(data.length) : h.inputBuffer(data.length);
  new Uint8Array(h.memory.buffer, p, data.length).set(data);
}

function output(): Buffer {
  return Buffer.from(new Uint8Array(h.memory.buffer, h.outputPtr(), h.outputLength()));
}

function ourDeflate(data: Uint8Array, wrapper: number): Buffer {
  load(data, true);
  h.compress(data.length, wrapper, 1);
  return output();
}

function ourInflate(data: Uint8Array, wrapper: number, max = 1 << 30): { r: number; out: Buffer } {
  load(data, true);
  const r = h.decompress(data.length, wrapper, max, 1);
  return { r, out: output() };
}


function randomBytes(n: number, seed: number): Buffer {
  const r = xorshift32(seed);
  const b = Buffer.alloc(n);
  for (let i = 0; i < n; i++) b[i] = r() & 0xff;
  return b;
}

/** Text-like data: words from a small vocabulary with occasional random bytes. */
function repetitive(n: number, seed: number): Buffer {
  const r = xorshift32(seed);
  const words = ["GET ", "/v1/orders", "\"status\":", "200", "application/json", "{\"id\":", ",", "\n"];
  const parts: Buffer[] = [];
  let len = 0;
  while (len < n) {
    const x = r();
    const w = x % 11 < 8 ? Buffer.from(words[x % 8]) : Buffer.from([r() & 0xff]);
    parts.push(w);
    len += w.length;
  }
  return Buffer.concat(parts).subarray(0, n);
}

const SIZES = [0, 1, 2, 3, 4, 5, 257, 1000, 65535, 65536, 65537, 300000];

/** 200 events shaped like the Moesif example, as one JSON array (what a batch POST sends). */
function moesifBatch(count: number): Buffer {
  const example = JSON.parse(
    readFileSync("/work/shared/reference/moesif-event-example.json", "utf8"),
  )[0];
  const r = xorshift32(42);
  const hex = (n: number) => {
    let s = "";
    while (s.length < n) s += r().toString(16).padStart(8, "0");
    return s.slice(0, n);
  };
  const paths = ["/v1/orders", "/v1/orders/ord_%", "/v1/customers/%", "/v2/payments", "/v1/inventory/sku-%"];
  const verbs = ["GET", "POST", "PUT", "DELETE"];
  const statuses = [200, 201, 204, 400, 404, 500];
  const events = [];
  let t = Date.parse("2025-05-06T14:03:27.375Z");
  for (let i = 0; i < count; i++) {
    const e = structuredClone(example);
    t += r() % 900;
    const id = `${hex(8)}-${hex(4)}-${hex(4)}-${hex(4)}-${hex(12)}`;
    const p = paths[r() % paths.length].replace("%", String(r() % 100000));
    const latency = 5 + (r() % 300);
    e.request.uri = `https://api.example.com${p}?page=${r() % 10}`;
    e.request.verb = verbs[r() % verbs.length];
    e.request.time = new Date(t).toISOString().slice(0, 23);
    e.request.headers["x-moesif-transaction-id"] = id;
    e.request.headers["x-forwarded-for"] = `203.0.113.${r() % 256}, 10.0.0.${r() % 256}`;
    e.request.ip_address = `203.0.113.${r() % 256}`;
    e.request.body.item_id = `sku-${r() % 1000}`;
    e.request.body.quantity = r() % 20;
    e.request.body.customer.email = `user${r() % 5000}@example.com`;
    e.response.time = new Date(t + latency).toISOString().slice(0, 23);
    e.response.status = statuses[r() % statuses.length];
    e.response.headers["x-moesif-transaction-id"] = id;
    e.response.headers["x-kong-request-id"] = hex(32);
    e.response.headers["x-kong-upstream-latency"] = String(latency);
    e.response.headers.date = new Date(t).toUTCString();
    e.response.body.order_id = `ord_${r() % 100000}`;
    e.response.body.total = (r() % 100000) / 100;
    e.user_id = `user_${r() % 5000}`;
    e.company_id = `company-${r() % 50}`;
    events.push(e);
  }
  return Buffer.from(JSON.stringify(events));
}

describe("checksums", () => {
  it("match the standard check values and Node's crc32", () => {
    load(Buffer.from("123456789"));
    assert.equal(h.crc(9) >>> 0, 0xcbf43926);
    load(Buffer.from("Wikipedia"));
    assert.equal(h.adler(9) >>> 0, 0x11e60398);
    const data = randomBytes(100003, 7);
    load(data);
    assert.equal(h.crc(data.length) >>> 0, zlib.crc32(data));
  });
});

describe("deflate → Node's zlib", () => {
  for (const [name, make] of [["random", randomBytes], ["repetitive", repetitive]] as const) {
    it(`round-trips ${name} data of sizes ${SIZES.join(", ")} in raw, zlib and gzip`, () => {
      for (const n of SIZES) {
        const data = make(n, n + 1);
        assert.deepEqual(zlib.inflateRawSync(ourDeflate(data, RAW)), data, `raw ${n}`);
        assert.deepEqual(zlib.inflateSync(ourDeflate(data, ZLIB)), data, `zlib ${n}`);
        assert.deepEqual(zlib.gunzipSync(ourDeflate(data, GZIP)), data, `gzip ${n}`);
        const back = ourInflate(ourDeflate(data, GZIP), GZIP);
        assert.equal(back.r, OK);
        assert.deepEqual(back.out, data, `self ${n}`);
      }
    });
  }

  it("handles long runs, a single repeated byte and window-distance matches", () => {
    const block = randomBytes(40000, 3);
    const window = block.subarray(0, 32767);
    const cases: Array<[Buffer, number]> = [
      [Buffer.alloc(1 << 20), 1100],
      [Buffer.alloc(70000, 0x61), 200],
      // Repeats 40000 bytes back are beyond the 32 KiB window: stored as literals.
      [Buffer.concat([block, block, block]), 121000],
      // Repeats exactly 32767 bytes back, the farthest distance used: the copy is nearly free.
      [Buffer.concat([window, window]), 33500],
    ];
    for (const [data, maxSize] of cases) {
      const c = ourDeflate(data, ZLIB);
      assert.deepEqual(zlib.inflateSync(c), data);
      assert.ok(c.length <= maxSize, `${data.length} bytes → ${c.length}`);
    }
    // Incompressible input falls back to stored blocks: 5 bytes of framing per block of
    // 16 Ki symbols.
    const random = randomBytes(300000, 9);
    assert.ok(ourDeflate(random, RAW).length <= random.length + 5 * Math.ceil(random.length / 16384) + 1);
  });
  it("round-trips 200 seeded mixtures of literals, runs, skewed bytes and far copies", () => {
    const r = xorshift32(77);
    for (let i = 0; i < 200; i++) {
      const target = r() % (i % 20 == 0 ? 400000 : 40000);
      const parts: Buffer[] = [];
      let len = 0;
      while (len < target) {
        const n = 1 + (r() % 3000);
        let part: Buffer;
        switch (r() % 5) {
          case 0:
            part = randomBytes(n, r());
            break;
          case 1:
            part = Buffer.alloc(n, r() & 0xff);
            break;
          case 2: {
            // Skewed alphabet: short Huffman codes for some bytes, long ones for others.
            part = Buffer.alloc(n);
            for (let k = 0; k < n; k++) part[k] = Math.min(255, Math.floor(-Math.log2((r() + 1) / 2 ** 32) * 3));
            break;
          }
          default: {
            // A copy of earlier output, near or beyond the 32 KiB window.
            const all = Buffer.concat(parts);
            const from = all.length ? r() % all.length : 0;
            part = all.subarray(from, from + n);
          }
        }
        parts.push(part);
        len += part.length;
      }
      const data = Buffer.concat(parts);
      assert.deepEqual(zlib.inflateRawSync(ourDeflate(data, RAW)), data, `mixture ${i}`);
    }
  });
});

describe("Node's zlib → inflate", () => {
  const inputs = [
    Buffer.alloc(0),
    Buffer.from("a"),
    repetitive(5000, 1),
    repetitive(200000, 2),
    randomBytes(70000, 3),
    moesifBatch(20),
  ];
  const variants: Array<[string, zlib.ZlibOptions]> = [
    ["level 0", { level: 0 }],
    ["level 1", { level: 1 }],
    ["level 6", { level: 6 }],
    ["level 9", { level: 9 }],
    ["Z_FIXED", { strategy: zlib.constants.Z_FIXED }],
    ["Z_HUFFMAN_ONLY", { strategy: zlib.constants.Z_HUFFMAN_ONLY }],
    ["Z_RLE", { strategy: zlib.constants.Z_RLE }],
    ["Z_FILTERED", { strategy: zlib.constants.Z_FILTERED }],
    ["windowBits 9, memLevel 1", { windowBits: 9, memLevel: 1 }],
  ];
  for (const [name, opts] of variants) {
    it(`inflates ${name} output in every wrapper`, () => {
      for (const data of inputs) {
        for (const [wrapper, c] of [
          [RAW, zlib.deflateRawSync(data, opts)],
          [ZLIB, zlib.deflateSync(data, opts)],
          [GZIP, zlib.gzipSync(data, opts)],
          [AUTO, zlib.deflateRawSync(data, opts)],
          [AUTO, zlib.deflateSync(data, opts)],
          [AUTO, zlib.gzipSync(data, opts)],
        ] as const) {
          const { r, out } = ourInflate(c, wrapper);
          assert.equal(r, OK, `${name} wrapper ${wrapper} size ${data.length}`);
          assert.deepEqual(out, data);
        }
      }
    });
  }

  it("reads gzip optional header fields and concatenated members", () => {
    const body = repetitive(3000, 5);
    const deflated = zlib.deflateRawSync(body);
    const name = Buffer.from("events.json\0");
    const comment = Buffer.from("batch\0");
    const extra = Buffer.from([0x41, 0x42, 2, 0, 0xaa, 0xbb]);
    const head = Buffer.concat([
      Buffer.from([0x1f, 0x8b, 8, 2 | 4 | 8 | 16, 1, 2, 3, 4, 0, 3]),
      Buffer.from([extra.length, 0]),
      extra,
      name,
      comment,
    ]);
    const hcrc = Buffer.alloc(2);
    hcrc.writeUInt16LE(zlib.crc32(head) & 0xffff);
    const trailer = Buffer.alloc(8);
    trailer.writeUInt32LE(zlib.crc32(body), 0);
    trailer.writeUInt32LE(body.length, 4);
    const member = Buffer.concat([head, hcrc, deflated, trailer]);
    assert.deepEqual(zlib.gunzipSync(member), body); // the hand-made member is valid gzip
    const two = Buffer.concat([member, zlib.gzipSync(Buffer.from("tail"))]);
    for (const wrapper of [GZIP, AUTO]) {
      const { r, out } = ourInflate(two, wrapper);
      assert.equal(r, OK);
      assert.deepEqual(out, Buffer.concat([body, Buffer.from("tail")]));
    }
    const badHcrc = Buffer.from(member);
    badHcrc[head.length] ^= 1;
    assert.equal(ourInflate(badHcrc, GZIP).r, INVALID);
    const badCrc = Buffer.from(member);
    badCrc[member.length - 8] ^= 1;
    assert.equal(ourInflate(badCrc, GZIP).r, INVALID);
    const badSize = Buffer.from(member);
    badSize[member.length - 1] ^= 1;
    assert.equal(ourInflate(badSize, GZIP).r, INVALID);
    const badAdler = zlib.deflateSync(body);
    badAdler[badAdler.length - 1] ^= 1;
    assert.equal(ourInflate(badAdler, ZLIB).r, INVALID);
  });

  it("caps the output of a decompression bomb", () => {
    const bomb = zlib.gzipSync(Buffer.alloc(1 << 20), { level: 9 });
    const capped = ourInflate(bomb, GZIP, 1000);
    assert.equal(capped.r, LIMIT);
    assert.equal(capped.out.length, 0);
    assert.equal(ourInflate(bomb, GZIP, (1 << 20) - 1).r, LIMIT);
    const exact = ourInflate(bomb, GZIP, 1 << 20);
    assert.equal(exact.r, OK);
    assert.equal(exact.out.length, 1 << 20);
  });

  it("rejects every truncation of a valid stream", () => {
    const data = repetitive(4000, 11);
    for (const [wrapper, c] of [
      [RAW, zlib.deflateRawSync(data)],
      [ZLIB, zlib.deflateSync(data)],
      [GZIP, zlib.gzipSync(data)],
      [RAW, zlib.deflateRawSync(data, { level: 0 })],
    ] as const) {
      for (let n = 0; n < c.length; n++) {
        const { r, out } = ourInflate(c.subarray(0, n), wrapper);
        assert.equal(r, INVALID, `wrapper ${wrapper} cut at ${n} of ${c.length}`);
        assert.equal(out.length, 0);
      }
    }
  });
});

describe("fuzz", () => {
  it("2,000 random and mutated streams never trap, never pass the cap, and agree with zlib", () => {
    const r = xorshift32(20250506);
    const seeds: Array<[number, Buffer]> = [];
    for (const data of [repetitive(3000, 1), moesifBatch(3), randomBytes(500, 2), Buffer.alloc(20000)]) {
      for (const opts of [{ level: 1 }, { level: 9 }, { strategy: zlib.constants.Z_FIXED }, { level: 0 }]) {
        seeds.push([RAW, zlib.deflateRawSync(data, opts)]);
        seeds.push([ZLIB, zlib.deflateSync(data, opts)]);
        seeds.push([GZIP, zlib.gzipSync(data, opts)]);
      }
      seeds.push([RAW, ourDeflate(data, RAW)]);
    }
    let agreed = 0;
    for (let i = 0; i < 2000; i++) {
      const [seedWrapper, seed] = seeds[r() % seeds.length];
      let input: Buffer;
      if (i % 10 == 0) {
        input = randomBytes(r() % 2000, r());
      } else {
        input = Buffer.from(seed);
        const mutations = 1 + (r() % 4);
        for (let m = 0; m < mutations && input.length > 0; m++) {
          const at = r() % input.length;
          switch (r() % 4) {
            case 0:
              input[at] ^= 1 << (r() % 8);
              break;
            case 1:
              input[at] = r() & 0xff;
              break;
            case 2:
              input = input.subarray(0, at);
              break;
            default:
              input = Buffer.concat([input.subarray(0, at), randomBytes(1 + (r() % 8), r()), input.subarray(at)]);
          }
        }
      }
      const wrapper = i % 7 == 0 ? AUTO : seedWrapper;
      const cap = [0, 100, 5000, 1 << 20][r() % 4];
      const { r: res, out } = ourInflate(input, wrapper, cap);
      assert.ok(res == OK || res == INVALID || res == LIMIT, `result ${res}`);
      assert.ok(out.length <= cap);
      if (res != OK) assert.equal(out.length, 0);
      if (res == OK && wrapper != AUTO) {
        // When zlib also accepts the stream, both must produce the same bytes.
        let theirs: Buffer | null = null;
        try {
          const o = { maxOutputLength: cap + 1 };
          theirs = wrapper == RAW ? zlib.inflateRawSync(input, o) : wrapper == ZLIB ? zlib.inflateSync(input, o) : zlib.gunzipSync(input, o);
        } catch {
          theirs = null;
        }
        if (theirs) {
          assert.deepEqual(out, theirs);
          agreed++;
        }
      }
    }
    assert.ok(agreed >= 50, `only ${agreed} cases decoded by both`);
  });
});

describe("compression ratio on a realistic batch", () => {
  it("stays within 1.3x of zlib level 6 on 200 Moesif-like events", () => {
    const batch = moesifBatch(200);
    const ours = ourDeflate(batch, GZIP);
    assert.deepEqual(zlib.gunzipSync(ours), batch);
    const z1 = zlib.gzipSync(batch, { level: 1 }).length;
    const z6 = zlib.gzipSync(batch, { level: 6 }).length;
    const z9 = zlib.gzipSync(batch, { level: 9 }).length;
    const pct = (n: number) => ((100 * n) / batch.length).toFixed(2) + "%";
    console.log(
      `batch ${batch.length} B → ours ${ours.length} B (${pct(ours.length)}), zlib -1 ${z1} B (${pct(z1)}), ` +
        `-6 ${z6} B (${pct(z6)}), -9 ${z9} B (${pct(z9)}); ours/zlib-6 = ${(ours.length / z6).toFixed(3)}`,
    );
    assert.ok(ours.length <= 1.3 * z6, `ours ${ours.length} vs zlib-6 ${z6}`);
  });
});
