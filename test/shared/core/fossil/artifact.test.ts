import { md5 } from '@noble/hashes/legacy.js';
import { bytesToHex } from '@noble/hashes/utils.js';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { compare } from '../../../../shared/core/bytes.js';
import {
  type ArtifactCards,
  parseArtifact,
  parseArtifactStrict,
  serializeArtifact,
} from '../../../../shared/core/fossil/artifact.js';
import { makeCluster, makeControl } from '../../../../shared/core/fossil/build.js';
import { ArtifactError } from '../../../../shared/core/fossil/errors.js';
import {
  defossilize,
  defossilizeBytes,
  fossilize,
  isCanonicalEscape,
} from '../../../../shared/core/fossil/escape.js';
import { artifactId, isArtifactName, verifyArtifact } from '../../../../shared/core/fossil/name.js';
import { computeRCard, verifyRCard } from '../../../../shared/core/fossil/r-card.js';
import { purePrimitives } from '../../../../shared/core/primitives.js';
import { hashOnly as p } from './hash-only.js';

const enc = (s: string) => new TextEncoder().encode(s);
const withZ = (body: string) => enc(`${body}Z ${bytesToHex(md5(enc(body)))}\n`);
const H1 = 'a'.repeat(40);
const H3 = '0123456789abcdef'.repeat(4);
const D = 'D 2026-11-21T18:56:55.415\n';

function codeOf(bytes: Uint8Array): string {
  try {
    parseArtifactStrict(bytes);
    return 'ok';
  } catch (e) {
    expect(e).toBeInstanceOf(ArtifactError);
    return (e as ArtifactError).code;
  }
}

describe('fossil escaping', () => {
  it('escapes as fossilize does and decodes every escape defossilize knows', () => {
    expect(fossilize('a b\nc\\d\te\rf\0g\vh\fi')).toBe('a\\sb\\nc\\\\d\\te\\rf\\0g\\vh\\fi');
    expect(defossilize('a\\sb\\nc\\\\d\\te\\rf\\0g\\vh\\fi')).toBe('a b\nc\\d\te\rf\0g\vh\fi');
    // Unknown escapes drop the backslash; a trailing one stays.
    expect(defossilize('\\x\\')).toBe('x\\');
    expect(isCanonicalEscape(enc('\\x'))).toBe(false);
    expect(isCanonicalEscape(enc('a\\sb'))).toBe(true);
    expect(isCanonicalEscape(enc('a b'))).toBe(false);
  });
  it('round-trips any text and never grows when decoding', () => {
    fc.assert(
      fc.property(fc.string({ unit: 'binary' }), (s) => {
        const e = fossilize(s);
        expect(e).not.toMatch(/[ \n\0]/);
        expect(defossilize(e)).toBe(s);
        expect(isCanonicalEscape(enc(e))).toBe(true);
      }),
      { numRuns: 300 },
    );
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 64 }), (b) => {
        expect(defossilizeBytes(b).length).toBeLessThanOrEqual(b.length);
      }),
      { numRuns: 300 },
    );
  });
});

describe('artifact names', () => {
  it('knows SHA1 and SHA3-256 names by length and verifies them', () => {
    const data = enc('hello fossil\n');
    const sha3 = artifactId(p, data, 'sha3-256');
    expect(sha3).toBe('cd71691d38080ae379a5d1722f13e8e8053215f28c4ca297c5eda6aa52bde573');
    const sha1 = artifactId(p, data, 'sha1');
    expect(sha1).toHaveLength(40);
    expect(verifyArtifact(p, sha3, data)).toBe(true);
    expect(verifyArtifact(p, sha1, data)).toBe(true);
    expect(verifyArtifact(p, sha1, enc('other'))).toBe(false);
    expect(isArtifactName(sha3.toUpperCase())).toBe(false);
    expect(isArtifactName(sha3.slice(1))).toBe(false);
    expect(() => verifyArtifact(p, 'xyz', data)).toThrow(ArtifactError);
  });
});

