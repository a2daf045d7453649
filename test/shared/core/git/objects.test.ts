import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { concat, toHex, utf8Decode, utf8Encode } from '../../../../shared/core/bytes.js';
import { HubError } from '../../../../shared/core/errors.js';
import { commitDate, parseCommit, serialiseCommit } from '../../../../shared/core/git/commit.js';
import { GitObjectError } from '../../../../shared/core/git/errors.js';
import { makeIdentity, parseIdentity, readIdentity, tzOffsetMinutes } from '../../../../shared/core/git/identity.js';
import { parseObject, referencedIds, serialiseObject, type GitObject } from '../../../../shared/core/git/object.js';
import { gitObjectId, isObjectId, objectHasher, objectHeader, parseObjectHeader, type GitObjectType } from '../../../../shared/core/git/object-id.js';
import { parseTag, serialiseTag } from '../../../../shared/core/git/tag.js';
import { compareEntries, entryName, findEntry, parseTree, serialiseTree, treeEntry, type TreeEntry } from '../../../../shared/core/git/tree.js';
import { purePrimitives } from '../../../../shared/core/primitives.js';

const enc = utf8Encode;
const TYPES: GitObjectType[] = ['blob', 'tree', 'commit', 'tag'];
const idArb = fc.uint8Array({ minLength: 20, maxLength: 20 }).map(toHex);
const ID = 'a'.repeat(40);
const ID2 = '0123456789abcdef0123456789abcdef01234567';

function errorCode(f: () => unknown): string {
  try {
    f();
    return 'no error';
  } catch (e) {
    expect(e).toBeInstanceOf(GitObjectError);
    return (e as GitObjectError).code;
  }
}

/** Raw tree bytes from [mode, name, id] triples, in the order given (no sorting). */
function rawTree(entries: [string, string | Uint8Array, string][]): Uint8Array {
  return concat(
    entries.map(([mode, name, id]) =>
      concat([enc(`${mode} `), typeof name === 'string' ? enc(name) : name, new Uint8Array([0]), Uint8Array.from(id.match(/../g)!.map((h) => parseInt(h, 16)))]),
    ),
  );
}

describe('object ids', () => {
  it('hash "<type> <size>\\0" + content (known ids from git)', () => {
    expect(gitObjectId(purePrimitives, 'blob', new Uint8Array(0))).toBe('e69de29bb2d1d6434b8b29ae775ad8c2e48c5391');
    expect(gitObjectId(purePrimitives, 'blob', enc('hello git\n'))).toBe('8d0e41234f24b6da002d962a26c2495ea16a425f');
    expect(gitObjectId(purePrimitives, 'tree', new Uint8Array(0))).toBe('4b825dc642cb6eb9a060e54bf8d69288fbee4904');
    expect(gitObjectId(purePrimitives, 'blob', new Uint8Array(0), 'sha256')).toBe('473a0f4c3be8a93681a267e3b1e9a7dcda1185436fe141f7749120a303721813');
  });

  it('the incremental hasher equals the one-shot id and checks the size', () => {
    fc.assert(
      fc.property(fc.constantFrom(...TYPES), fc.uint8Array({ maxLength: 300 }), fc.nat(300), (type, data, cut) => {
        const h = objectHasher(purePrimitives, type, data.length);
        const k = cut % (data.length + 1);
        h.update(data.subarray(0, k)).update(data.subarray(k));
        expect(toHex(h.digest())).toBe(gitObjectId(purePrimitives, type, data));
        const short = objectHasher(purePrimitives, type, data.length + 1).update(data);
        expect(errorCode(() => short.digest())).toBe('size-mismatch');
      }),
      { numRuns: 100 },
    );
  });

  it('object headers round-trip; malformed ones are typed errors', () => {
    fc.assert(
      fc.property(fc.constantFrom(...TYPES), fc.nat({ max: Number.MAX_SAFE_INTEGER }), (type, size) => {
        const h = objectHeader(type, size);
        expect(parseObjectHeader(concat([h, enc('rest')]))).toEqual({ type, size, headerLength: h.length });
      }),
      { numRuns: 100 },
    );
    for (const bad of ['blob 10', 'blob \0', 'blob 01\0', 'blob -1\0', 'blob 1x\0', 'blobs 1\0', 'Blob 1\0', ' 1\0', 'blob 12345678901234567\0', '']) {
      expect(errorCode(() => parseObjectHeader(enc(bad)))).toMatch(/^bad-object-header$/);
    }
    expect(parseObjectHeader(enc('blob 0\0')).size).toBe(0);
  });

  it('isObjectId wants lowercase hex of the exact length', () => {
    expect(isObjectId(ID)).toBe(true);
    expect(isObjectId(ID.toUpperCase())).toBe(false);
    expect(isObjectId(ID.slice(1))).toBe(false);
    expect(isObjectId('g'.repeat(40))).toBe(false);
    expect(isObjectId('a'.repeat(64), 'sha256')).toBe(true);
  });
});

