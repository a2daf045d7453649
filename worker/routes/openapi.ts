/**
 * The OpenAPI 3.1 description of /api, served at /api/openapi.json. Request
 * bodies come from the same zod schemas the routes validate with (zod 4's
 * toJSONSchema), so the document cannot drift from what is enforced; a test
 * checks that every registered route is described.
 */
import { z } from 'zod';
import { HUB_NAME, HUB_VERSION } from '../version.js';
import { NewRepoSchema, RepoPatchSchema } from './api-common.js';
import { NewUserSchema, PasswordChangeSchema } from './users.js';
import { NewTokenSchema } from './tokens.js';
import { MemberSchema } from './members.js';
import { ProtectionSchema } from './protections.js';

type Op = {
  summary: string;
  /** Who may call it. */
  access: string;
  body?: z.ZodType;
  /** Success status and what it returns. */
  ok: [number, string];
  query?: { name: string; description: string }[];
};

/** Every route: path (OpenAPI form) -> method -> operation. */
export const OPERATIONS: Record<string, Record<string, Op>> = {
  '/api/openapi.json': { get: { summary: 'This description', access: 'anyone', ok: [200, 'OpenAPI document'] } },
  '/api/repos': {
    get: { summary: 'List the repositories the caller may read', access: 'anyone', ok: [200, '{ repos: [...] }'] },
    post: { summary: 'Create a repository', access: 'hub admin', body: NewRepoSchema, ok: [201, 'the repository'] },
  },
  '/api/repos/{name}': {
    get: { summary: 'Show a repository', access: 'read role', ok: [200, 'the repository with default_branch and the caller\'s role'] },
    patch: { summary: 'Change settings', access: 'admin role', body: RepoPatchSchema, ok: [200, 'the repository'] },
    delete: { summary: 'Delete a repository and its content', access: 'hub admin', ok: [204, 'deleted'] },
  },
  '/api/repos/{name}/members': { get: { summary: 'List members and roles', access: 'admin role', ok: [200, '{ members: [{ user, role }] }'] } },
  '/api/repos/{name}/members/{user}': {
    put: { summary: 'Give a user a role', access: 'admin role', body: MemberSchema, ok: [200, '{ repo, user, role }'] },
    delete: { summary: 'Remove a member', access: 'admin role', ok: [204, 'removed'] },
  },
  '/api/repos/{name}/protections': { get: { summary: 'List protected branch patterns', access: 'read role', ok: [200, '{ protections: [{ pattern, admins_only }] }'] } },
  '/api/repos/{name}/protections/{pattern}': {
    put: { summary: 'Protect branches of a git repository matching a pattern (`*`: any characters but `/`; 400 for a fossil repository)', access: 'admin role', body: ProtectionSchema, ok: [201, '{ pattern, admins_only } (200 when it existed)'] },
    delete: { summary: 'Remove a protection', access: 'admin role', ok: [204, 'removed'] },
  },
  '/api/repos/{name}/events': {
    get: {
      summary: 'The audit log of pushes, newest first',
      access: 'read role',
      ok: [200, '{ events: [{ id, type: "push", actor, ref, old, new, at } | { id, type: "fossil-push", actor, artifacts, checkins, at }] }'],
      query: [
        { name: 'limit', description: '1-1000, default 100' },
        { name: 'before', description: 'only events with a smaller id (paging)' },
      ],
    },
  },
  '/api/users': {
    get: { summary: 'List users', access: 'hub admin', ok: [200, '{ users: [{ name, created }] }'] },
    post: { summary: 'Create a user', access: 'hub admin, or anyone when HUB_OPEN_SIGNUP=true', body: NewUserSchema, ok: [201, '{ name }'] },
  },
  '/api/users/{name}': {
    get: { summary: 'Show a user and their memberships', access: 'the user or the hub admin', ok: [200, '{ name, created, repos }'] },
    delete: { summary: 'Delete a user with their memberships and tokens', access: 'the user or the hub admin', ok: [204, 'deleted'] },
  },
  '/api/users/{name}/password': {
    put: { summary: 'Change the password', access: 'anyone with old_password, or the hub admin', body: PasswordChangeSchema, ok: [204, 'changed'] },
  },
  '/api/users/{name}/tokens': {
    get: { summary: 'List tokens (never their secrets)', access: 'the user or the hub admin', ok: [200, '{ tokens: [{ id, scopes, created, expires, last_used }] }'] },
    post: { summary: 'Create a token; the answer is the only time it is shown', access: 'the user or the hub admin', body: NewTokenSchema, ok: [201, '{ id, scopes, created, expires, last_used, token }'] },
  },
  '/api/users/{name}/tokens/{id}': { delete: { summary: 'Revoke a token', access: 'the user or the hub admin', ok: [204, 'revoked'] } },
};

const ERROR = { description: 'error', content: { 'application/json': { schema: { type: 'object', properties: { error: { type: 'string' } }, required: ['error'] } } } };

/** The document, with `origin` as its server. */
export function openApiDocument(origin: string): unknown {
  const paths: Record<string, Record<string, unknown>> = {};
  for (const [path, ops] of Object.entries(OPERATIONS)) {
    paths[path] = {};
    for (const [method, op] of Object.entries(ops)) {
      const params = [...path.matchAll(/\{(\w+)\}/g)].map((m) => ({ name: m[1], in: 'path', required: true, schema: { type: 'string' } }));
      for (const q of op.query ?? []) params.push({ name: q.name, in: 'query', required: false, schema: { type: 'string' }, description: q.description } as never);
      paths[path][method] = {
        summary: op.summary,
        description: `Who may call it: ${op.access}.`,
        ...(params.length > 0 ? { parameters: params } : {}),
        ...(op.body ? { requestBody: { required: true, content: { 'application/json': { schema: z.toJSONSchema(op.body, { io: 'input' }) } } } } : {}),
        responses: {
          [String(op.ok[0])]: { description: op.ok[1] },
          '400': ERROR,
          '401': ERROR,
          '403': ERROR,
          '404': ERROR,
          '413': ERROR,
          '429': ERROR,
        },
      };
    }
  }
  return {
    openapi: '3.1.0',
    info: { title: `${HUB_NAME} API`, version: HUB_VERSION },
    servers: [{ url: origin }],
    components: {
      securitySchemes: {
        bearer: { type: 'http', scheme: 'bearer', description: 'the admin token, or an API token of a user' },
        basic: { type: 'http', scheme: 'basic', description: 'a user name with its password or one of its API tokens' },
      },
    },
    security: [{}, { bearer: [] }, { basic: [] }],
    paths,
  };
}