describe('structural artifacts', () => {
  const manifest = `C edit\\snotes\n${D}F hello.txt ${H3}\nF notes.txt ${H1} x\nP ${H3}\nR b0490c1dbb74bca7c0b245d1c95acfdf\nU alice\n`;

  it('parses a manifest, verifies Z and serialises it byte for byte', () => {
    const bytes = withZ(manifest);
    const a = parseArtifactStrict(bytes);
    expect(a.type).toBe('manifest');
    expect(a.cards.comment).toBe('edit notes');
    expect(a.cards.files).toEqual([
      { name: 'hello.txt', hash: H3 },
      { name: 'notes.txt', hash: H1, perm: 'x' },
    ]);
    expect(a.canonical).toBe(true);
    expect(serializeArtifact(a.cards)).toEqual(bytes);
  });

  it('serialises a rename without a permission with fossil’s "w" placeholder (as fossil mv + commit writes it)', () => {
    const renamed = `C mv\n${D}F b\\sc.txt ${H1} w a.txt\nF run.sh ${H3} x old.sh\nP ${H3}\nU alice\n`;
    const cards = {
      comment: 'mv',
      date: '2026-11-21T18:56:55.415',
      files: [
        { name: 'b c.txt', hash: H1, oldName: 'a.txt' },
        { name: 'run.sh', hash: H3, perm: 'x', oldName: 'old.sh' },
      ],
      parents: [H3],
      user: 'alice',
    };
    expect(serializeArtifact(cards)).toEqual(withZ(renamed));
    expect(parseArtifactStrict(withZ(renamed)).cards.files).toEqual([{ ...cards.files[0], perm: 'w' }, cards.files[1]]);
  });

  it('checks the Z card with the injected md5 when given one', () => {
    const bytes = withZ(manifest);
    const seen: number[] = [];
    const primitives = { hash: p.hash, zlib: purePrimitives.zlib, md5: (d: Uint8Array) => (seen.push(d.length), md5(d)) };
    expect(parseArtifactStrict(bytes, { primitives }).z).toBe(parseArtifactStrict(bytes).z);
    expect(seen).toEqual([bytes.length - 35]);
    // A wrong md5 is a bad Z card, so the injected one is what decides.
    expect(() => parseArtifactStrict(bytes, { primitives: { ...primitives, md5: () => new Uint8Array(16) } })).toThrow(/Z-card/);
  });

  it('names the rule each broken artifact breaks', () => {
    const cases: Array<[string, Uint8Array]> = [
      ['bad-z-card', enc(`${manifest}Z ${'0'.repeat(32)}\n`)],
      ['missing-card', enc(manifest)], // no Z at all: fossil reports the missing Z card
      ['card-order', withZ(`${D}C x\nU u\n`)],
      ['unknown-card', withZ(`C x\n${D}O y\nU u\n`)],
      ['bad-card', withZ(`C x\n${D}U u\nu x\n`)],
      ['duplicate-card', withZ(`C x\nC y\n${D}U u\n`)],
      ['missing-card', withZ(`${D}T +foo ${H1}\n`)],
      ['card-not-allowed', withZ(`${D}M ${H1}\n`)],
      ['bad-argument', withZ(`C x\n${D}P ${H1.slice(1)}\nU u\n`)],
      ['bad-argument', withZ(`C x\n${D}F /abs ${H1}\nU u\n`)],
      ['extra-argument', withZ(`C x y\n${D}U u\n`)],
      ['card-order', withZ(`M ${H1}\nM ${H3}\n`)],
      ['card-order', withZ(`C x\n${D}F b ${H1}\nF a ${H1}\nU u\n`)],
      ['bad-w-card', withZ(`${D}L page\nU u\nW 100\nshort\n`)],
      ['bad-w-card', withZ(`${D}L page\nU u\nW 3\nabcd\n`)],
      ['type-rule', withZ(`${D}T +foo *\nU u\n`)],
      ['type-rule', withZ(`${D}H t\nI ${H1}\nU u\nW 0\n\n`)],
      ['not-terminated', enc('C x')],
      ['not-terminated', new Uint8Array(0)],
      ['bad-first-line', enc('hello world, just a file\n')],
      ['bad-first-line', enc('C\nD x\n')],
    ];
    for (const [code, bytes] of cases) expect(codeOf(bytes), new TextDecoder().decode(bytes)).toBe(code);
    expect(parseArtifact(enc('just text\n'))).toBeNull();
    // parseArtifact answers null exactly where the strict parse throws (it turns most files away before trying).
    const signed = (body: string) => enc(`-----BEGIN PGP SIGNED MESSAGE-----\nHash: SHA1\n\n${body}-----BEGIN PGP SIGNATURE-----\nx\n-----END PGP SIGNATURE-----\n`);
    const valid = withZ(`C x\n${D}U u\n`);
    const texts = [...cases.map(([, b]) => b), valid, valid.subarray(0, 9), enc('A \n'), enc('-x\n'), enc('@ abcdefghij\n'), enc('[ abcdefghij\n'), signed(new TextDecoder().decode(valid)), signed('hello\n')];
    for (const b of texts) expect(parseArtifact(b) === null, new TextDecoder().decode(b)).toBe(codeOf(b) !== 'ok');
    expect(parseArtifact(signed(new TextDecoder().decode(valid)))?.signature).toBeDefined();
    expect(codeOf(withZ(`M ${H1}\n`).subarray(0, 10))).toBe('not-terminated');
  });

  it('refuses a NUL byte in an F card on its own line, and takes one in wiki text', () => {
    const line = (bytes: Uint8Array) => {
      try {
        parseArtifactStrict(bytes);
        return 'ok';
      } catch (e) {
        return `${(e as ArtifactError).code} ${(e as ArtifactError).message}`;
      }
    };
    expect(line(withZ(`C x\n${D}F a\0b ${H1}\nU u\n`))).toMatch(/^bad-card line 3: NUL/);
    expect(line(withZ(`C x\n${D}F a ${H1}\nF b ${H1}\nF c ${H1}\0\nU u\n`))).toMatch(/^bad-card line 5: NUL/);
    // A NUL in a W card's text comes before the F card's, which is still the one named.
    expect(line(withZ(`C x\n${D}F a\0 ${H1}\nL p\nU u\nW 3\na\0b\n`))).toMatch(/^bad-card line 3: NUL/);
    // Split before the order check: an F card after the text is read past it, with or without a NUL of its own.
    expect(line(withZ(`${D}L p\nU u\nW 3\na\0b\nF c\0 ${H1}\n`))).toMatch(/^bad-card line 5: NUL/);
    expect(line(withZ(`${D}L p\nU u\nW 3\na\0b\nF c ${H1}\n`))).toMatch(/^card-order/);
    expect(line(withZ(`${D}L p\nU u\nW 3\na\0b\n`))).toBe('ok');
    // Before the F cards, in another card's argument: that card's line.
    expect(line(withZ(`C x\0\n${D}F a ${H1}\nU u\n`))).toMatch(/^bad-card line 1: NUL/);
  });

  it('shares parsed F cards between manifests, and still applies each manifest’s own rules to them', () => {
    const a = parseArtifactStrict(withZ(`C a\n${D}F f.txt ${H1}\nF g.txt ${H3} x\nU u\n`));
    const b = parseArtifactStrict(withZ(`C b\n${D}F f.txt ${H1}\nF h.txt ${H3}\nU u\n`));
    expect(b.cards.files![0]).toBe(a.cards.files![0]);
    expect(b.cards.files!.map((f) => [f.name, f.hash, f.perm])).toEqual([['f.txt', H1, undefined], ['h.txt', H3, undefined]]);
    // A hash-less card is a deletion in a delta manifest, and an error in a baseline manifest even when cached.
    expect(codeOf(withZ(`B ${H1}\nC a\n${D}F gone\nU u\n`))).toBe('ok');
    expect(codeOf(withZ(`C a\n${D}F gone\nU u\n`))).toBe('missing-argument');
    // Order is by bytes, across cached ASCII names and uncached UTF-8 ones ("z" < "\u00e9" < "\u{1F600}" as UTF-8).
    expect(codeOf(withZ(`C a\n${D}F bz ${H1}\nF b\u00e9 ${H1}\nF b\u{1F600} ${H1}\nU u\n`))).toBe('ok');
    expect(codeOf(withZ(`C a\n${D}F b\u00e9 ${H1}\nF bz ${H1}\nU u\n`))).toBe('card-order');
    expect(codeOf(withZ(`C a\n${D}F b\u{1F600} ${H1}\nF b\u{FFFD} ${H1}\nU u\n`))).toBe('card-order');
    expect(codeOf(withZ(`C a\n${D}F bz ${H1}\nF bz ${H3}\nU u\n`))).toBe('card-order');
  });

  it('gives two F lines whose cache buckets collide their own cards', () => {
    // The cache's bucket (artifact.ts fileCard): FNV-style over little-endian 4-byte words, then the tail bytes, 30 bits.
    const bucket = (s: string) => {
      const b = enc(s);
      let h = 0x811c9dc5 ^ b.length;
      let i = 0;
      for (; i + 4 <= b.length; i += 4) {
        h = Math.imul(h ^ (b[i] | (b[i + 1] << 8) | (b[i + 2] << 16) | (b[i + 3] << 24)), 0x01000193);
        h ^= h >>> 15;
      }
      for (; i < b.length; i++) h = Math.imul(h ^ b[i], 0x01000193);
      h ^= h >>> 16;
      return h & 0x3fffffff;
    };
    const seen = new Map<number, string>();
    let pair: [string, string] | undefined;
    for (let i = 0; pair === undefined; i++) {
      const line = `f${i}.txt ${H1}`;
      const other = seen.get(bucket(line));
      if (other !== undefined) pair = [other, line];
      seen.set(bucket(line), line);
    }
    for (const line of [...pair, ...pair]) {
      const f = parseArtifactStrict(withZ(`C a\n${D}F ${line}\nU u\n`)).cards.files![0];
      expect(f.name).toBe(line.split(' ')[0]);
    }
  });

  it('parses right across the F-card cache filling up and starting over (by count and by bytes)', () => {
    const hashOf = (i: number) => i.toString(16).padStart(64, '0');
    const manifestOf = (names: string[]) => withZ(`C a\n${D}${names.map((n, i) => `F ${n} ${hashOf(i)}\n`).join('')}U u\n`);
    const short = Array.from({ length: 17_000 }, (_, i) => `f${String(i).padStart(5, '0')}`);
    const long = Array.from({ length: 4500 }, (_, i) => `${'d'.repeat(440)}/${String(i).padStart(5, '0')}`);
    const manifests = new Map([short, long].map((names) => [names, manifestOf(names)]));
    for (const names of [short, long, short, long]) {
      // skipCanonical: re-serialising 17000 cards to check their spelling is most of a parse, and not what this tests.
      const files = parseArtifactStrict(manifests.get(names)!, { skipCanonical: true }).cards.files!;
      expect(files.map((f) => f.name)).toEqual(names);
      expect(files.every((f, i) => f.hash === hashOf(i))).toBe(true);
    }
  });

  it('refuses inputs over the size bound before scanning them', () => {
    const big = new Uint8Array(1025).fill(0x41);
    expect(() => parseArtifactStrict(big, { maxSize: 1024 })).toThrow(expect.objectContaining({ code: 'too-large' }));
  });

  it('classifies each artifact type by its cards', () => {
    const types: Array<[string, string]> = [
      ['cluster', `M ${H3}\nM ${H1}\n`],
      ['control', `${D}T +sym-v1 ${H1}\nU u\n`],
      ['wiki', `${D}L Front\\sPage\nU u\nW 5\nhello\n`],
      ['ticket', `${D}J +comment more\nJ status Open\nK ${H1}\nU u\n`],
      ['attachment', `A f.txt Front\\sPage ${H3}\n${D}U u\n`],
      ['technote', `${D}E 2026-01-02T03:04:05 ${H1}\nT +bgcolor * red\nU u\nW 1\nx\n`],
      ['forum', `${D}H title\nU u\nW 2\nhi\n`],
      ['forum', `${D}G ${H1}\nI ${H1}\nP ${H3}\nU u\nW 2\nhi\n`],
      ['manifest', `${D}R d41d8cd98f00b204e9800998ecf8427e\nT *branch * trunk\nT *sym-trunk *\nU u\n`],
    ];
    for (const [type, body] of types) {
      const a = parseArtifactStrict(withZ(body));
      expect(a.type, body).toBe(type);
      expect(a.canonical).toBe(true);
      expect(serializeArtifact(a.cards)).toEqual(withZ(body));
    }
  });

  it('accepts odd spellings fossil accepts, marking them not canonical', () => {
    for (const body of [`${D}T +foo ${H1}\nU\n`, `C a\\x\n${D}U u\n`, `${D}L p\nU u\nW 03\nabc\n`]) {
      const a = parseArtifactStrict(withZ(body));
      expect(a.canonical, body).toBe(false);
    }
    expect(parseArtifactStrict(withZ(`${D}T +foo ${H1}\nU\n`)).cards.user).toBe('anonymous');
  });

  it('keeps a clearsigned wrapper byte for byte; Z covers the signed part', () => {
    const inner = new TextDecoder().decode(withZ(manifest));
    const signed = enc(
      `-----BEGIN PGP SIGNED MESSAGE-----\nHash: SHA256\n\n${inner}-----BEGIN PGP SIGNATURE-----\n\nabc=\n-----END PGP SIGNATURE-----\n`,
    );
    const a = parseArtifactStrict(signed);
    expect(a.type).toBe('manifest');
    expect(new TextDecoder().decode(a.signature!.head)).toBe('-----BEGIN PGP SIGNED MESSAGE-----\nHash: SHA256\n\n');
    expect(serializeArtifact(a.cards, a.signature)).toEqual(signed);
  });
});

