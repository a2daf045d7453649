/**
 * A new repository's state, as `fossil new` leaves it for a cloning client:
 * random project and server codes (40 hex), hash policy sha3 (2), the project
 * name, and the initial empty check-in
 *
 *     C initial\sempty\scheck-in
 *     D <now>
 *     R d41d8cd98f00b204e9800998ecf8427e
 *     T *branch * trunk
 *     T *sym-trunk *
 *     U <creator>
 *     Z <md5>
 *
 * named with SHA3-256, stored as a full record and unclustered.
 */
import { toHex } from '../../core/bytes.js';
import { buildArtifact, formatArtifactDate } from '../../core/fossil/build.js';
import { parseArtifactStrict, type Artifact } from '../../core/fossil/artifact.js';
import { artifactId } from '../../core/fossil/name.js';
import { RecordSink, type FossilRepo } from './repo.js';

/** Options of newRepository. */
export interface NewRepositoryOptions {
  /** The `U` of the initial check-in (fossil uses the creating user's login). */
  creator: string;
  /** Shown by fossil as the project name (config `project-name`). */
  projectName?: string;
  /** Config `project-description`. */
  description?: string;
  /** Clock (default: now). */
  now?: Date;
  /** Random bytes (default: crypto.getRandomValues). */
  randomBytes?: (n: number) => Uint8Array;
}

/** What newRepository created. */
export interface NewRepository {
  projectCode: string;
  serverCode: string;
  /** The initial check-in's hash, seq and parsed form (for the crosslink tables). */
  initialCheckin: { hash: string; seq: number; artifact: Artifact };
}

const EMPTY_MD5 = 'd41d8cd98f00b204e9800998ecf8427e';

/**
 * Initialises an empty store to receive an existing repository: its project
 * code (so its clones' logins and pushes fit), a new server code, hash policy
 * sha3, and no initial check-in (`fossil new --empty`; the pushed repository
 * brings its own). Call once, on an empty repository.
 */
export async function emptyRepository(
  repo: FossilRepo,
  opts: Pick<NewRepositoryOptions, 'projectName' | 'now' | 'randomBytes'> & { projectCode: string },
): Promise<{ projectCode: string; serverCode: string }> {
  const random = opts.randomBytes ?? ((n: number) => crypto.getRandomValues(new Uint8Array(n)));
  const serverCode = toHex(random(20));
  const config = configOf(opts.projectCode, serverCode, opts.projectName, undefined, opts.now ?? new Date());
  // Defaults only: the existing repository's own settings (hash policy, project name) win
  // when it pushes them (`fossil configuration push project`: the larger mtime wins).
  for (const c of config) if (c.name !== 'project-code' && c.name !== 'server-code') c.mtime = 0;
  await repo.store.commit({ config });
  return { projectCode: opts.projectCode, serverCode };
}

function configOf(projectCode: string, serverCode: string, projectName: string | undefined, description: string | undefined, now: Date) {
  const mtime = Math.floor(now.getTime() / 1000);
  const config = [
    { name: 'project-code', value: projectCode, mtime },
    { name: 'server-code', value: serverCode, mtime },
    { name: 'hash-policy', value: '2', mtime },
  ];
  if (projectName) config.push({ name: 'project-name', value: projectName, mtime });
  if (description !== undefined) config.push({ name: 'project-description', value: description, mtime });
  return config;
}

/** Initialises an empty store as `fossil new` would; call once, on an empty repository. */
export async function newRepository(repo: FossilRepo, opts: NewRepositoryOptions): Promise<NewRepository> {
  const now = opts.now ?? new Date();
  const random = opts.randomBytes ?? ((n: number) => crypto.getRandomValues(new Uint8Array(n)));
  const projectCode = toHex(random(20));
  const serverCode = toHex(random(20));
  const bytes = buildArtifact(
    {
      comment: 'initial empty check-in',
      date: formatArtifactDate(now),
      repoChecksum: EMPTY_MD5,
      tags: [
        { op: '*', name: 'branch', target: '*', value: 'trunk' },
        { op: '*', name: 'sym-trunk', target: '*' },
      ],
      user: opts.creator,
    },
    'manifest',
  );
  const hash = artifactId(repo.primitives, bytes, 'sha3-256');
  const sink = new RecordSink(repo);
  let rec;
  try {
    rec = await sink.appendDeflated(bytes);
    await sink.finish();
  } catch (e) {
    await sink.abort();
    throw e;
  }
  const result = await repo.store.commit({
    rows: [{ hash, size: bytes.length, ...rec, recordSize: bytes.length, format: 'full', base: null, private: false }],
    unclusteredAdd: [hash],
    config: configOf(projectCode, serverCode, opts.projectName, opts.description, now),
  });
  const seq = result.inserted[0]?.seq ?? 1;
  return { projectCode, serverCode, initialCheckin: { hash, seq, artifact: parseArtifactStrict(bytes) } };
}
