// A bare Worker for bench/simulator-memory/run.mjs: R2 puts (and range reads) and Durable Object SQLite inserts, nothing of the hub.
export class Store {
  constructor(state) { this.sql = state.storage.sql; }
  async fetch(req) {
    const u = new URL(req.url);
    const rows = Number(u.searchParams.get('rows') ?? 300000);
    this.sql.exec('CREATE TABLE IF NOT EXISTS objects (id BLOB PRIMARY KEY, segment TEXT, off INTEGER, len INTEGER, kind INTEGER, base BLOB)');
    const id = new Uint8Array(20);
    for (let i = 0; i < rows; i++) {
      crypto.getRandomValues(id);
      this.sql.exec('INSERT INTO objects VALUES (?, ?, ?, ?, ?, ?)', id, 'seg-000000001-aaaaaaaa', i * 1000, 1000, 3, i % 2 ? id : null);
    }
    return new Response(`rows ${rows}`);
  }
}
export default {
  async fetch(req, env) {
    const u = new URL(req.url);
    if (u.pathname === '/sql') return env.STORE.get(env.STORE.idFromName('x')).fetch(req);
    // R2: `mib` MiB in segments of `seg` MiB, 5 MiB multipart parts, one part in flight (as R2SegmentWriter)
    const total = Number(u.searchParams.get('mib') ?? 392) * 2 ** 20;
    const seg = Number(u.searchParams.get('seg') ?? 32) * 2 ** 20;
    const part = 5 * 2 ** 20;
    const buf = new Uint8Array(part);
    for (let i = 0; i < part; i += 65536) crypto.getRandomValues(buf.subarray(i, i + 65536));
    let written = 0, n = 0;
    while (written < total) {
      const key = `s/${n++}`;
      const size = Math.min(seg, total - written);
      if (size <= part) await env.R2.put(key, buf.subarray(0, size));
      else {
        const up = await env.R2.createMultipartUpload(key);
        const parts = [];
        for (let at = 0; at < size; at += part) parts.push(await up.uploadPart(parts.length + 1, buf.subarray(0, Math.min(part, size - at))));
        await up.complete(parts);
      }
      written += size;
    }
    if (u.searchParams.get('read') === '1') {
      // read back by ranges of 64 KiB .. like a clone's records
      for (let k = 0; k < n; k++) {
        const key = `s/${k}`;
        const head = await env.R2.head(key);
        for (let off = 0; off < head.size; off += 1 << 20) await (await env.R2.get(key, { range: { offset: off, length: Math.min(1 << 20, head.size - off) } })).arrayBuffer();
      }
    }
    return new Response(`wrote ${written} in ${n} segments`);
  },
};