describe('identity', () => {
  it('parses name, email, time and zone and keeps the raw bytes', () => {
    const id = parseIdentity(enc('A U Thor <author@example.com> 1234567890 -0130'));
    expect([id.name, id.email, id.timestamp, id.tz]).toEqual(['A U Thor', 'author@example.com', 1234567890, '-0130']);
    expect(tzOffsetMinutes(id.tz)).toBe(-90);
    expect(utf8Decode(makeIdentity('X', 'x@y', 5, '+0000').raw)).toBe('X <x@y> 5 +0000');
    expect(parseIdentity(enc('<e> 0 +0000')).name).toBe('');
  });
  it('rejects malformed identities with a typed error', () => {
    for (const bad of ['A <a@b> 1', 'A a@b 1 +0000', 'A <a@b>1 +0000', 'A <a@b> x +0000', 'A <a@b> 1 0000', 'A <a@b> 1 +0000 ', 'A> <a@b> 1 +0000', 'A <a<b> 1 +0000', 'A <a@b> 1 +00\n00']) {
      expect(errorCode(() => parseIdentity(enc(bad)))).toBe('bad-identity');
    }
    expect(errorCode(() => makeIdentity('a<', 'b', 1, '+0000'))).toBe('bad-identity');
  });
  it('reads the identities git reads and fsck refuses (no email, no space, odd zone, no date), keeping the raw bytes', () => {
    const cases: [string, string, string, number, string][] = [
      ['No Space<n@s> 5 +0000', 'No Space', 'n@s', 5, '+0000'],
      ['Odd <o@z> 6 +051', 'Odd', 'o@z', 6, '+051'],
      ['Big <b@z> 7 -99999', 'Big', 'b@z', 7, '-99999'],
      ['No Email 8 +0000', 'No Email 8 +0000', '', 0, '+0000'],
      ['No Date <n@d>', 'No Date', 'n@d', 0, '+0000'],
      ['Huge <h@d> 99999999999999999999 +0000', 'Huge', 'h@d', Number.MAX_SAFE_INTEGER, '+0000'],
      ['Zone <z@d> 9 0100', 'Zone', 'z@d', 9, '+0000'],
    ];
    for (const [raw, name, email, timestamp, tz] of cases) {
      const id = readIdentity(enc(raw));
      expect([id.name, id.email, id.timestamp, id.tz]).toEqual([name, email, timestamp, tz]);
      expect(utf8Decode(id.raw)).toBe(raw);
    }
    const c = enc(`tree ${'a'.repeat(40)}\nauthor No Email 1 +0000\ncommitter C<c@d> 2 +05\n\nm\n`);
    expect(serialiseCommit(parseCommit(c))).toEqual(c);
    // Missing or misplaced author/committer lines (git reads them, date 0): null, and byte-exact.
    for (const text of [`tree ${ID}\ncommitter C <c@d> 2 +0000\n\nm\n`, `tree ${ID}\nauthor A <a@b> 1 +0000\n\n`, `tree ${ID}\ncommitter C <c@d> 2 +0000\nauthor A <a@b> 1 +0000\n\n`]) {
      const parsed = parseCommit(enc(text));
      expect(serialiseCommit(parsed)).toEqual(enc(text));
      expect(parsed.author === null || parsed.committer === null).toBe(true);
    }
  });
});

