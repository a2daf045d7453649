// A bare Worker beside the hub in the same workerd (scripts/dev.mjs --r2-probe, bench only): reads every
// segment of one repository from the same local R2 bucket as a full clone does (gets of `window` bytes,
// default 16 MiB, each taken in pieces of `range` bytes, default 4 MiB, into one reused buffer) and drops
// the bytes. What its request costs workerd is what miniflare's R2 simulator (and a bare read
// loop) costs to hand over those bytes, without any of the hub's work; bench/git-http.bench.ts times it.
//   GET /__r2probe?repo=NAME[&range=BYTES][&window=BYTES]  ->  {"segments","objects","gets","bytes"}
// (a segment of pieces, worker/storage-r2/segments.ts, is an object per piece: `<segment>/<n>`)
// The same read of every object under a key prefix, and writes of made-up bytes (bench/r2-layout.ts):
//   GET /__r2probe?prefix=P[&range=BYTES][&window=BYTES]
//   GET /__r2probe?write=KEY&size=BYTES&mode=put|multipart|objects[&piece=BYTES]  ->  {"objects","bytes"}
// put: one object, one streamed put; multipart: one object of `piece`-byte parts; objects: puts of
// `piece` bytes each under KEY/000000, KEY/000001, ...
export default {
  async fetch(req, env) {
    const u = new URL(req.url);
    if (u.searchParams.has('write')) return Response.json(await write(env.CONTENT, u.searchParams));
    let prefix = u.searchParams.get('prefix');
    if (prefix === null) {
      const row = await env.DB.prepare('SELECT id FROM repos WHERE name = ?').bind(u.searchParams.get('repo')).first();
      if (!row) return new Response('no such repository\n', { status: 404 });
      prefix = `repos/${row.id}/segments/`;
    }
    const range = Number(u.searchParams.get('range') ?? 4 * 2 ** 20);
    const window = Number(u.searchParams.get('window') ?? 4 * range);
    let objects = 0, gets = 0, bytes = 0, cursor, buffer = new ArrayBuffer(0);
    const segments = new Set();
    do {
      const page = await env.CONTENT.list({ prefix, cursor });
      for (const obj of page.objects) {
        objects++;
        segments.add(obj.key.slice(prefix.length).split('/')[0]);
        // As the full clone reads a segment (reachPlanToPackBytes through R2SegmentStore.openForward):
        // gets of up to `window` bytes, each body taken in pieces of `range` bytes by BYOB readAtLeast
        // into one reused buffer.
        for (let at = 0; at < obj.size; at += window) {
          const size = Math.min(window, obj.size - at);
          const body = await env.CONTENT.get(obj.key, { range: { offset: at, length: size } });
          gets++;
          const reader = body.body.getReader({ mode: 'byob' });
          for (let offset = 0; offset < size; ) {
            const length = Math.min(range, size - offset);
            if (buffer.byteLength < length) buffer = new ArrayBuffer(length);
            const { done, value } = await reader.readAtLeast(length, new Uint8Array(buffer, 0, length));
            buffer = value.buffer;
            bytes += value.length;
            offset += value.length;
            if (done) break;
          }
          reader.releaseLock();
        }
      }
      cursor = page.truncated ? page.cursor : undefined;
    } while (cursor);
    return Response.json({ segments: segments.size, objects, gets, bytes });
  },
};

/** Writes `size` made-up bytes (64 random KiB over and over) under `write` as `mode` says. */
async function write(bucket, q) {
  const key = q.get('write');
  const size = Number(q.get('size'));
  const piece = Number(q.get('piece') ?? 5 * 2 ** 20);
  const block = crypto.getRandomValues(new Uint8Array(2 ** 16));
  // One buffer of a piece, filled once and put again and again (as a segment writer reuses its buffer).
  const whole = new Uint8Array(piece);
  for (let at = 0; at < piece; at += block.length) whole.set(block.subarray(0, Math.min(block.length, piece - at)), at);
  const fill = (n) => whole.subarray(0, n);
  const mode = q.get('mode');
  if (mode === 'put') {
    const { readable, writable } = new FixedLengthStream(size);
    const done = bucket.put(key, readable);
    const writer = writable.getWriter();
    for (let at = 0; at < size; at += piece) await writer.write(fill(Math.min(piece, size - at)).slice());
    await writer.close();
    await done;
    return { objects: 1, bytes: size };
  }
  if (mode === 'multipart') {
    const upload = await bucket.createMultipartUpload(key);
    const parts = [];
    for (let at = 0; at < size; at += piece) parts.push(await upload.uploadPart(parts.length + 1, fill(Math.min(piece, size - at))));
    await upload.complete(parts);
    return { objects: 1, bytes: size };
  }
  let objects = 0;
  for (let at = 0; at < size; at += piece) await bucket.put(`${key}/${String(objects++).padStart(6, '0')}`, fill(Math.min(piece, size - at)));
  return { objects, bytes: size };
}
