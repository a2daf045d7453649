// A bare Worker beside the hub in the same workerd (scripts/dev.mjs --r2-probe, bench only): reads every
// segment of one repository from the same local R2 bucket as a full clone does (gets of `window` bytes,
// default 16 MiB, each taken in pieces of `range` bytes, default 4 MiB, into one reused buffer) and drops
// the bytes. What its request costs workerd is what miniflare's R2 simulator (and a bare read
// loop) costs to hand over those bytes, without any of the hub's work; bench/git-http.bench.ts times it.
//   GET /__r2probe?repo=NAME[&range=BYTES][&window=BYTES]  ->  {"segments","gets","bytes"}
export default {
  async fetch(req, env) {
    const u = new URL(req.url);
    const row = await env.DB.prepare('SELECT id FROM repos WHERE name = ?').bind(u.searchParams.get('repo')).first();
    if (!row) return new Response('no such repository\n', { status: 404 });
    const range = Number(u.searchParams.get('range') ?? 4 * 2 ** 20);
    const window = Number(u.searchParams.get('window') ?? 4 * range);
    const prefix = `repos/${row.id}/segments/`;
    let segments = 0, gets = 0, bytes = 0, cursor, buffer = new ArrayBuffer(0);
    do {
      const page = await env.CONTENT.list({ prefix, cursor });
      for (const obj of page.objects) {
        segments++;
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
    return Response.json({ segments, gets, bytes });
  },
};