describe('trees', () => {
  const nameArb = fc
    .uint8Array({ minLength: 1, maxLength: 6, min: 1, max: 255 })
    .filter((b) => b.indexOf(0x2f) < 0);
  const entryArb = fc.record({
    mode: fc.constantFrom('100644', '100755', '120000', '40000', '160000'),
    name: nameArb,
    id: idArb,
  });

  it('sorts like git: directories compare as name + "/"', () => {
    const e = (mode: string, name: string) => treeEntry(mode, name, ID);
    const sorted = [e('100644', 'foo-bar'), e('100644', 'foo.txt'), e('40000', 'foo'), e('100644', 'foo0')].sort(compareEntries);
    expect(sorted.map((x) => utf8Decode(x.name))).toEqual(['foo-bar', 'foo.txt', 'foo', 'foo0']);
    fc.assert(
      fc.property(entryArb, entryArb, (a, b) => {
        // Reference: compare the byte strings with "/" appended to directories.
        const key = (x: TreeEntry) => String.fromCharCode(...x.name) + (x.mode === '40000' ? '/' : '');
        const ka = key(a);
        const kb = key(b);
        expect(Math.sign(compareEntries(a, b))).toBe(ka < kb ? -1 : ka > kb ? 1 : 0);
      }),
      { numRuns: 300 },
    );
  });

  it('round-trips random valid trees and finds every entry', () => {
    fc.assert(
      fc.property(fc.uniqueArray(entryArb, { maxLength: 12, selector: (e) => String.fromCharCode(...e.name) }), (entries) => {
        const bytes = serialiseTree({ entries });
        const tree = parseTree(bytes);
        expect(tree.entries).toEqual([...entries].sort(compareEntries));
        expect(serialiseTree(tree)).toEqual(bytes);
        for (const e of entries) expect(findEntry(tree, e.name)).toEqual(e);
        expect(referencedIds(tree).length).toBe(entries.filter((e) => e.mode !== '160000').length);
      }),
      { numRuns: 200 },
    );
  });

  it('rejects malformed trees with typed errors', () => {
    const cases: [string, Uint8Array][] = [
      ['bad-tree-mode', rawTree([['100645', 'a', ID]])],
      ['bad-tree-mode', rawTree([['040000', 'a', ID]])],
      ['bad-tree-mode', rawTree([['100664', 'a', ID]])],
      ['bad-tree-mode', rawTree([['', 'a', ID]])],
      ['bad-tree-name', rawTree([['100644', '', ID]])],
      ['bad-tree-name', rawTree([['100644', 'a/b', ID]])],
      ['tree-not-sorted', rawTree([['100644', 'b', ID], ['100644', 'a', ID]])],
      ['tree-not-sorted', rawTree([['40000', 'foo', ID], ['100644', 'foo.txt', ID]])],
      ['duplicate-tree-entry', rawTree([['100644', 'a', ID], ['100644', 'a', ID2]])],
      ['duplicate-tree-entry', rawTree([['100644', 'a', ID], ['100644', 'a-b', ID], ['40000', 'a', ID]])],
      // git fsck's own example: files "foo" and "foo.bar" each duplicated by a later directory.
      ['duplicate-tree-entry', rawTree([['100644', 'foo', ID], ['100644', 'foo.bar', ID], ['100644', 'foo.bar.baz', ID], ['40000', 'foo.bar', ID]])],
      ['duplicate-tree-entry', rawTree([['100644', 'foo', ID], ['100644', 'foo.bar', ID], ['100644', 'foo.bar.baz', ID], ['40000', 'foo.baz', ID], ['40000', 'foo', ID]])],
      ['truncated-tree-entry', rawTree([['100644', 'a', ID]]).subarray(0, 25)],
      ['truncated-tree-entry', enc('100644 abc')],
    ];
    for (const [code, bytes] of cases) expect(errorCode(() => parseTree(bytes))).toBe(code);
    // A file and a directory that only share a prefix are not duplicates.
    const ok = rawTree([['100644', 'a', ID], ['100644', 'a-b', ID], ['40000', 'a-c', ID], ['100644', 'a.d', ID], ['40000', 'ab', ID], ['100644', 'b', ID], ['40000', 'c', ID]]);
    expect(parseTree(ok).entries.map((e) => e.mode)).toEqual(['100644', '100644', '40000', '100644', '40000', '100644', '40000']);
    // Old git's modes are accepted when asked for, and still round-trip.
    const legacy = rawTree([['100664', 'a', ID], ['040000', 'b', ID]]);
    expect(serialiseTree(parseTree(legacy, { legacyModes: true }), { legacyModes: true })).toEqual(legacy);
    // Any octal mode reads as git's canon_mode does: a file-type it does not know is a gitlink (not looked for).
    const odd = parseTree(rawTree([['170000', 'a', ID], ['100645', 'b', ID], ['0', 'c', ID]]), { legacyModes: true });
    expect(referencedIds(odd).map((r) => r.type)).toEqual(['blob']);
    // Unsorted and duplicate entries (fsck errors git's readers take) only when asked for, kept as they came.
    const unsorted = rawTree([['100644', 'b', ID], ['100644', 'a', ID], ['100644', 'a', ID2], ['40000', 'a', ID]]);
    expect(errorCode(() => parseTree(unsorted))).toBe('tree-not-sorted');
    expect(parseTree(unsorted, { anyOrder: true }).entries.map((e) => `${e.mode} ${entryName(e)}`)).toEqual(['100644 b', '100644 a', '100644 a', '40000 a']);
    expect(errorCode(() => parseTree(rawTree([['100644', 'a/b', ID]]), { anyOrder: true, legacyModes: true }))).toBe('bad-tree-name');
    expect(errorCode(() => serialiseTree({ entries: [treeEntry('100644', 'x', ID), treeEntry('40000', 'x', ID)] }))).toBe('duplicate-tree-entry');
    expect(errorCode(() => serialiseTree({ entries: [treeEntry('100644', 'x', 'abc')] }))).toBe('bad-object-id');
  });
});

