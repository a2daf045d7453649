// A fossil repository that looks like a real one, pushed by fossil 2.21 to the
// hub under wrangler dev and cloned back: wiki pages, tickets, technotes, a
// forum post, attachments, tags (plain, propagating, cancelled), branches and
// a merge, a private branch, unversioned files, a large binary, SHA1-named
// artifacts among SHA3 ones, a shunned artifact. The hub's clone is compared
// with a clone of the source made by fossil itself (the reference server's
// answer), then every kind of change is pulled incrementally.
import { createHash, randomBytes } from 'node:crypto';
import { chmodSync, mkdirSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { artifactHashes, check, fossilHome, runFossil } from './fossil-client.js';
import { api } from './hub-client.js';
import { startHub, type Hub } from './hub-server.js';

let hub: Hub;
let home: string;
let cleanup: () => void;
/** The source repository, its check-out, and the hub URL with the writer's credentials. */
let src: string;
let work: string;
let remote: string;
/** The shunned file's artifact. */
let leaked: string;

const fossil = (args: string[], cwd = home) => check(runFossil(home, args, cwd), `fossil ${args.join(' ')}`);
const sql = (repo: string, q: string) => fossil(['sql', '-R', repo, q]).stdout.trim();
/** The public artifacts (private ones are not served to a plain clone). */
const publicArtifacts = (repo: string) => artifactHashes(home, repo, false);
const wikiList = (repo: string) => fossil(['wiki', 'list', '-R', repo]).stdout;
const technotes = (repo: string) => fossil(['wiki', 'list', '--technote', '-R', repo]).stdout;
const tags = (repo: string) => fossil(['tag', 'list', '-R', repo]).stdout;
const branches = (repo: string) => fossil(['branch', 'list', '-a', '-R', repo]).stdout;
const uvList = (repo: string) => fossil(['uv', 'list', '-R', repo]).stdout;
const tickets = (repo: string) => sql(repo, `SELECT tkt_uuid, title, status FROM ticket ORDER BY tkt_uuid`);
const attachments = (repo: string) => sql(repo, `SELECT target, filename, src FROM attachment ORDER BY target, filename`);
const forum = (repo: string) => sql(repo, `SELECT b.uuid FROM forumpost f JOIN blob b ON b.rid = f.fpid ORDER BY 1`);
const timeline = (repo: string) => fossil(['timeline', '-n', '0', '-t', 'ci', '-R', repo, '-F', '%H %b %c']).stdout;
function integrity(repo: string): void {
  expect(fossil(['test-integrity', '-R', repo]).output).toMatch(/\b0 errors/);
}

/** A control artifact (forum post) with its Z card, as fossil writes one. */
function controlArtifact(cards: string): string {
  return `${cards}Z ${createHash('md5').update(cards).digest('hex')}\n`;
}

function commit(file: string, content: string | Uint8Array, message: string, extra: string[] = []): void {
  mkdirSync(join(work, file, '..'), { recursive: true });
  writeFileSync(join(work, file), content);
  fossil(['add', file], work);
  fossil(['commit', '--no-warnings', '-m', message, ...extra], work);
}

/** Everything compared between the hub's clone and the reference clone (or the source). */
function compare(mine: string, theirs: string): void {
  expect(publicArtifacts(mine)).toEqual(publicArtifacts(theirs));
  expect(timeline(mine)).toBe(timeline(theirs));
  expect(wikiList(mine)).toBe(wikiList(theirs));
  expect(technotes(mine)).toBe(technotes(theirs));
  expect(tags(mine)).toBe(tags(theirs));
  expect(branches(mine)).toBe(branches(theirs));
  expect(tickets(mine)).toBe(tickets(theirs));
  expect(attachments(mine)).toBe(attachments(theirs));
  expect(forum(mine)).toBe(forum(theirs));
  integrity(mine);
}

beforeAll(async () => {
  hub = await startHub();
  ({ home, done: cleanup } = fossilHome('fossil-variety-'));
  expect((await api(hub, 'POST', '/users', { name: 'vera', password: 'vera-pw' })).status).toBe(201);
  expect((await api(hub, 'POST', '/repos', { name: 'real', kind: 'fossil', public: true })).status).toBe(201);
  expect((await api(hub, 'PUT', '/repos/real/members/vera', { role: 'write' })).status).toBe(200);
  remote = hub.url.replace('http://', 'http://vera:vera-pw@') + '/real';

  // The source takes the hub repository's project code (a first push into a new remote).
  src = join(home, 'src.fossil');
  fossil(['new', '--admin-user', 'tester', src]);
  const probe = join(home, 'probe.fossil');
  fossil(['clone', `${hub.url}/real`, probe]);
  const code = sql(probe, `SELECT value FROM config WHERE name = 'project-code'`).replace(/'/g, '');
  sql(src, `UPDATE config SET value = '${code}' WHERE name = 'project-code'`);
  work = join(home, 'work');
  mkdirSync(work);
  fossil(['open', src, '--force'], work);
  // Pushes are explicit below (autosync would ask for the remote's password).
  fossil(['settings', 'autosync', 'off'], work);

  // SHA1-named artifacts first (an old repository), then SHA3 again.
  fossil(['hash-policy', 'sha1'], work);
  commit('old.txt', 'from the sha1 days\n', 'a sha1-era check-in');
  fossil(['hash-policy', 'sha3'], work);
  commit('README.md', '# real\n', 'readme');
  // Names with spaces and non-ASCII, an empty file, an executable, a symlink, a multi-line comment.
  commit('dir with space/naïve file ü.txt', 'unicode\n', 'odd names');
  commit('empty', '', 'an empty file');
  writeFileSync(join(work, 'run.sh'), '#!/bin/sh\n');
  chmodSync(join(work, 'run.sh'), 0o755);
  symlinkSync('README.md', join(work, 'link'));
  fossil(['settings', 'allow-symlinks', 'on'], work);
  fossil(['add', 'run.sh', 'link'], work);
  fossil(['commit', '--no-warnings', '-m', 'line one\n\nline three with \\backslash and "quotes"'], work);
  fossil(['mv', '--hard', 'empty', 'renamed-empty'], work);
  fossil(['rm', '--hard', 'old.txt'], work);
  fossil(['commit', '--no-warnings', '-m', 'rename and delete'], work);
  commit('assets/big.bin', randomBytes(3 << 20), 'a 3 MiB binary');
  // A branch and a merge back.
  commit('feature.txt', 'feature\n', 'start of a feature', ['--branch', 'feature']);
  commit('feature.txt', 'feature, more\n', 'more feature');
  fossil(['update', 'trunk'], work);
  fossil(['merge', 'feature'], work);
  fossil(['commit', '--no-warnings', '-m', 'merge feature into trunk'], work);
  // Tags: plain, propagating, cancelled; a closed branch.
  fossil(['tag', 'add', 'release-1.0', 'trunk'], work);
  fossil(['tag', 'add', '--propagate', 'blue', 'trunk'], work);
  fossil(['tag', 'add', 'temporary', 'trunk'], work);
  fossil(['tag', 'cancel', 'temporary', 'trunk'], work);
  // A private branch: kept off the hub by a plain push.
  commit('secret.txt', 'private\n', 'private work', ['--private']);
  fossil(['update', 'trunk'], work);
  // Wiki, technote, attachments, a ticket.
  writeFileSync(join(home, 'page.wiki'), 'Welcome to the <b>real</b> wiki.\n');
  fossil(['wiki', 'create', 'Home', join(home, 'page.wiki')], work);
  fossil(['wiki', 'create', 'Second Page', join(home, 'page.wiki'), '--mimetype', 'text/x-markdown'], work);
  fossil(['wiki', 'create', '--technote', '2024-05-06 07:08:09', 'Release notes', join(home, 'page.wiki')], work);
  writeFileSync(join(home, 'diagram.png'), randomBytes(2000));
  fossil(['attachment', 'add', 'Home', join(home, 'diagram.png')], work);
  fossil(['ticket', 'add', 'title', 'It crashes', 'status', 'Open', 'type', 'Code_Defect', 'comment', 'Steps: run it.'], work);
  // A forum post: fossil 2.21 has no CLI for one, so it is written as the web UI writes it.
  writeFileSync(join(home, 'forum.txt'), controlArtifact(`D 2024-01-02T03:04:05.000\nH Hello\\sforum\nN text/x-markdown\nU tester\nW 12\nhello forum!\n`));
  fossil(['test-content-put', join(home, 'forum.txt')], work);
  // Unversioned files (sent by uv sync, not by push).
  writeFileSync(join(home, 'download.tar.gz'), randomBytes(5000));
  fossil(['uv', 'add', join(home, 'download.tar.gz'), '--as', 'download.tar.gz'], work);
  // A shunned artifact: a file removed from history, never sent.
  commit('leaked-key.txt', 'do not publish\n', 'oops');
  leaked = sql(src, `SELECT uuid FROM blob JOIN mlink ON mlink.fid = blob.rid JOIN filename USING (fnid) WHERE name = 'leaked-key.txt'`).replace(/'/g, '');
  sql(src, `INSERT INTO shun(uuid, mtime) VALUES('${leaked}', now())`);
  fossil(['rebuild', src]);
}, 180_000);

afterAll(async () => {
  await hub?.stop();
  cleanup?.();
});

describe('a real-looking fossil repository through the hub', () => {
  let mine: string;
  let theirs: string;

  it('pushes everything (and uv syncs), and a clone matches a clone fossil makes of the source', () => {
    // Artifacts first, then unversioned files: when a round's artifacts fill the
    // client's send budget, fossil 2.21 defers a uv file as a client-side
    // `uvigot` card, which fossil server 2.21 itself refuses ("bad command").
    expect(fossil(['push', remote, '-R', src]).output).not.toMatch(/Error|server says/);
    expect(fossil(['uv', 'sync', remote], work).output).not.toMatch(/Error|server says/);
    mine = join(home, 'mine.fossil');
    theirs = join(home, 'theirs.fossil');
    expect(fossil(['clone', `${hub.url}/real`, mine]).output).not.toMatch(/Error|unresolved/);
    fossil(['clone', src, theirs]);
    // The hub adds its initial check-in; a pull of it into the reference makes the two comparable.
    fossil(['pull', `${hub.url}/real`, '-R', theirs]);
    compare(mine, theirs);
    // What was compared is there: each kind of artifact made it through.
    expect(wikiList(mine)).toMatch(/Home[\s\S]*Second Page/);
    expect(technotes(mine)).toMatch(/2024-05-06 07:08:09/);
    expect(tags(mine)).toMatch(/release-1\.0[\s\S]*/);
    expect(tags(mine)).toMatch(/\bblue\b/);
    expect(tags(mine)).not.toMatch(/temporary/);
    expect(branches(mine)).toMatch(/feature/);
    expect(attachments(mine)).toMatch(/diagram\.png/);
    expect(forum(mine)).toMatch(/[0-9a-f]{64}/);
    expect(timeline(mine)).toMatch(/merge feature into trunk/);
    // File names, modes and links as the source's manifests have them. The hub's clone
    // keeps the shunned file as a phantom (size -1): this test does not push the
    // source's shun list to the hub (`fossil configuration push shun`), so the hub's
    // clone does not learn that the file is shunned.
    const files = (repo: string) => fossil(['ls', '-R', repo, '-r', 'trunk', '-v']).stdout.split('\n').filter((l) => !/\s-1\s/.test(l)).join('\n');
    expect(files(mine)).toBe(files(theirs));
    expect(files(mine)).toMatch(/naïve file ü\.txt/);
    expect(sql(mine, `SELECT count(*) FROM blob WHERE length(uuid) = 40 AND size >= 0`)).not.toBe('0');
    expect(sql(mine, `SELECT count(*) FROM blob WHERE length(uuid) = 64 AND size >= 0`)).not.toBe('0');
    // The private branch and the shunned file are not on the hub.
    expect(timeline(mine)).not.toMatch(/private work/);
    expect(leaked).toMatch(/^[0-9a-f]{64}$/);
    expect(publicArtifacts(mine)).not.toContain(leaked);
    expect(fossil(['artifact', '-R', mine, 'tip']).output).toBeDefined();
    expect(fossil(['ticket', 'show', '0', '-R', mine]).stdout).toMatch(/It crashes/);
  });

  it('pulls each kind of change incrementally', () => {
    expect(mine).toBeDefined();
    commit('README.md', '# real\nmore\n', 'readme edit');
    writeFileSync(join(home, 'page2.wiki'), 'Edited home.\n');
    fossil(['wiki', 'commit', 'Home', join(home, 'page2.wiki')], work);
    fossil(['wiki', 'create', '--technote', 'now', 'Second note', join(home, 'page2.wiki')], work);
    fossil(['tag', 'add', 'release-1.1', 'trunk'], work);
    // A delta manifest (B card), an amended comment, a closed and a hidden branch.
    commit('delta.txt', 'delta manifest\n', 'a delta manifest', ['--delta']);
    fossil(['amend', 'feature', '--comment', 'more feature (amended)', '--bgcolor', '#ffc0c0'], work);
    fossil(['branch', 'close', 'feature'], work);
    fossil(['amend', 'feature', '--hide'], work);
    fossil(['tag', 'cancel', 'blue', 'trunk'], work);
    commit('side.txt', 'side\n', 'side branch', ['--branch', 'side']);
    commit('side2.txt', 'side 2\n', 'side, second');
    fossil(['update', 'trunk'], work);
    // A cherry-pick and a backout (Q cards), a check-in with a mimetype (N card), an integrating merge.
    fossil(['merge', '--cherrypick', 'side'], work);
    fossil(['commit', '--no-warnings', '-m', 'cherry-pick side2'], work);
    fossil(['merge', '--backout', 'trunk'], work);
    fossil(['commit', '--no-warnings', '-m', 'back it out'], work);
    commit('mime.txt', 'mime\n', '*markdown* comment', ['--mimetype', 'text/x-markdown']);
    fossil(['merge', '--integrate', 'side'], work);
    fossil(['commit', '--no-warnings', '-m', 'integrate side'], work);
    // An edit of the forum post (P card).
    const firstPost = forum(src).replace(/'/g, '').split('\n')[0];
    writeFileSync(join(home, 'edit.txt'), controlArtifact(`D 2024-01-04T00:00:00.000\nG ${firstPost}\nH Hello\sforum\s(edited)\nN text/x-markdown\nP ${firstPost}\nU tester\nW 7\nedited!\n`));
    fossil(['test-content-put', join(home, 'edit.txt')], work);
    const tkt = sql(src, `SELECT tkt_uuid FROM ticket`).replace(/'/g, '');
    fossil(['ticket', 'change', tkt, 'status', 'Fixed', 'icomment', 'Fixed in trunk.'], work);
    writeFileSync(join(home, 'notes.txt'), 'attached later\n');
    fossil(['attachment', 'add', 'Second Page', join(home, 'notes.txt')], work);
    // A forum reply to the first post, and another SHA1-named check-in.
    const root = forum(src).replace(/'/g, '').split('\n')[0];
    writeFileSync(join(home, 'reply.txt'), controlArtifact(`D 2024-01-03T00:00:00.000\nG ${root}\nI ${root}\nN text/x-markdown\nU tester\nW 6\nreply!\n`));
    fossil(['test-content-put', join(home, 'reply.txt')], work);
    fossil(['rebuild', src]);
    fossil(['hash-policy', 'sha1'], work);
    commit('old.txt', 'sha1 again\n', 'another sha1 check-in');
    fossil(['hash-policy', 'sha3'], work);
    writeFileSync(join(home, 'download2.zip'), randomBytes(3000));
    fossil(['uv', 'add', join(home, 'download2.zip'), '--as', 'download2.zip'], work);
    expect(fossil(['push', remote, '-R', src]).output).not.toMatch(/Error|server says/);
    expect(fossil(['uv', 'sync', remote], work).output).not.toMatch(/Error|server says/);

    const pull = fossil(['pull', `${hub.url}/real`, '-R', mine]);
    expect(pull.output).not.toMatch(/Error/);
    fossil(['pull', src, '-R', theirs]);
    compare(mine, theirs);
    expect(timeline(mine)).toMatch(/readme edit/);
    expect(timeline(mine)).toMatch(/more feature \(amended\)/);
    const deltaCi = sql(mine, `SELECT b.uuid FROM blob b JOIN event e ON e.objid = b.rid WHERE e.comment = 'a delta manifest'`).replace(/'/g, '');
    expect(fossil(['artifact', deltaCi, '-R', mine]).stdout).toMatch(/^B [0-9a-f]{64}$/m);
    expect(fossil(['branch', 'list', '-c', '-R', mine]).stdout).toMatch(/feature/);
    expect(tickets(mine)).toMatch(/Fixed/);
    expect(forum(mine).split('\n')).toHaveLength(3);
    expect(timeline(mine)).toMatch(/integrate side/);
    expect(fossil(['branch', 'list', '-c', '-R', mine]).stdout).toMatch(/side/);
    expect(sql(mine, `SELECT length(b.uuid) FROM event e JOIN blob b ON b.rid = e.objid WHERE e.comment LIKE 'another sha1%'`)).toBe('40');
    // Unversioned files arrive with uv sync, the same as the source's.
    fossil(['uv', 'sync', `${hub.url}/real`, '-R', mine]);
    expect(uvList(mine)).toMatch(/download\.tar\.gz[\s\S]*download2\.zip/);
    expect(uvList(mine)).toBe(uvList(src));
    // A clone with -u brings them in the clone itself.
    const withUv = join(home, 'with-uv.fossil');
    expect(fossil(['clone', '-u', `${hub.url}/real`, withUv]).output).not.toMatch(/Error/);
    expect(uvList(withUv)).toBe(uvList(src));
    integrity(withUv);
  });

  it('refuses a file over the documented 32 MiB limit with an error card, changing nothing', () => {
    const before = publicArtifacts(mine);
    commit('huge.bin', randomBytes(40 << 20), 'a 40 MiB file');
    const push = runFossil(home, ['push', remote, '-R', src], home, 300_000);
    expect(push.output).toMatch(/Error: .*(size limit|too large)/i);
    expect(push.output).not.toMatch(/\b50[0-9]\b|Internal/);
    fossil(['pull', `${hub.url}/real`, '-R', mine]);
    expect(publicArtifacts(mine)).toEqual(before);
    integrity(mine);
  });
});
