// A bare Worker beside the hub in the same workerd (scripts/dev.mjs --r2-probe, bench only): reads every
// segment of one repository from the same local R2 bucket, in ranges of `range` bytes one at a time (the
// full clone's pattern: reachPlanToPackBytes joins records into reads of at most 4 MiB, one in flight),
// receives them as the hub does (into one reused buffer) and drops them. What its request costs workerd is what miniflare's R2 simulator (and a bare read
// loop) costs to hand over those bytes, without any of the hub's work; bench/git-http.bench.ts times it.
//   GET /__r2probe?repo=NAME[&range=BYTES]  ->  {"segments","gets","bytes"}
export default {
  async fetch(req, env) {
    const u = new URL(req.url);
    const row = await env.DB.prepare('SELECT id FROM repos WHERE name = ?').bind(u.searchParams.get('repo')).first();
    if (!row) return new Response('no such repository\n', { status: 404 });
    const range = Number(u.searchParams.get('range') ?? 4 * 2 ** 20);
    const prefix = `repos/${row.id}/segments/`;
    let segments = 0, gets = 0, bytes = 0, cursor, buffer = new ArrayBuffer(0);
    do {
      const page = await env.CONTENT.list({ prefix, cursor });
      for (const obj of page.objects) {
        segments++;
        for (let offset = 0; offset < obj.size; offset += range) {
          const length = Math.min(range, obj.size - offset);
          const body = await env.CONTENT.get(obj.key, { range: { offset, length } });
          // As R2SegmentStore.readRangeInto receives a clone's ranges: one BYOB readAtLeast into a reused buffer.
          if (buffer.byteLength < length) buffer = new ArrayBuffer(length);
          const reader = body.body.getReader({ mode: 'byob' });
          const { value } = await reader.readAtLeast(length, new Uint8Array(buffer, 0, length));
          reader.releaseLock();
          buffer = value.buffer;
          bytes += value.length;
          gets++;
        }
      }
      cursor = page.truncated ? page.cursor : undefined;
    } while (cursor);
    return Response.json({ segments, gets, bytes });
  },
};
