#!/usr/bin/env node
// The hub's admin CLI: a thin wrapper over the REST API (/api, described at
// /api/openapi.json) for people in a terminal. Plain Node (20+), no build.
//
//   hub [--url URL] [--token TOKEN] [--json] COMMAND ...
//
// URL and TOKEN default to $HUB_URL and $HUB_TOKEN (or $HUB_ADMIN_TOKEN); the
// token is the admin token or a user's API token. `hub help` lists commands.

const USAGE = `usage: hub [--url URL] [--token TOKEN] [--json] COMMAND ...

  repos list                                  repositories you may read
  repos create NAME [--fossil] [--private]    create a repository (git, public by default)
  repos show NAME
  repos set NAME [--public|--private] [--default-branch BRANCH]
  repos delete NAME
  users list
  users create NAME (--password PW | --password-stdin)
  users show NAME
  users delete NAME
  users password NAME (--password PW | --password-stdin) [--old OLD]
  tokens list USER
  tokens create USER --scopes read[,write,admin] [--expires-in SECONDS]
  tokens revoke USER ID
  members list REPO
  members set REPO USER read|write|admin
  members remove REPO USER
  protect list REPO
  protect set REPO PATTERN [--admins-only]
  protect remove REPO PATTERN
  events REPO [--limit N]

  --url URL      the hub (default $HUB_URL, else http://127.0.0.1:8787)
  --token TOKEN  admin token or API token (default $HUB_TOKEN, else $HUB_ADMIN_TOKEN)
  --json         print the API's JSON answer as is
`;

class UsageError extends Error {}

/** Splits argv into positional words and --options (flags are true, others take the next word). */
function parseArgs(argv) {
  const takesValue = new Set(['url', 'token', 'password', 'old', 'scopes', 'expires-in', 'default-branch', 'limit']);
  const words = [];
  const opts = {};
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (!a.startsWith('--')) {
      words.push(a);
      continue;
    }
    const eq = a.indexOf('=');
    const name = eq < 0 ? a.slice(2) : a.slice(2, eq);
    if (takesValue.has(name)) {
      const value = eq < 0 ? argv[++i] : a.slice(eq + 1);
      if (value === undefined) throw new UsageError(`--${name} needs a value`);
      opts[name] = value;
    } else if (eq < 0) {
      opts[name] = true;
    } else {
      throw new UsageError(`--${name} takes no value`);
    }
  }
  return { words, opts };
}

async function readStdin() {
  const chunks = [];
  for await (const c of process.stdin) chunks.push(c);
  return Buffer.concat(chunks).toString('utf8').replace(/\r?\n$/, '');
}

async function password(opts) {
  if (typeof opts.password === 'string') return opts.password;
  if (opts['password-stdin']) return readStdin();
  throw new UsageError('give --password PW or --password-stdin');
}

class ApiError extends Error {
  constructor(status, message) {
    super(message);
    this.status = status;
  }
}