describe('R card', () => {
  it('is the md5 over path, size and content in path order', async () => {
    expect(computeRCard([])).toBe('d41d8cd98f00b204e9800998ecf8427e');
    const files = [
      { name: 'notes.txt', content: enc('n\n') },
      { name: 'hello.txt', content: enc('hello fossil\n') },
    ];
    const expected = bytesToHex(md5(enc('hello.txt 13\nhello fossil\nnotes.txt 2\nn\n')));
    expect(computeRCard(files)).toBe(expected);
    const ids = files.map((f) => artifactId(p, f.content, 'sha3-256'));
    const byHash = new Map(files.map((f, i) => [ids[i], f.content]));
    const m = parseArtifactStrict(
      withZ(`C c\n${D}F hello.txt ${ids[1]}\nF notes.txt ${ids[0]}\nR ${expected}\nU u\n`),
    );
    expect(await verifyRCard(m, (h) => byHash.get(h))).toBe(true);
    byHash.set(ids[0], enc('N\n'));
    expect(await verifyRCard(m, (h) => byHash.get(h))).toBe(false);
    byHash.delete(ids[0]);
    await expect(verifyRCard(m, (h) => byHash.get(h))).rejects.toBeInstanceOf(ArtifactError);
  });
});

describe('builders', () => {
  it('makeCluster sorts, de-duplicates and refuses bad names', () => {
    const bytes = makeCluster([H3, H1, H3]);
    expect(new TextDecoder().decode(bytes)).toBe(new TextDecoder().decode(withZ(`M ${H3}\nM ${H1}\n`)));
    expect(() => makeCluster([])).toThrow(ArtifactError);
    expect(() => makeCluster([H1.toUpperCase()])).toThrow(ArtifactError);
  });
  it('makeControl orders tags as fossil requires', () => {
    const bytes = makeControl({
      date: '2026-01-02T03:04:05.006',
      user: 'hub',
      tags: [
        { op: '+', name: 'sym-b', target: H3 },
        { op: '+', name: 'sym-b', target: H1 },
        { op: '*', name: 'branch', target: H1, value: 'x y' },
      ],
    });
    const a = parseArtifactStrict(bytes);
    expect(a.type).toBe('control');
    expect(a.cards.tags!.map((t) => `${t.op}${t.name} ${t.target}`)).toEqual([
      `*branch ${H1}`,
      `+sym-b ${H3}`,
      `+sym-b ${H1}`,
    ]);
    expect(a.cards.tags![0].value).toBe('x y');
    expect(() => makeControl({ date: new Date(0), user: 'u', tags: [{ op: '+', name: 'x', target: '*' }] })).toThrow(
      ArtifactError,
    );
    expect(() => makeControl({ date: new Date(0), user: 'u', tags: [{ op: '+', name: 'abc', target: H1 }] })).toThrow(
      ArtifactError,
    );
  });
});

