/**
 * Branch protection. A repository has a list of branch name patterns (`main`,
 * `release/*`; `*` stands for any run of characters without `/`). A push to
 * a branch that matches one may not delete it or move it by anything but a
 * fast-forward, and when the pattern is `admins_only`, only pushers with the
 * admin role may update or create it at all. The Worker's git route sends the
 * rules and the pusher's role to the repository's Durable Object with the
 * push (PUSH_POLICY_HEADER); receive-pack asks `refusal` about each update and
 * git shows the reason as `! [remote rejected] REF (protected branch: ...)`.
 */
import { eq } from 'drizzle-orm';
import { drizzle } from 'drizzle-orm/d1';
import type { Env } from './env.js';
import { refNameProblem } from '../shared/protocols/git/ref-name.js';
import type { ReceivePackOptions } from '../shared/protocols/git/receive-pack.js';
import { protections, type Role } from './storage-d1/schema.js';

export interface Protection {
  pattern: string;
  adminsOnly: boolean;
}

/** Longest pattern, and most patterns per repository (they travel in a header with each push). */
export const MAX_PATTERN_LENGTH = 200;
export const MAX_PROTECTIONS = 100;

/** Why `pattern` is not a usable branch pattern, or null. */
export function patternProblem(pattern: string): string | null {
  if (pattern.length === 0 || pattern.length > MAX_PATTERN_LENGTH) return `a pattern is 1-${MAX_PATTERN_LENGTH} characters`;
  if (pattern.startsWith('refs/')) return 'a pattern names branches without "refs/heads/"';
  if (!/^[A-Za-z0-9._/*-]+$/.test(pattern)) return 'a pattern uses letters, digits, ".", "_", "-", "/" and "*"';
  // Each `*` stands for a component part, so the rest must be a valid branch name.
  const problem = refNameProblem(`refs/heads/${pattern.replace(/\*/g, 'x')}`);
  return problem === null ? null : `not a branch name pattern: ${problem}`;
}

/** Whether branch name `branch` (without refs/heads/) matches `pattern`. */
export function matchesPattern(pattern: string, branch: string): boolean {
  let i = 0;
  let re = '^';
  for (const part of pattern.split('*')) {
    if (i++ > 0) re += '[^/]*';
    re += part.replace(/[.\-/]/g, (ch) => `\\${ch}`);
  }
  return new RegExp(`${re}$`).test(branch);
}

/** What receive-pack knows about one requested update. */
export interface UpdateCheck {
  ref: string;
  /** null when the ref is created. */
  oldId: string | null;
  /** null when the ref is deleted. */
  newId: string | null;
  /** Whether newId descends from oldId (asked only for updates of existing refs). */
  isFastForward(): Promise<boolean>;
}

/** What travels with a push from the Worker to the Durable Object. */
export interface PushPolicy {
  /** Who pushes: a user name, or null for the hub admin token. */
  actor: string | null;
  role: Role;
  rules: Protection[];
}

/** Why the rules refuse `u` for a pusher with `role`, or undefined when they allow it. */
export async function protectionRefusal(rules: Protection[], role: Role, u: UpdateCheck): Promise<string | undefined> {
  if (!u.ref.startsWith('refs/heads/')) return undefined;
  const branch = u.ref.slice('refs/heads/'.length);
  const hits = rules.filter((r) => matchesPattern(r.pattern, branch));
  if (hits.length === 0) return undefined;
  if (role !== 'admin' && hits.some((r) => r.adminsOnly)) return 'protected branch: only admins may push';
  if (u.newId === null) return 'protected branch: deletion refused';
  if (u.oldId !== null && !(await u.isFastForward())) return 'protected branch: force-push refused';
  return undefined;
}

/** The repository's rules, sorted by pattern. */
export async function loadProtections(env: Env, repo: string): Promise<Protection[]> {
  const rows = await drizzle(env.DB).select().from(protections).where(eq(protections.repo, repo)).orderBy(protections.pattern).all();
  return rows.map((r) => ({ pattern: r.pattern, adminsOnly: r.adminsOnly }));
}

/** loadProtections as one statement, for a push's access check to read in its own D1 batch (protectionsOf reads its rows). */
export function protectionsQuery(env: Env, repo: string): D1PreparedStatement {
  return env.DB.prepare(`SELECT pattern, admins_only FROM protections WHERE repo = ? ORDER BY pattern`).bind(repo);
}

/** The rules of protectionsQuery's rows. */
export function protectionsOf(rows: unknown[]): Protection[] {
  return (rows as { pattern: string; admins_only: number }[]).map((r) => ({ pattern: r.pattern, adminsOnly: r.admins_only !== 0 }));
}

/** The header a push carries to the Durable Object. */
export const PUSH_POLICY_HEADER = 'x-hub-push-policy';

/** The policy from a forwarded push's header; null when absent or malformed (the Worker always sends it). */
export function parsePushPolicy(value: string | null): PushPolicy | null {
  if (value === null) return null;
  try {
    const p = JSON.parse(value) as PushPolicy;
    if (typeof p !== 'object' || p === null || !Array.isArray(p.rules) || !['read', 'write', 'admin'].includes(p.role)) return null;
    if (p.actor !== null && typeof p.actor !== 'string') return null;
    return p;
  } catch {
    return null;
  }
}

/**
 * The receive-pack hook of a push forwarded to the Durable Object: branch
 * protection from the policy header. A push without a readable policy is
 * refused whole (fail closed: the Worker always sends one). Undefined for
 * requests that are not pushes.
 */
export function receiveHooks(request: Request): Pick<ReceivePackOptions, 'checkUpdate'> | undefined {
  if (new URL(request.url).pathname !== '/git-receive-pack') return undefined;
  const policy = parsePushPolicy(request.headers.get(PUSH_POLICY_HEADER));
  if (policy === null) return { checkUpdate: () => 'push policy missing' };
  return { checkUpdate: (u) => protectionRefusal(policy.rules, policy.role, u) };
}

/** Who pushes, for the audit log: from the policy header (null: the hub admin token, or no policy, when nothing is applied). */
export function pushActor(request: Request): string | null {
  return parsePushPolicy(request.headers.get(PUSH_POLICY_HEADER))?.actor ?? null;
}
