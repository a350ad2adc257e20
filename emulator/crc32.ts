// CRC-32 (IEEE), as nginx's ngx_crc32_long: root ids and shm_kv key identity use it.

const TABLE = (() => {
  const t = new Uint32Array(256);
  for (let n = 0; n < 256; n++) {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
    t[n] = c >>> 0;
  }
  return t;
})();

const enc = new TextEncoder();

export function crc32(data: Uint8Array | string): number {
  let c = 0xffffffff;
  if (typeof data === "string") {
    // Keys are ASCII: hash the char codes without encoding (TextEncoder allocates per call).
    let ascii = true;
    for (let i = 0; i < data.length && ascii; i++) ascii = data.charCodeAt(i) < 0x80;
    if (!ascii) return crc32(enc.encode(data));
    for (let i = 0; i < data.length; i++) c = TABLE[(c ^ data.charCodeAt(i)) & 0xff] ^ (c >>> 8);
    return (c ^ 0xffffffff) >>> 0;
  }
  for (let i = 0; i < data.length; i++) c = TABLE[(c ^ data[i]) & 0xff] ^ (c >>> 8);
  return (c ^ 0xffffffff) >>> 0;
}