describe('fuzz', () => {
  const hash = fc.oneof(fc.stringMatching(/^[0-9a-f]{40}$/), fc.stringMatching(/^[0-9a-f]{64}$/));
  const text = fc.string({ minLength: 1, maxLength: 12 });
  const path = fc
    .array(fc.stringMatching(/^[a-z0-9_ ][a-z0-9_. -]{0,6}$/), { minLength: 1, maxLength: 3 })
    .filter((parts) => parts.every((s) => s !== '.' && s !== '..'))
    .map((parts) => parts.join('/'));
  const date = fc.constantFrom('2026-11-21T18:56:55.415', '2001-01-01T00:00:00', '1999-12-31');
  const manifestCards: fc.Arbitrary<ArtifactCards> = fc
    .record({
      comment: fc.string({ maxLength: 20 }),
      date,
      files: fc.uniqueArray(fc.record({ name: path, hash, perm: fc.option(fc.constantFrom('x', 'l'), { nil: undefined }) }), {
        selector: (f) => f.name,
        maxLength: 5,
      }),
      parents: fc.array(hash, { maxLength: 2 }),
      user: text,
    })
    .map(({ files, ...rest }) => {
      const sorted = files
        .map(({ perm, ...f }) => (perm ? { ...f, perm } : f))
        .sort((a, b) => compare(enc(a.name), enc(b.name)));
      return sorted.length > 0 ? { ...rest, files: sorted } : rest;
    });

  it('parse(serialise(cards)) gives the cards back', () => {
    fc.assert(
      fc.property(manifestCards, (cards) => {
        const bytes = serializeArtifact(cards);
        const a = parseArtifactStrict(bytes);
        expect(a.type).toBe('manifest');
        expect(a.canonical).toBe(true);
        expect(a.cards).toEqual(cards);
        expect(serializeArtifact(a.cards)).toEqual(bytes);
      }),
      { numRuns: 200 },
    );
  });

  it('parse never throws anything but ArtifactError, on noise and on mutated artifacts', () => {
    const check = (bytes: Uint8Array) => {
      try {
        parseArtifactStrict(bytes);
      } catch (e) {
        if (!(e instanceof ArtifactError)) throw e;
      }
    };
    fc.assert(fc.property(fc.uint8Array({ maxLength: 200 }), check), { numRuns: 500 });
    const alphabet = fc.constantFrom(...'ABCDEFGHIJKLMNPQRTUWZ \n\\0123456789abcdef+-*/.x'.split(''));
    fc.assert(fc.property(fc.array(alphabet, { maxLength: 120 }).map((a) => a.join('')), (s) => check(withZ(s))), {
      numRuns: 500,
    });
    fc.assert(
      fc.property(manifestCards, fc.nat(), fc.integer({ min: 0, max: 255 }), (cards, at, byte) => {
        const bytes = serializeArtifact(cards).slice();
        bytes[at % bytes.length] = byte;
        check(bytes);
        // Re-sealed with a fresh Z, the mutation reaches the card rules.
        const body = bytes.subarray(0, bytes.length - 35);
        const z = enc(`Z ${bytesToHex(md5(body))}\n`);
        const sealed = new Uint8Array(body.length + z.length);
        sealed.set(body);
        sealed.set(z, body.length);
        check(sealed);
      }),
      { numRuns: 500 },
    );
  });
});
