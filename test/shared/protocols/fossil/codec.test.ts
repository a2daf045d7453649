// The xfer codec: body framing, cards and payloads, login arithmetic, uv
// catalogue hash; property tests (fast-check) for the parsers. Pure.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { CT_COMPRESSED, CT_UNCOMPRESSED, decodeBody, encodeBody, MIN_REPLY_BYTES, replyBody } from '../../../../shared/protocols/fossil/body.js';
import { XferError } from '../../../../shared/protocols/fossil/errors.js';
import { loginNonce, loginSignature, sharedSecret, verifyLogin } from '../../../../shared/protocols/fossil/login.js';
import { cfileSize, MAX_CARD_LINE, parseMessage, XferReader, XferWriter } from '../../../../shared/protocols/fossil/message.js';
import { clusterGroups } from '../../../../shared/protocols/fossil/cluster.js';
import { isUvName, uvCatalogHash, uvStatus } from '../../../../shared/protocols/fossil/uv.js';
import { enc, harness, p } from './xfer-helpers.js';

describe('login (values verified on a capture in docs/fossil-sync.md §3)', () => {
  it('derives the shared secret and signature as fossil does', () => {
    const secret = sharedSecret(p, '8de922cf27c9a3bbcc7b751f33d292101fda8baa', 'alice', 'secret');
    expect(secret).toBe('907e360140c1da1c342de12107a6f790820c354e');
    expect(loginSignature(p, '8fd6e008111d635b31dcc8bd56fe46edafd949fb', secret)).toBe('b73752a93d2089000162babb95299e55a89c70e7');
    const rest = enc('pragma client-version 22100 20230226 192424\n# abc\n');
    const nonce = loginNonce(p, rest);
    expect(verifyLogin(p, rest, nonce, loginSignature(p, nonce, secret), ['nope', secret])).toBe(true);
    expect(verifyLogin(p, rest, nonce, loginSignature(p, nonce, secret), ['nope'])).toBe(false);
    expect(verifyLogin(p, enc('other'), nonce, loginSignature(p, nonce, secret), [secret])).toBe(false);
  });
});

describe('unversioned helpers', () => {
  it('hashes the catalogue as fossil (value seen on the wire)', () => {
    const e = (name: string, hash: string | null) => ({ name, mtime: 1795287485, hash, size: 22, record: null });
    expect(uvCatalogHash(p, [])).toBe('da39a3ee5e6b4b0d3255bfef95601890afd80709');
    expect(
      uvCatalogHash(p, [
        e('server-uv.txt', '0ef247c5a38499fad33168aa0d4757b494bcdac780a84b891918abe3d2639fc5'),
        e('client-uv.txt', '755447d3f096755d09073adf9b4ed4f3d885c2c21a4465054cc40a877859106c'),
        e('gone.txt', null),
      ]),
    ).toBe('cad85526f82a1e4abe40e2047badd118c44edd66');
  });
  it('orders versions: newer mtime wins, equal mtime larger hash wins', () => {
    const s = (mtime: number, hash: string | null) => ({ name: 'f', mtime, hash, size: 1, record: null });
    expect(uvStatus(null, 5, 'aa')).toBe(0);
    expect(uvStatus(s(4, 'bb'), 5, 'aa')).toBe(1);
    expect(uvStatus(s(5, 'aa'), 5, 'bb')).toBe(1);
    expect(uvStatus(s(5, 'bb'), 5, 'aa')).toBe(5);
    expect(uvStatus(s(4, 'aa'), 5, 'aa')).toBe(2);
    expect(uvStatus(s(5, 'aa'), 5, 'aa')).toBe(3);
    expect(uvStatus(s(6, 'aa'), 5, 'aa')).toBe(4);
    expect(uvStatus(s(4, null), 5, '-')).toBe(2);
    expect(isUvName('a/b.txt')).toBe(true);
    for (const bad of ['', '/abs', 'a//b', '../x', 'a/./b', 'sp ace', 'back\\slash', 'x/']) expect(isUvName(bad), bad).toBe(false);
  });
});

describe('clusters', () => {
  it('groups like fossil: 800 per cluster while more than 900 remain', () => {
    const hs = (n: number) => Array.from({ length: n }, (_, i) => i.toString(16).padStart(40, '0'));
    expect(clusterGroups(hs(100)).map((g) => g.length)).toEqual([100]);
    expect(clusterGroups(hs(900)).map((g) => g.length)).toEqual([900]);
    expect(clusterGroups(hs(901)).map((g) => g.length)).toEqual([800, 101]);
    expect(clusterGroups(hs(2500)).map((g) => g.length)).toEqual([800, 800, 900]);
  });
});

