// A large compressed reply (gimme answers of a pull) goes out as its size and its deflated
// text, two chunks of a known length (xfer.ts deflatedApart), not copied into one body.
import { describe, expect, it } from 'vitest';
import { randomBytes as noise } from '../../../random-bytes.js';
import { concat } from '../../../../shared/core/bytes.js';
import { encodeBody } from '../../../../shared/protocols/fossil/body.js';
import { ROLE_CAPS, xferStreamed } from '../../../../shared/protocols/fossil/index.js';
import { enc, fileCard, harness, msg, p, parseReply } from './xfer-helpers.js';

const PRAGMA = 'pragma client-version 22100 20230226 192424\n';

const same = (a: Uint8Array, b: Uint8Array) => a.length === b.length && a.every((x, i) => x === b[i]);

describe('a large compressed pull reply', () => {
  async function pulled(texts: Uint8Array[], recordPiece?: number) {
    const h = await harness({ limits: recordPiece === undefined ? {} : { recordPiece } });
    const push = await h.send(msg(PRAGMA, `push ${h.serverCode} ${h.projectCode}\n`, ...texts.map((t) => fileCard(t).card)), { user: 'alice' });
    expect(push.lines.filter((l) => l.startsWith('error'))).toEqual([]);
    const request = msg(PRAGMA, `pull ${h.serverCode} ${h.projectCode}\n`, ...texts.map((t) => `gimme ${fileCard(t).hash}\n`));
    const reads: number[] = [];
    const segments = h.repo.segments;
    const readRange = segments.readRange.bind(segments);
    segments.readRange = (segment, offset, length) => (reads.push(length), readRange(segment, offset, length));
    const limits = recordPiece === undefined ? {} : { recordPiece };
    const reply = await xferStreamed(h.repo, { contentType: 'application/x-fossil', body: encodeBody(p, 'compressed', request) }, { anonymousCaps: ROLE_CAPS.nobody, user: async () => null, limits });
    return { reply, reads };
  }

  it('goes out as its size and its deflated text, of the stated length: the same cards', async () => {
    const texts = [noise(700_000, 1), enc('small\n'), noise(900_000, 2)];
    const { reply } = await pulled(texts);
    expect('chunks' in reply).toBe(true);
    if (!('chunks' in reply)) return;
    expect(reply.contentType).toBe('application/x-fossil');
    const chunks: Uint8Array[] = [];
    for await (const c of reply.chunks) chunks.push(c);
    expect(chunks.map((c) => c.length)).toEqual([4, reply.length - 4]);
    const body = concat(chunks);
    expect(body.length).toBe(reply.length);
    const cards = parseReply(reply.contentType, body).cards.filter((c) => c.name === 'file');
    expect(cards.map((c) => c.args[0])).toEqual(texts.map((t) => fileCard(t).hash));
    // Compared byte by byte: toEqual on arrays of a megabyte takes seconds.
    cards.forEach((c, i) => expect(same(c.payload!, texts[i])).toBe(true));
  });

  it('of a megabyte of zeros (about 1 KB deflated) is still one compressed stream', async () => {
    // deflate makes at most ~1032:1, so a 1 MiB message is never under fossil's 1000 bytes (body.ts MIN_REPLY_BYTES).
    const zeros = new Uint8Array(1_100_000);
    const { reply } = await pulled([zeros]);
    if (!('chunks' in reply)) throw new Error('not streamed');
    const chunks: Uint8Array[] = [];
    for await (const c of reply.chunks) chunks.push(c);
    expect(reply.length).toBeGreaterThanOrEqual(1000);
    const card = parseReply(reply.contentType, concat(chunks)).cards.find((c) => c.name === 'file')!;
    expect(same(card.payload!, zeros)).toBe(true);
  });

  it('under 1 MiB is one body, as before', async () => {
    const { reply } = await pulled([noise(200_000, 3)]);
    expect('body' in reply).toBe(true);
  });

  it('holding a record over recordPiece goes out plain, that record read and inflated in pieces: the same cards', async () => {
    // Incompressible, compressible (stored ~100:1, inflated to 35 KB) and small ones.
    const lines = enc(Array.from({ length: 5000 }, (_, i) => `line ${i % 7}\n`).join(''));
    const texts = [noise(5000, 4), enc('small\n'), lines, noise(900, 5)];
    const { reply, reads } = await pulled(texts, 1000);
    if (!('chunks' in reply)) throw new Error('not streamed');
    expect(reply.contentType).toBe('application/x-fossil-uncompressed');
    const chunks: Uint8Array[] = [];
    for await (const c of reply.chunks) chunks.push(c);
    const body = concat(chunks);
    expect(body.length).toBe(reply.length);
    // The 5000-byte record is never read whole (the small ones either side are read together).
    expect(Math.max(...reads)).toBeLessThan(2000);
    const cards = parseReply(reply.contentType, body).cards.filter((c) => c.name === 'file');
    expect(cards.map((c) => c.args[0])).toEqual(texts.map((t) => fileCard(t).hash));
    cards.forEach((c, i) => expect(same(c.payload!, texts[i])).toBe(true));
  });
});