const signature = [
  '-----BEGIN PGP SIGNATURE-----',
  '',
  'iQEzBAABCAAdFiEEexampleexampleexampleexample=',
  '=abcd',
  '-----END PGP SIGNATURE-----',
].join('\n');

describe('commits', () => {
  const base = `tree ${ID}\nparent ${ID2}\nparent ${ID}\nauthor A <a@b> 1 +0000\ncommitter C <c@d> 2 -0700\n`;

  it('parses fields and round-trips gpgsig, mergetag, encoding byte-exact', () => {
    const gpgsig = `gpgsig ${signature.split('\n').join('\n ')}\n`;
    const mergetag = `mergetag object ${ID}\n type commit\n tag v1\n tagger T <t@t> 3 +0100\n \n signed tag\n`;
    const text = `${base}encoding ISO-8859-1\n${mergetag}${gpgsig}\nmessage\n\nbody\n`;
    const bytes = enc(text);
    const c = parseCommit(bytes);
    expect(c.tree).toBe(ID);
    expect(c.parents).toEqual([ID2, ID]);
    expect(c.committer?.tz).toBe('-0700');
    expect(c.encoding).toBe('ISO-8859-1');
    expect(c.extraHeaders.map((h) => h.key)).toEqual(['mergetag', 'gpgsig']);
    expect(utf8Decode(c.extraHeaders[1].value)).toBe(signature);
    expect(utf8Decode(c.message!)).toBe('message\n\nbody\n');
    expect(serialiseCommit(c)).toEqual(bytes);
    expect(referencedIds(c)).toEqual([
      { id: ID, type: 'tree' },
      { id: ID2, type: 'commit' },
      { id: ID, type: 'commit' },
    ]);
  });

  it('keeps non-UTF-8 names and messages byte-exact; a commit without a blank line too', () => {
    const latin1 = concat([enc(`tree ${ID}\nauthor Ren`), new Uint8Array([0xe9]), enc(` <r@e> 1 +0000\ncommitter C <c@d> 2 +0000\n\nd`), new Uint8Array([0xe9, 0xff])]);
    expect(serialiseCommit(parseCommit(latin1))).toEqual(latin1);
    const bare = enc(`tree ${ID}\nauthor A <a@b> 1 +0000\ncommitter C <c@d> 2 +0000\n`);
    const c = parseCommit(bare);
    expect(c.message).toBeNull();
    expect(serialiseCommit(c)).toEqual(bare);
  });

  it('rejects missing or malformed required headers with typed errors', () => {
    const cases: [string, string][] = [
      ['missing-header', `parent ${ID}\n`],
      ['bad-object-id', `tree ${ID.slice(1)}\nauthor A <a@b> 1 +0000\ncommitter C <c@d> 2 +0000\n\n`],
      ['bad-object-id', `tree ${ID}\nparent ${ID.slice(1)}g\nauthor A <a@b> 1 +0000\ncommitter C <c@d> 2 +0000\n\n`],
      ['bad-object-id', `tree ${ID} \nauthor A <a@b> 1 +0000\n\n`],
      ['missing-header', ` tree ${ID}\n`],
      // git's parse_commit_buffer: "bogus commit object" / "bad parents" when nothing follows the line.
      ['missing-header', `tree ${ID}\n`],
      ['missing-header', `tree ${ID}\nparent ${ID}\n`],
    ];
    for (const [code, text] of cases) expect(errorCode(() => parseCommit(enc(text)))).toBe(code);
  });

  it('keeps what follows the parents as it is when it is no header block, as git reads it (only fsck complains)', () => {
    const who = 'author A <a@b> 1 +0000\ncommitter C <c@d> 2 +0000';
    const texts = [
      `tree ${ID}\n${who}`, // no newline at the end
      `tree ${ID}\n${who}\nnokey\n\nm\n`, // a line without a space
      `tree ${ID}\n continued\nparent ${ID}\n${who}\n\nm\n`, // a continuation line after tree: no parent
      `tree ${ID}\nparent ${ID}\n${who}\n\x01junk`,
    ];
    for (const text of texts) {
      const c = parseCommit(enc(text));
      expect(c.tree).toBe(ID);
      expect(serialiseCommit(c)).toEqual(enc(text));
      expect(c.unparsed).toBeDefined();
    }
    expect(parseCommit(enc(texts[2])).parents).toEqual([]);
    expect(parseCommit(enc(texts[3])).parents).toEqual([ID]);
    expect(parseCommit(enc(texts[1])).committer?.timestamp).toBe(2);
    const latinKey = concat([enc(`tree ${ID}\n`), new Uint8Array([0xff, 0x20, 0x41, 0x0a, 0x0a])]);
    expect(serialiseCommit(parseCommit(latinKey))).toEqual(latinKey);
  });

  it("commitDate reads the date as git's parse_commit_date does", () => {
    const date = (text: string) => commitDate(enc(text), parseCommit(enc(text)));
    const head = `tree ${ID}\nparent ${ID2}\n`;
    expect(date(`${head}author A <a@b> 1 +0000\ncommitter C <c@d> 22 +0000\n\nm\n`)).toBe(22);
    expect(date(`${head}committer C <c@d> 22 +0000\n\nm\n`)).toBe(0); // no author line first
    expect(date(`${head}committer C <c@d> 22 +0000\nauthor A <a@b> 1 +0000\n\nm\n`)).toBe(0);
    expect(date(`${head}author A <a@b> 1 +0000\ncommitter No Email 22 +0000\nx <y> 333\n\nm\n`)).toBe(333); // the next ">"
    expect(date(`${head}author A <a@b> 1 +0000\ncommitter C <c@d> 22 +0000`)).toBe(0); // nothing after the date's line
    expect(date(`${head}author A <a@b> 1 +0000\ncommitter C <c@d>\t 4444\n\n`)).toBe(4444);
    expect(date(`${head}author A <a@b> 1 +0000\ncommitter C <c@d> -5 +0000\n\n`)).toBe(Number.MAX_SAFE_INTEGER);
    expect(date(`${head}author A <a@b> 1 +0000\ncommitter C <c@d> 99999999999999999999999 +0000\n\n`)).toBe(Number.MAX_SAFE_INTEGER);
  });

  it('reads tree, parent and tag object ids in uppercase as git does (same objects, given lowercase)', () => {
    const upper = ID.toUpperCase();
    const c = parseCommit(enc(`tree ${upper}\nparent ${upper}\nauthor A <a@b> 1 +0000\ncommitter C <c@d> 2 +0000\n\nm\n`));
    expect([c.tree, c.parents]).toEqual([ID, [ID]]);
    expect(parseTag(enc(`object ${upper}\ntype commit\ntag t\n\nm\n`)).object).toBe(ID);
  });

  it('round-trips random commits with arbitrary extra headers', () => {
    const keyArb = fc.stringMatching(/^[a-z][a-z0-9-]{0,8}$/);
    const valueArb = fc.uint8Array({ maxLength: 40 });
    fc.assert(
      fc.property(
        idArb,
        fc.array(idArb, { maxLength: 4 }),
        fc.array(fc.record({ key: keyArb, value: valueArb }), { maxLength: 4 }),
        fc.option(fc.uint8Array({ maxLength: 60 }), { nil: null }),
        (tree, parents, extraHeaders, message) => {
          // 'encoding' first in the extras would be lifted into the field; keep the property about extras.
          const extras = extraHeaders.filter((h) => h.key !== 'encoding' && h.key !== 'parent');
          const c = {
            tree,
            parents,
            author: makeIdentity('A', 'a@b', 1, '+0000'),
            committer: makeIdentity('C', 'c@d', 2, '-0100'),
            extraHeaders: extras,
            message,
          };
          const bytes = serialiseCommit(c);
          const back = parseCommit(bytes);
          expect(back.extraHeaders).toEqual(extras);
          expect(back.parents).toEqual(parents);
          expect(back.message).toEqual(message);
          expect(serialiseCommit(back)).toEqual(bytes);
        },
      ),
      { numRuns: 200 },
    );
  });
});