describe('messages', () => {
  it('reads cards, payloads, the config trailer and skips comments and blank lines', () => {
    const m = enc('pragma a b\n\n# comment here\nfile abc 3\nxyzgimme h\nconfig /config 4\nabcd\nigot h2\n  spaced   tokens  \n');
    const cards = parseMessage(m);
    expect(cards.map((c) => [c.name, ...c.args].join(' '))).toEqual(['pragma a b', 'file abc 3', 'gimme h', 'config /config 4', 'igot h2', 'spaced tokens']);
    expect(new TextDecoder().decode(cards[1].payload)).toBe('xyz');
    expect(new TextDecoder().decode(cards[3].payload)).toBe('abcd');
  });

  it('a scan for payload cards only reads the cards with payloads, as the full read does', () => {
    const m = enc('igot h1\nfile abc 3\nigotfile\ngimme h\n  cfile h2 4 2\nxy\nuvigot n 1 h 1\nuvfile n 1 - 0 1\nconfig /c 4\nabcd\npragma file 1\n');
    const withPayload = parseMessage(m).filter((c) => c.payload !== undefined);
    const r = new XferReader(m);
    const scanned: typeof withPayload = [];
    for (let c = r.next(true); c !== null; c = r.next(true)) scanned.push(c);
    expect(scanned.filter((c) => c.payload !== undefined)).toEqual(withPayload);
    expect(withPayload.map((c) => c.name)).toEqual(['file', 'cfile', 'uvfile', 'config']);
    expect(scanned.map((c) => c.name)).not.toContain('igot');
  });

  it('splits tokens at fossil spaces only, keeps UTF-8, invalid bytes and BOMs inside them, counts at most 8', () => {
    const bytes = (...parts: (string | number[])[]) => Uint8Array.from(parts.flatMap((x) => (typeof x === 'string' ? [...enc(x)] : x)));
    const m = bytes('\t\x0bpragma\ra\x0cb  \r\nuvigot n\u00e9 ', [0xff], ' x', [0xc3], ' ', [0xef, 0xbb, 0xbf], 'y ', [0xef, 0xbb, 0xbf], '\n#a b c d e f g h i j\n');
    expect(parseMessage(m).map((c) => [c.name, ...c.args])).toEqual([
      ['pragma', 'a', 'b'],
      ['uvigot', 'n\u00e9', '\ufffd', 'x\ufffd', '\ufeffy', '\ufeff'],
    ]);
    expect(() => parseMessage(enc('a 1 2 3 4 5 6 7 8\n'))).toThrow(XferError);
    expect(parseMessage(enc('a 1 2 3 4 5 6 7\n'))[0].args).toHaveLength(7);
  });

  it('uvfile payloads follow only when SIZE > 0 and neither flag 1 nor 4 is set', () => {
    const cards = parseMessage(enc(`uvfile a 1 - 0 1\nuvfile b 1 ${'a'.repeat(40)} 5 4\nuvfile c 1 ${'a'.repeat(40)} 2 0\nhiigot x\n`));
    expect(cards.map((c) => c.payload?.length ?? -1)).toEqual([0, 0, 2, -1]);
  });

  it('writer output reads back the same cards and payloads (property)', () => {
    // Non-ASCII tokens too: the writer's size (the reply budget) counts UTF-8 bytes.
    const token = fc.oneof(fc.stringMatching(/^[a-z0-9_\\-]{1,12}$/), fc.constantFrom('é', '名前', '😀x'));
    const card = fc.oneof(
      fc.record({ name: token, args: fc.array(token, { maxLength: 4 }) }),
      fc.record({ name: fc.constant('file'), args: fc.tuple(token), payload: fc.uint8Array({ maxLength: 300 }) }),
      fc.record({ name: fc.constant('config'), args: fc.tuple(token), payload: fc.uint8Array({ maxLength: 100 }) }),
    );
    fc.assert(
      fc.property(fc.array(card, { maxLength: 12 }), (cards) => {
        const w = new XferWriter();
        const plain = cards.filter((c) => !['file', 'cfile', 'config', 'uvfile'].includes(c.name) || 'payload' in c);
        for (const c of plain) {
          if ('payload' in c) w.cardWithPayload(c.name, [...c.args, c.payload.length], c.payload);
          else w.card(c.name, ...c.args);
        }
        const bytes = w.result();
        expect(w.size).toBe(bytes.length);
        const back = parseMessage(bytes);
        expect(back.map((c) => c.name)).toEqual(plain.map((c) => c.name));
        plain.forEach((c, i) => {
          if ('payload' in c) expect(back[i].payload).toEqual(c.payload);
          else expect(back[i].args).toEqual(c.args);
        });
      }),
      { numRuns: 300 },
    );
  });

  it('writer output is the cards and payloads in order across its line buffers (a clone round: thousands of cfile cards)', () => {
    const w = new XferWriter();
    const expected: Uint8Array[] = [];
    const hash = 'ab'.repeat(32);
    for (let i = 0; i < 3000; i++) {
      const prefix = new Uint8Array([0, 0, i >> 8, i & 255]);
      const raw = new Uint8Array(i % 3 === 0 ? 5000 : 30).fill(0x41 + (i % 26));
      w.cardWithPayload('cfile', [hash, i, raw.length + 4], [prefix, raw]);
      expected.push(enc(`cfile ${hash} ${i} ${raw.length + 4}\n`), prefix, raw, enc('\n'));
    }
    // A line longer than a line buffer, and one that is not ASCII.
    w.card('pragma', 'x'.repeat(40_000));
    w.card('comment', 'café');
    expected.push(enc(`pragma ${'x'.repeat(40_000)}\n`), enc('comment café\n'));
    const bytes = w.result();
    expect(w.size).toBe(bytes.length);
    expect(Buffer.from(bytes).equals(Buffer.concat(expected))).toBe(true);
  });

  it('writer: a cfile payload ending in a newline is followed by one too, so its size is known before the payload', () => {
    const w = new XferWriter();
    w.cardWithPayload('cfile', ['ab'.repeat(32), 3, 7], [new Uint8Array([0, 0, 0, 3]), enc('a\nb\n')]);
    w.cardWithPayload('file', ['cd'.repeat(32), 2], enc('x\n'));
    expect(new TextDecoder().decode(w.result())).toBe(`cfile ${'ab'.repeat(32)} 3 7\n\0\0\0\x03a\nb\n\nfile ${'cd'.repeat(32)} 2\nx\n`);
    expect(parseMessage(w.result()).map((c) => c.name)).toEqual(['cfile', 'file']);
  });

  it('writer: cfile(line, usize, record) writes what cardWithPayload writes, cfileSize bytes of it', () => {
    for (const record of [new Uint8Array(0), new Uint8Array(10).fill(0x0a), new Uint8Array(70_000).fill(7)]) {
      const a = new XferWriter();
      const b = new XferWriter();
      a.cardWithPayload('cfile', ['ab'.repeat(32), 'cd'.repeat(32), 0x01020304, record.length + 4], [new Uint8Array([1, 2, 3, 4]), record]);
      const line = `cfile ${'ab'.repeat(32)} ${'cd'.repeat(32)} ${0x01020304} ${record.length + 4}`;
      b.cfile(line, 0x01020304, record);
      expect(Buffer.from(b.result()).equals(Buffer.from(a.result()))).toBe(true);
      expect(b.size).toBe(cfileSize(line, record.length));
    }
  });

  it('writer: parts that come later count in the size at once and are sent in place by chunks(); a wrong count throws', async () => {
    const collect = async (w: XferWriter) => {
      const out: Uint8Array[] = [];
      for await (const c of w.chunks()) out.push(c);
      return Buffer.concat(out).toString();
    };
    const w = new XferWriter();
    w.card('a');
    w.later(5, async function* () {
      yield enc('b\n');
      await new Promise((r) => setTimeout(r, 1));
      yield enc('cc\n');
    });
    w.card('d');
    expect(w.size).toBe(9);
    expect(w.complete).toBe(false);
    expect(() => w.result()).toThrow(/still to come/);
    expect(await collect(w)).toBe('a\nb\ncc\nd\n');
    for (const wrong of ['bcdef', 'bcdefgh']) {
      const v = new XferWriter();
      v.later(6, async function* () {
        yield enc(wrong);
      });
      await expect(collect(v)).rejects.toThrow(/part of 6 bytes produced/);
    }
    // drain() hands the pieces over and empties the writer (a producer's chunks).
    const d = new XferWriter();
    d.cardWithPayload('cfile', ['ab'.repeat(32), 100, 104], [new Uint8Array(4), new Uint8Array(100)]);
    const pieces = d.drain();
    expect(pieces.reduce((n, x) => n + x.length, 0)).toBe(`cfile ${'ab'.repeat(32)} 100 104\n`.length + 105);
    expect(d.size).toBe(0);
    expect(d.result().length).toBe(0);
  });

  it('on arbitrary bytes the reader either parses or throws an XferError, never anything else (property)', () => {
    const bytes = fc.oneof(
      fc.uint8Array({ maxLength: 400 }),
      fc.array(fc.constantFrom('file ', 'cfile ', 'config ', 'uvfile ', 'a'.repeat(64), ' 12', ' 99999999', '\n', ' -', '#', 'x', '\\s', ' 0 1'), { maxLength: 30 }).map((xs) => enc(xs.join(''))),
    );
    fc.assert(
      fc.property(bytes, (b) => {
        try {
          for (const c of parseMessage(b, 1000)) if (c.payload) expect(c.payload.length).toBeLessThanOrEqual(1000);
        } catch (e) {
          expect(e).toBeInstanceOf(XferError);
        }
      }),
      { numRuns: 1000 },
    );
    expect(() => parseMessage(enc('x'.repeat(MAX_CARD_LINE + 2)))).toThrow(XferError);
  });

  it('frames replies of MIN_REPLY_BYTES or more as asked; shorter ones go plain, padded with a comment card', () => {
    let x = 1;
    const hex = () => Array.from({ length: 40 }, () => ((x = (x * 1103515245 + 12345) >>> 0) >>> 28).toString(16)).join('');
    const big = enc(Array.from({ length: 200 }, () => `igot ${hex()}\n`).join(''));
    const framed = replyBody(p, 'compressed', big);
    expect(framed.contentType).toBe(CT_COMPRESSED);
    expect(framed.body.length).toBeGreaterThanOrEqual(MIN_REPLY_BYTES);
    expect(decodeBody(p, 'compressed', framed.body, 1 << 20)).toEqual(big);
    // 3 KB of text that compresses under MIN_REPLY_BYTES, and a short one: plain, same cards.
    for (const text of [enc('# x\n'.repeat(800)), enc('push abc def\n# timestamp 2026-01-01T00:00:00 errors 0\n')]) {
      for (const encoding of ['compressed', 'plain'] as const) {
        const r = replyBody(p, encoding, text);
        expect(r.contentType).toBe(CT_UNCOMPRESSED);
        expect(r.body.length).toBeGreaterThanOrEqual(MIN_REPLY_BYTES);
        expect(r.body.subarray(0, text.length)).toEqual(text);
        const cards = parseMessage(r.body).map((c) => c.name);
        expect(cards.filter((n) => n !== '#')).toEqual(parseMessage(text).map((c) => c.name).filter((n) => n !== '#'));
      }
    }
  });

  it('decodes framed bodies and refuses damaged ones with XferError only (property)', () => {
    const text = enc('pragma client-version 1 2 3\n');
    expect(decodeBody(p, 'compressed', encodeBody(p, 'compressed', text), 1000)).toEqual(text);
    // `--no-http-compression`: plain text under the compressed type (no zlib header after 4 bytes) is read as text, as fossil server does.
    expect(decodeBody(p, 'compressed', text, 1000)).toEqual(text);
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 200 }), fc.nat(200), (junk, cut) => {
        const framed = encodeBody(p, 'compressed', junk);
        for (const body of [junk, framed.subarray(0, cut), framed]) {
          try {
            const out = decodeBody(p, 'compressed', body, 300);
            expect(out.length).toBeLessThanOrEqual(300);
          } catch (e) {
            expect(e).toBeInstanceOf(XferError);
          }
        }
      }),
      { numRuns: 500 },
    );
  });

  it('xfer answers arbitrary bodies with cards and changes nothing (property)', async () => {
    const h = await harness();
    const before = await h.snapshot();
    const prefix = `pragma client-version 22100 20230226 192424\npush ${h.serverCode} ${h.projectCode}\n`;
    await fc.assert(
      fc.asyncProperty(fc.uint8Array({ maxLength: 300 }), fc.boolean(), async (junk, framed) => {
        const r = framed
          ? await h.send(new Uint8Array([...enc(prefix), ...junk]), { user: 'alice', contentType: 'application/x-fossil-uncompressed' })
          : await h.send(junk, { raw: true });
        expect(r.lines.length).toBeGreaterThan(0);
      }),
      { numRuns: 150 },
    );
    // Random bytes after a push card may at most add phantoms (igot) — nothing else is stored.
    const after = JSON.parse(await h.snapshot());
    const was = JSON.parse(before);
    expect(after.rows).toEqual(was.rows);
    expect(after.uncl).toEqual(was.uncl);
  });
});
