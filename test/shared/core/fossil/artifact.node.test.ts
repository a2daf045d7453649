/**
 * Cross-check against the real fossil binary: build a repository with every
 * kind of artifact fossil makes from the command line, then check each artifact
 * by our name, parse, classification, serialisation and R card; and feed
 * artifacts we build back to `fossil test-parse-manifest`.
 */
import { execFileSync } from 'node:child_process';
import { chmodSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { md5 } from '@noble/hashes/legacy.js';
import { bytesToHex } from '@noble/hashes/utils.js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Artifact, parseArtifact, parseArtifactStrict, serializeArtifact } from '../../../../shared/core/fossil/artifact.js';
import { makeCluster, makeControl } from '../../../../shared/core/fossil/build.js';
import { artifactId, artifactNameKind, verifyArtifact } from '../../../../shared/core/fossil/name.js';
import { verifyRCard } from '../../../../shared/core/fossil/r-card.js';
import { hashOnly as p } from './hash-only.js';

let root = '';
let env: NodeJS.ProcessEnv = {};
const fossil = (args: string[], cwd = join(root, 'w')) =>
  execFileSync('fossil', args, { cwd, env, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
const fossilBytes = (args: string[]) => new Uint8Array(execFileSync('fossil', args, { cwd: join(root, 'w'), env }));
const sql = (q: string) =>
  fossil(['sql', '-R', join(root, 'r.fossil'), q])
    .split('\n')
    .filter(Boolean)
    .map((l) => l.split(',').map((c) => c.replace(/^'|'$/g, '')));
const write = (name: string, text: string) => writeFileSync(join(root, 'w', name), text);

// What fossil itself thinks each artifact is, from the tables manifest_crosslink fills.
function fossilTypes(): Map<string, string> {
  const types = new Map<string, string>();
  const event: Record<string, string> = { ci: 'manifest', w: 'wiki', t: 'ticket', e: 'technote', g: 'control', f: 'forum' };
  for (const [uuid, type] of sql('SELECT b.uuid, e.type FROM blob b JOIN event e ON e.objid=b.rid')) {
    types.set(uuid, event[type] ?? type);
  }
  for (const [uuid] of sql("SELECT b.uuid FROM blob b JOIN tagxref x ON x.rid=b.rid JOIN tag t ON t.tagid=x.tagid WHERE t.tagname='cluster'")) {
    types.set(uuid, 'cluster');
  }
  for (const [uuid] of sql('SELECT b.uuid FROM blob b JOIN attachment a ON a.attachid=b.rid')) types.set(uuid, 'attachment');
  return types;
}

beforeAll(() => {
  root = mkdtempSync(join(tmpdir(), 'fossil-artifacts-'));
  env = { ...process.env, HOME: root, FOSSIL_HOME: root, USER: 'test', FOSSIL_USER: 'test' };
  const repo = join(root, 'r.fossil');
  fossil(['new', repo], root);
  execFileSync('mkdir', [join(root, 'w')]);
  fossil(['open', repo]);
  fossil(['settings', 'autosync', 'off']);
  fossil(['settings', 'repo-cksum', 'on']);
  write('a.txt', 'alpha\n');
  write('b c.txt', 'name with a space\n');
  write('run.sh', '#!/bin/sh\necho hi\n');
  chmodSync(join(root, 'w', 'run.sh'), 0o755);
  symlinkSync('a.txt', join(root, 'w', 'link'));
  fossil(['settings', 'allow-symlinks', 'on']);
  fossil(['add', 'a.txt', 'b c.txt', 'run.sh', 'link']);
  fossil(['commit', '-m', 'first files\nwith a second line\\ and backslash']);
  write('a.txt', 'alpha\nbeta\n');
  fossil(['mv', '--hard', 'b c.txt', 'd.txt']);
  fossil(['commit', '-m', 'edit and rename']);
  fossil(['branch', 'new', 'feature', 'trunk']);
  fossil(['update', 'feature']);
  write('f.txt', 'feature\n');
  fossil(['add', 'f.txt']);
  fossil(['rm', 'run.sh']);
  fossil(['commit', '-m', 'on the branch']);
  fossil(['update', 'trunk']);
  write('a.txt', 'alpha\nbeta\ngamma\n');
  fossil(['commit', '-m', 'trunk moves']);
  fossil(['merge', 'feature']);
  fossil(['commit', '-m', 'merge feature']);
  fossil(['tag', 'add', 'v1.0', 'trunk']);
  fossil(['tag', 'add', '--raw', 'note', 'trunk', 'a value with spaces']);
  write('page.wiki', 'Hello *wiki*\n');
  fossil(['wiki', 'create', 'Front Page', 'page.wiki']);
  write('page.wiki', 'Hello again\n');
  fossil(['wiki', 'commit', 'Front Page', 'page.wiki']);
  fossil(['wiki', 'create', '--technote', '2026-01-02 03:04:05', 'A technote', 'page.wiki']);
  // From here on SHA1 names, so both kinds of name are covered.
  fossil(['hash-policy', 'sha1']);
  fossil(['ticket', 'add', 'title', 'A bug', 'status', 'Open', 'comment', 'it breaks\nbadly']);
  write('att.txt', 'attached\n');
  fossil(['attachment', 'add', 'Front Page', 'att.txt']);
  // fossil clusters only once 100 artifacts are unclustered.
  execFileSync('mkdir', [join(root, 'w', 'many')]);
  for (let i = 0; i < 100; i++) write(`many/${i}.txt`, `file ${i}\n`);
  fossil(['add', 'many']);
  fossil(['commit', '-m', 'many files']);
  fossil(['test-create-clusters']);
  // A delta manifest (B card) too.
  write('a.txt', 'delta manifest\n');
  fossil(['commit', '--delta', '-m', 'a delta manifest']);
}, 60_000);

afterAll(() => {
  if (root) rmSync(root, { recursive: true, force: true });
});

describe('every artifact of a real fossil repository', () => {
  it('is named, parsed, classified and serialised as fossil does', async () => {
    const uuids = sql('SELECT uuid FROM blob WHERE size>=0').map((r) => r[0]);
    const types = fossilTypes();
    const byHash = new Map<string, Uint8Array>();
    for (const u of uuids) byHash.set(u, fossilBytes(['artifact', u]));
    const seen = new Map<string, number>();
    const manifests: Array<[string, Artifact]> = [];
    for (const [uuid, bytes] of byHash) {
      const kind = artifactNameKind(uuid);
      expect(kind).not.toBeNull();
      expect(artifactId(p, bytes, kind!)).toBe(uuid);
      expect(verifyArtifact(p, uuid, bytes)).toBe(true);
      const a = parseArtifact(bytes);
      const expected = types.get(uuid);
      if (expected === undefined) {
        // Not crosslinked by fossil: an ordinary file.
        expect(a, `${uuid} should be content`).toBeNull();
        seen.set('content', (seen.get('content') ?? 0) + 1);
        continue;
      }
      expect(a, `${uuid} should parse as ${expected}`).not.toBeNull();
      expect(a!.type).toBe(expected);
      expect(a!.canonical).toBe(true);
      expect(serializeArtifact(a!.cards)).toEqual(bytes);
      seen.set(expected, (seen.get(expected) ?? 0) + 1);
      if (a!.type === 'manifest') manifests.push([uuid, a!]);
    }
    expect(new Set(uuids.map((u) => u.length))).toEqual(new Set([40, 64]));
    for (const t of ['content', 'manifest', 'cluster', 'control', 'wiki', 'ticket', 'attachment', 'technote']) {
      expect(seen.get(t) ?? 0, `no ${t} artifact in ${JSON.stringify([...seen])}`).toBeGreaterThan(0);
    }
    // R cards, including the delta manifest's (through its baseline).
    let checked = 0;
    let delta = 0;
    for (const [, m] of manifests) {
      if (m.cards.repoChecksum === undefined) continue;
      const baseline = m.cards.baseline ? parseArtifactStrict(byHash.get(m.cards.baseline)!) : undefined;
      if (baseline) delta++;
      expect(await verifyRCard(m, (h) => byHash.get(h), baseline)).toBe(true);
      checked++;
    }
    expect(checked).toBe(manifests.length);
    expect(delta).toBe(1);
    // Features we meant to cover appear in the parsed manifests.
    const files = manifests.flatMap(([, m]) => m.cards.files ?? []);
    expect(files.some((f) => f.perm === 'x')).toBe(true);
    expect(files.some((f) => f.perm === 'l')).toBe(true);
    // fossil writes a rename of a plain file as `F d.txt HASH w b\sc.txt`.
    expect(files.filter((f) => f.oldName === 'b c.txt').map((f) => f.perm)).toEqual(['w']);
    expect(manifests.some(([, m]) => (m.cards.parents?.length ?? 0) === 2)).toBe(true);
    expect(manifests.some(([, m]) => m.cards.comment?.includes('\n') && m.cards.comment.includes('\\'))).toBe(true);
  });

  it('matches fossil test-parse-manifest on artifacts we build and break', () => {
    const dir = join(root, 'built');
    execFileSync('mkdir', ['-p', dir]);
    const accepts = (bytes: Uint8Array) => {
      const f = join(dir, 'x.txt');
      writeFileSync(f, bytes);
      return fossil(['test-parse-manifest', f]).includes('manifest_parse() worked');
    };
    const tip = sql("SELECT uuid FROM blob WHERE rid=(SELECT objid FROM event WHERE type='ci' ORDER BY mtime DESC LIMIT 1)")[0][0];
    const members = sql('SELECT uuid FROM blob ORDER BY uuid LIMIT 5').map((r) => r[0]);
    const cluster = makeCluster([...members].reverse());
    const control = makeControl({
      date: new Date(Date.UTC(2026, 0, 2, 3, 4, 5, 6)),
      user: 'hub bot',
      tags: [
        { op: '+', name: 'sym-release', target: tip },
        { op: '*', name: 'bgcolor', target: tip, value: '#ff0000' },
        { op: '-', name: 'note', target: tip },
      ],
    });
    for (const built of [cluster, control]) {
      expect(accepts(built)).toBe(true);
      expect(parseArtifactStrict(built).canonical).toBe(true);
    }
    expect(parseArtifactStrict(cluster).type).toBe('cluster');
    expect(parseArtifactStrict(control).type).toBe('control');
    // Mutations: each our parser and fossil must judge alike.
    const text = new TextDecoder().decode(control);
    const body = text.slice(0, text.lastIndexOf('Z '));
    const rez = (s: string) => serializeRaw(s);
    const cases = [
      rez(body),
      rez(body.replace('U hub\\sbot', 'U')),
      rez(body.replace(/^D .*$/m, 'D 2026-01-02')),
      rez(body.replace(/^D .*$/m, 'D 2026-13-02')),
      rez(body.replace('T -note', 'T -abc')),
      rez(body.replace('T +sym-release', 'T +sym-a\\sb')),
      rez(body.replace(/^T -note.*\n/m, '')),
      rez(body.replace(/^U .*\n/m, '')),
      rez(`C comment\n${body}`),
      rez(`${body}X what\n`),
      rez(body.replace(tip, tip.slice(1))),
      text.replace(/Z ./, 'Z 0'),
      text.slice(0, -1),
      `-----BEGIN PGP SIGNED MESSAGE-----\nHash: SHA256\n\n${new TextDecoder().decode(cluster)}-----BEGIN PGP SIGNATURE-----\nabc\n-----END PGP SIGNATURE-----\n`,
    ];
    let accepted = 0;
    for (const c of cases) {
      const bytes = new TextEncoder().encode(c);
      const fossilSays = accepts(bytes);
      expect(parseArtifact(bytes) !== null, c).toBe(fossilSays);
      if (fossilSays) accepted++;
    }
    // The cases exercise both verdicts.
    expect(accepted).toBeGreaterThanOrEqual(4);
    expect(cases.length - accepted).toBeGreaterThanOrEqual(4);
    // A signed artifact keeps its wrapper byte for byte.
    const signed = new TextEncoder().encode(cases[cases.length - 1]);
    const parsed = parseArtifactStrict(signed);
    expect(parsed.signature).toBeDefined();
    expect(serializeArtifact(parsed.cards, parsed.signature)).toEqual(signed);
  });
});

// Append a correct Z card to a card text.
function serializeRaw(body: string): string {
  return `${body}Z ${bytesToHex(md5(new TextEncoder().encode(body)))}\n`;
}