describe('tags', () => {
  it('parses an annotated tag with a signature in its message, byte-exact', () => {
    const text = `object ${ID}\ntype commit\ntag v1.0\ntagger T <t@t> 3 +0100\n\nRelease 1.0\n${signature}\n`;
    const t = parseTag(enc(text));
    expect([t.object, t.objectType, t.tag, t.tagger?.name]).toEqual([ID, 'commit', 'v1.0', 'T']);
    expect(serialiseTag(t)).toEqual(enc(text));
    expect(referencedIds(t)).toEqual([{ id: ID, type: 'commit' }]);
    const bom = enc(`object ${ID}\ntype blob\ntag \ufeffbom\n\n`);
    expect(serialiseTag(parseTag(bom))).toEqual(bom);
    const old = enc(`object ${ID}\ntype tree\ntag v0.99\n\nno tagger\n`);
    const o = parseTag(old);
    expect(o.tagger).toBeUndefined();
    expect(serialiseTag(o)).toEqual(old);
  });
  it('rejects malformed tags with typed errors', () => {
    const cases: [string, string][] = [
      ['missing-header', `type commit\ntag v\n\n`],
      ['bad-object-type', `object ${ID}\ntype commits\ntag v\n\n`],
      ['missing-header', `object ${ID}\ntype commit\n\n`],
      ['missing-header', `object ${ID}\ntype commit\ntag v`],
      ['bad-object-id', `object ${ID} \ntype commit\ntag v\n\n`],
    ];
    for (const [code, text] of cases) expect(errorCode(() => parseTag(enc(text)))).toBe(code);
    // What git's parse_tag_buffer takes: an empty name, anything after the name line (kept as it is).
    for (const text of [`object ${ID}\ntype commit\ntag \n\n`, `object ${ID}\ntype commit\ntag v\n cont\n\nm\n`, `object ${ID}\ntype commit\ntag v\ntagger T <t@t> 1 +0000`, `object ${ID}\ntype commit\ntag v\nnokey\n\nm\n`]) {
      const tag = parseTag(enc(text));
      expect([tag.object, tag.objectType]).toEqual([ID, 'commit']);
      expect(serialiseTag(tag)).toEqual(enc(text));
    }
    // A latin-1 name (git takes any bytes) and a tagger without email round-trip byte for byte.
    const latin = concat([enc(`object ${ID}\ntype commit\ntag caf`), new Uint8Array([0xe9]), enc('\ntagger nobody\n\nm\n')]);
    const t = parseTag(latin);
    expect([t.tag, t.tagger?.name]).toEqual(['caf\xe9', 'nobody']);
    expect(serialiseTag(t)).toEqual(latin);
  });
});