function client(opts) {
  const base = (opts.url ?? process.env.HUB_URL ?? 'http://127.0.0.1:8787').replace(/\/+$/, '');
  const token = opts.token ?? process.env.HUB_TOKEN ?? process.env.HUB_ADMIN_TOKEN;
  return async (method, path, body) => {
    const headers = { 'content-type': 'application/json' };
    if (token) headers.authorization = `Bearer ${token}`;
    let res;
    try {
      res = await fetch(`${base}/api${path}`, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
    } catch (e) {
      throw new ApiError(0, `cannot reach ${base}: ${e.cause?.message ?? e.message}`);
    }
    const text = await res.text();
    let data = null;
    try {
      data = text ? JSON.parse(text) : null;
    } catch {
      data = { error: text.trim().slice(0, 200) };
    }
    if (!res.ok) {
      const retry = res.headers.get('retry-after');
      throw new ApiError(res.status, `${data?.error ?? res.statusText}${retry ? ` (retry after ${retry} s)` : ''}`);
    }
    return data;
  };
}

const seg = (s) => encodeURIComponent(s);

/** Prints rows as aligned columns under a header. */
function table(rows, columns) {
  if (rows.length === 0) return '(none)';
  const cells = [columns.map((c) => c[0].toUpperCase()), ...rows.map((r) => columns.map((c) => String(c[1](r) ?? '-')))];
  const widths = columns.map((_, i) => Math.max(...cells.map((row) => row[i].length)));
  return cells.map((row) => row.map((v, i) => (i === row.length - 1 ? v : v.padEnd(widths[i]))).join('  ')).join('\n');
}

function need(words, n, usage) {
  if (words.length !== n) throw new UsageError(`usage: hub ${usage}`);
  return words;
}

const repoLine = (r) => `${r.name}  ${r.kind}  ${r.public ? 'public' : 'private'}  ${r.urls.git ?? r.urls.fossil}${r.default_branch ? `  default branch ${r.default_branch}` : ''}`;

/** Runs one command; returns [json answer, human text]. */
async function run(words, opts) {
  const call = client(opts);
  const [group, verb, ...rest] = words;
  switch (`${group} ${verb ?? ''}`.trim()) {
    case 'repos list': {
      const d = await call('GET', '/repos');
      return [d, table(d.repos, [['name', (r) => r.name], ['kind', (r) => r.kind], ['visibility', (r) => (r.public ? 'public' : 'private')], ['url', (r) => r.urls.git ?? r.urls.fossil]])];
    }
    case 'repos create': {
      const [name] = need(rest, 1, 'repos create NAME [--fossil] [--private]');
      const d = await call('POST', '/repos', { name, kind: opts.fossil ? 'fossil' : 'git', public: !opts.private });
      return [d, `created ${repoLine(d)}`];
    }
    case 'repos show': {
      const [name] = need(rest, 1, 'repos show NAME');
      const d = await call('GET', `/repos/${seg(name)}`);
      return [d, repoLine(d)];
    }
    case 'repos set': {
      const [name] = need(rest, 1, 'repos set NAME [--public|--private] [--default-branch BRANCH]');
      const body = {};
      if (opts.public && opts.private) throw new UsageError('--public or --private, not both');
      if (opts.public) body.public = true;
      if (opts.private) body.public = false;
      if (opts['default-branch'] !== undefined) body.default_branch = opts['default-branch'];
      if (Object.keys(body).length === 0) throw new UsageError('nothing to set: --public, --private or --default-branch');
      const d = await call('PATCH', `/repos/${seg(name)}`, body);
      return [d, repoLine(d)];
    }
    case 'repos delete': {
      const [name] = need(rest, 1, 'repos delete NAME');
      await call('DELETE', `/repos/${seg(name)}`);
      return [{ deleted: name }, `deleted repository ${name}`];
    }
    case 'users list': {
      const d = await call('GET', '/users');
      return [d, table(d.users, [['name', (u) => u.name], ['created', (u) => u.created]])];
    }
    case 'users create': {
      const [name] = need(rest, 1, 'users create NAME (--password PW | --password-stdin)');
      const d = await call('POST', '/users', { name, password: await password(opts) });
      return [d, `created user ${d.name}`];
    }
    case 'users show': {
      const [name] = need(rest, 1, 'users show NAME');
      const d = await call('GET', `/users/${seg(name)}`);
      return [d, `${d.name}  created ${d.created}\n${table(d.repos, [['repository', (m) => m.repo], ['role', (m) => m.role]])}`];
    }
    case 'users delete': {
      const [name] = need(rest, 1, 'users delete NAME');
      await call('DELETE', `/users/${seg(name)}`);
      return [{ deleted: name }, `deleted user ${name} (with memberships and tokens)`];
    }
    case 'users password': {
      const [name] = need(rest, 1, 'users password NAME (--password PW | --password-stdin) [--old OLD]');
      const body = { new_password: await password(opts) };
      if (typeof opts.old === 'string') body.old_password = opts.old;
      await call('PUT', `/users/${seg(name)}/password`, body);
      return [{ changed: name }, `changed the password of ${name}`];
    }
    case 'tokens list': {
      const [user] = need(rest, 1, 'tokens list USER');
      const d = await call('GET', `/users/${seg(user)}/tokens`);
      return [d, table(d.tokens, [['id', (t) => t.id], ['scopes', (t) => t.scopes.join(',')], ['created', (t) => t.created], ['expires', (t) => t.expires], ['last used', (t) => t.last_used]])];
    }
    case 'tokens create': {
      const [user] = need(rest, 1, 'tokens create USER --scopes read[,write,admin] [--expires-in SECONDS]');
      if (typeof opts.scopes !== 'string') throw new UsageError('give --scopes, e.g. --scopes read,write');
      const body = { scopes: opts.scopes.split(',').filter(Boolean) };
      if (opts['expires-in'] !== undefined) {
        if (!/^\d+$/.test(opts['expires-in'])) throw new UsageError('--expires-in takes a number of seconds');
        body.expires_in = Number(opts['expires-in']);
      }
      const d = await call('POST', `/users/${seg(user)}/tokens`, body);
      return [d, `${d.token}\n(token ${d.id} for ${user}, scopes ${d.scopes.join(',')}${d.expires ? `, expires ${d.expires}` : ''}; it is shown only now)`];
    }
    case 'tokens revoke': {
      const [user, id] = need(rest, 2, 'tokens revoke USER ID');
      await call('DELETE', `/users/${seg(user)}/tokens/${seg(id)}`);
      return [{ revoked: id }, `revoked token ${id}`];
    }
    case 'members list': {
      const [repo] = need(rest, 1, 'members list REPO');
      const d = await call('GET', `/repos/${seg(repo)}/members`);
      return [d, table(d.members, [['user', (m) => m.user], ['role', (m) => m.role]])];
    }
    case 'members set': {
      const [repo, user, role] = need(rest, 3, 'members set REPO USER read|write|admin');
      const d = await call('PUT', `/repos/${seg(repo)}/members/${seg(user)}`, { role });
      return [d, `${d.user} has ${d.role} on ${d.repo}`];
    }
    case 'members remove': {
      const [repo, user] = need(rest, 2, 'members remove REPO USER');
      await call('DELETE', `/repos/${seg(repo)}/members/${seg(user)}`);
      return [{ removed: user }, `removed ${user} from ${repo}`];
    }
    case 'protect list': {
      const [repo] = need(rest, 1, 'protect list REPO');
      const d = await call('GET', `/repos/${seg(repo)}/protections`);
      return [d, table(d.protections, [['pattern', (p) => p.pattern], ['admins only', (p) => (p.admins_only ? 'yes' : 'no')]])];
    }
    case 'protect set': {
      const [repo, pattern] = need(rest, 2, 'protect set REPO PATTERN [--admins-only]');
      const d = await call('PUT', `/repos/${seg(repo)}/protections/${seg(pattern)}`, { admins_only: !!opts['admins-only'] });
      return [d, `protected ${d.pattern} on ${repo}${d.admins_only ? ' (admins only)' : ''}`];
    }
    case 'protect remove': {
      const [repo, pattern] = need(rest, 2, 'protect remove REPO PATTERN');
      await call('DELETE', `/repos/${seg(repo)}/protections/${seg(pattern)}`);
      return [{ removed: pattern }, `unprotected ${pattern} on ${repo}`];
    }
    default: {
      if (group === 'events') {
        const [repo] = need(words.slice(1), 1, 'events REPO [--limit N]');
        const q = opts.limit !== undefined ? `?limit=${seg(opts.limit)}` : '';
        const d = await call('GET', `/repos/${seg(repo)}/events${q}`);
        const short = (id) => (id ? id.slice(0, 12) : '(none)');
        const change = (e) => (e.type === 'fossil-push' ? `${e.artifacts} artifacts, ${e.checkins.length} check-ins` : `${short(e.old)} -> ${short(e.new)}`);
        return [d, table(d.events, [['at', (e) => e.at], ['who', (e) => e.actor ?? '(admin)'], ['ref', (e) => e.ref ?? '(fossil)'], ['change', change]])];
      }
      throw new UsageError(group === undefined || group === 'help' ? '' : `unknown command: ${words.join(' ')}`);
    }
  }
}

async function main() {
  let args;
  try {
    args = parseArgs(process.argv.slice(2));
    if (args.opts.help || args.words.length === 0 || args.words[0] === 'help') {
      process.stdout.write(USAGE);
      return 0;
    }
    const [data, text] = await run(args.words, args.opts);
    process.stdout.write(`${args.opts.json ? JSON.stringify(data, null, 2) : text}\n`);
    return 0;
  } catch (e) {
    if (e instanceof UsageError) {
      process.stderr.write(`${e.message ? `hub: ${e.message}\n\n` : ''}${USAGE}`);
      return 2;
    }
    if (e instanceof ApiError) {
      if (args?.opts.json) process.stdout.write(`${JSON.stringify({ error: e.message, status: e.status })}\n`);
      process.stderr.write(`hub: ${e.message}${e.status ? ` (HTTP ${e.status})` : ''}\n`);
      return 1;
    }
    throw e;
  }
}

process.exitCode = await main();