describe('parsers under fuzzing', () => {
  it('arbitrary bytes: a typed error, or an object that serialises back to the same bytes', () => {
    fc.assert(
      fc.property(fc.constantFrom(...TYPES), fc.uint8Array({ maxLength: 200 }), (type, bytes) => {
        let obj: GitObject;
        try {
          obj = parseObject(type, bytes);
        } catch (e) {
          expect(e).toBeInstanceOf(HubError);
          return;
        }
        expect(serialiseObject(obj)).toEqual(bytes);
      }),
      { numRuns: 1000 },
    );
  });

  /** `bytes` with the leading id lines (a commit's tree and parents, a tag's object) in lowercase, as the parsers give them. */
  const idsInLowercase = (type: GitObjectType, bytes: Uint8Array): Uint8Array => {
    if (type !== 'commit' && type !== 'tag') return bytes;
    const out = Uint8Array.from(bytes);
    const keys = type === 'commit' ? ['tree ', 'parent '] : ['object '];
    for (let pos = 0, k = 0; k < keys.length; ) {
      if (utf8Decode(out.subarray(pos, pos + keys[k].length)) !== keys[k]) {
        if (type === 'commit' && k === 0) break;
        k++;
        continue;
      }
      const end = pos + keys[k].length + 40;
      for (let i = pos + keys[k].length; i < end && i < out.length; i++) if (out[i] >= 0x41 && out[i] <= 0x46) out[i] += 0x20;
      pos = end + 1;
      if (k === 0) k++;
    }
    return out;
  };

  it('mutated valid objects: a typed error, or a byte-exact round trip (ids lowercased)', () => {
    const seeds: [GitObjectType, Uint8Array][] = [
      ['tree', serialiseTree({ entries: [treeEntry('100644', 'a.txt', ID), treeEntry('40000', 'dir', ID2), treeEntry('160000', 'sub', ID)] })],
      ['commit', enc(`tree ${ID}\nparent ${ID2}\nauthor A <a@b> 1 +0000\ncommitter C <c@d> 2 +0000\ngpgsig ${signature.split('\n').join('\n ')}\n\nmsg\n`)],
      ['tag', enc(`object ${ID}\ntype commit\ntag v1\ntagger T <t@t> 3 +0100\n\nmsg\n`)],
    ];
    fc.assert(
      fc.property(
        fc.constantFrom(...seeds),
        fc.array(fc.tuple(fc.nat(), fc.integer({ min: 0, max: 255 }), fc.constantFrom('set', 'insert', 'delete')), { minLength: 1, maxLength: 4 }),
        fc.nat(),
        ([type, seed], edits, cut) => {
          const b = Array.from(seed);
          for (const [at, value, op] of edits) {
            const i = at % (b.length + 1);
            if (op === 'set' && i < b.length) b[i] = value;
            else if (op === 'insert') b.splice(i, 0, value);
            else b.splice(i, 1);
          }
          const bytes = Uint8Array.from(b.slice(0, b.length - (cut % 3 === 0 ? cut % 25 : 0)));
          let obj: GitObject;
          try {
            obj = parseObject(type, bytes);
          } catch (e) {
            expect(e).toBeInstanceOf(HubError);
            return;
          }
          expect(serialiseObject(obj)).toEqual(idsInLowercase(type, bytes));
        },
      ),
      { numRuns: 1500 },
    );
  });
});
