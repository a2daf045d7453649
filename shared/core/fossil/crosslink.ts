/**
 * Crosslinking (src/manifest.c manifest_crosslink, add_mlink; src/tag.c): what
 * fossil's rebuildable tables get for one received artifact.
 *
 *     artifact --crosslink()--> CrosslinkRows --applyCrosslinkRows()--> tables
 *
 * `crosslink` is the artifact's own contribution, computed from its cards and
 * the manifests it depends on (loaded through an ArtifactSource): its event,
 * its plink edges to its parents, the mlink file changes of every check-in
 * whose changes it makes computable, and its T cards as tag assertions. The
 * derived state (tagxref with propagated tags, the leaf set, event columns a
 * tag overrides) is kept by crosslink-apply.ts over a CrosslinkTables store.
 *
 * Rows are keyed by artifact hash, not by a storage row id: an artifact names
 * parents, files and tag targets the repository may not hold yet (fossil's
 * phantoms), and a hash needs no registry of those.
 *
 * Arrival order does not change the final rows. A check-in's mlink set is a
 * function of its manifest, its parents and their baselines; it is recomputed
 * whole (MlinkSet replaces every row of that check-in) whenever one of those
 * arrives: the check-in itself, a parent (its known children are recomputed)
 * or a baseline (the delta manifests using it, and their children). Tags: see
 * crosslink-apply.ts.
 *
 * Where fossil's own result depends on arrival order we keep what it gives in
 * time order: a wiki edit is marked ":" from its P card (fossil asks whether an
 * older version was already crosslinked); a check-in whose baseline is
 * missing still gets its event, plink and tags (fossil defers it whole). A
 * delta manifest without parents whose baseline comes later is the one case
 * not revisited (no plink row leads back to it; fossil never writes one).
 *
 * Covered (checked row for row against fossil 2.21 in
 * test/shared/core/fossil/crosslink.node.test.ts): check-ins (event ci, plink,
 * mlink, filename, T cards), control artifacts (event g with fossil's comment,
 * tags), wiki (event w, tag wiki-*, plink to the edited version), technotes
 * (event e at the E card's time for the newest version only, tag event-*, T
 * cards, plink), tickets (event t, tag tkt-*), forum posts (event f, plink).
 * Left out: the ticket table and ticket/forum comments as fossil words them
 * (they read other tables; ours are plainer), attachments (no event),
 * clusters (no `cluster` tag: the sync layer tracks clustering itself),
 * backlinks, cherrypick, the `parent` tag's reparenting, private-artifact
 * marking (the storage knows what is private), and fossil's "time fudge"
 * (check-ins under two seconds apart nudged during a rebuild).
 */
import { compareFileNames, type Artifact, type ArtifactType, type FileCard, type TagCard } from './artifact.js';

/** Event types (fossil's event.type): check-in, wiki, ticket, technote, forum, control. */
export type EventType = 'ci' | 'w' | 't' | 'e' | 'f' | 'g';

/** A row of fossil's event table, before tag overrides (euser, ecomment, bgcolor, +date). */
export interface EventRow {
  objid: string;
  type: EventType;
  /** Julian day: the D card's time (technotes: the E card's). */
  mtime: number;
  user: string | null;
  comment: string | null;
  /** The tag naming what the event belongs to (fossil's event.tagid): `event-ID` for a technote. */
  tag: string | null;
  /** Julian day of the artifact's D card (fossil's omtime; orders technote versions). */
  omtime: number;
}

/** A plink row: `cid` names `pid` as a parent. */
export interface PlinkRow {
  pid: string;
  cid: string;
  /** True for the first P card (the primary parent). */
  isprim: boolean;
  /** The child's time (julian day). */
  mtime: number;
  /** The child's B card (baseline manifest), when it is a delta manifest. */
  baseid: string | null;
}

/** mlink.mperm: the permission of the file in the child. */
export type Mperm = 0 | 1 | 2;
/** PERM_REG, PERM_EXE, PERM_LNK. */
export const PERM_REG: Mperm = 0;
export const PERM_EXE: Mperm = 1;
export const PERM_LNK: Mperm = 2;

/** One file change of check-in `mid` against its parent `pmid` (an mlink row). */
export interface MlinkRow {
  mid: string;
  /** The parent check-in; null for the files of a root check-in. */
  pmid: string | null;
  /** The file's content in the child; null when the child deletes it. */
  fid: string | null;
  /** The file's content in the parent; null when the child adds it. */
  pid: string | null;
  /** fossil's pid = -1: added by the merge (the file came from a merge parent). */
  mergeAdded: boolean;
  name: string;
  /** The file's name in the parent, when renamed. */
  priorName: string | null;
  mperm: Mperm;
  /** True for a change against a merge parent (fossil's isaux). */
  isaux: boolean;
}

/** Every mlink row of one check-in: replaces whatever rows `mid` had. */
export interface MlinkSet {
  mid: string;
  rows: MlinkRow[];
}

/** fossil's tagxref.tagtype: 0 cancel ("-"), 1 singleton ("+"), 2 propagating ("*"). */
export type TagType = 0 | 1 | 2;

/** A T card (or an implied tag such as `wiki-TITLE`): artifact `src` sets tag `name` on `target`. */
export interface TagAssertion {
  src: string;
  target: string;
  /** Without the +, -, * prefix: `sym-trunk`, `branch`, `closed`, `wiki-Page`... */
  name: string;
  type: TagType;
  value: string | null;
  /** The time of `src` (julian day): the newest assertion on a target wins. */
  mtime: number;
}

/** What one artifact contributes to the tables. */
export interface CrosslinkRows {
  hash: string;
  type: ArtifactType;
  event: EventRow | null;
  plinks: PlinkRow[];
  /** The artifact's own set (check-ins) and those of check-ins it completes. */
  mlinks: MlinkSet[];
  tags: TagAssertion[];
}

/**
 * What crosslink reads besides the artifact itself. `manifest` answers a
 * stored artifact parsed, or null when it is absent (or not structural);
 * `children` the check-ins known (crosslinked) to name `hash` as a parent;
 * `deltaManifests` the check-ins known to name `hash` as their baseline.
 */
export interface ArtifactSource {
  manifest(hash: string): Promise<Artifact | null>;
  children(hash: string): Promise<string[]>;
  deltaManifests(hash: string): Promise<string[]>;
  /** Told of each artifact crosslink is given, so a cache can answer for it as the next one's parent. */
  seen?(hash: string, artifact: Artifact): void;
}

const EVENT_TYPE: Partial<Record<ArtifactType, EventType>> = {
  manifest: 'ci',
  wiki: 'w',
  ticket: 't',
  technote: 'e',
  forum: 'f',
  control: 'g',
};

const MS_PER_DAY = 86_400_000;
// Julian day 0 is 4714-11-24 BC; the Unix epoch is julian day 2440587.5.
const UNIX_EPOCH_JD_MS = 210_866_760_000_000;
const DATE_RE = /^(\d{4})-(\d{2})-(\d{2})(?:[T ](\d{2}):(\d{2})(?::(\d{2})(\.\d+)?)?)?$/;

/**
 * The julian day of a fossil date (`YYYY-MM-DDTHH:MM:SS.SSS`, also with a space
 * or fewer fields), computed as SQLite's julianday() does: integer milliseconds
 * over 86400000, so the double is the one fossil stores. Null when malformed.
 */
export function julianDay(date: string): number | null {
  const m = DATE_RE.exec(date);
  if (m === null) return null;
  const [y, mo, d, h = '0', mi = '0', s = '0', frac = ''] = m.slice(1);
  if (+mo < 1 || +mo > 12 || +d < 1 || +d > 31 || +h > 24 || +mi > 59 || +s > 59) return null;
  const seconds = +s + (frac === '' ? 0 : Number(`0${frac}`));
  const ms = Date.UTC(+y, +mo - 1, +d, +h, +mi, 0, 0) + Math.floor(seconds * 1000 + 0.5);
  return (ms + UNIX_EPOCH_JD_MS) / MS_PER_DAY;
}

/** mlink.mperm of a file card (manifest_file_mperm). */
export function fileMperm(f: FileCard | undefined): Mperm {
  const perm = f?.perm ?? '';
  if (perm.includes('x')) return PERM_EXE;
  if (perm.includes('l')) return PERM_LNK;
  return PERM_REG;
}

/** A check-in's F cards with its baseline's, as fossil's seek and iteration see them. */
interface FileView {
  own: FileCard[];
  /** The baseline's files, for a delta manifest; null for a baseline manifest. */
  baseList: FileCard[] | null;
  /** Name maps, made on the first seek: an edge between two baseline manifests (the usual case) is a merge pass and needs none. */
  maps?: { own: Map<string, FileCard>; base: Map<string, FileCard> | null };
}

function fileView(m: Artifact, baseline: Artifact | null): FileView {
  return { own: m.cards.files ?? [], baseList: baseline === null ? null : (baseline.cards.files ?? []) };
}

// A loop, not new Map(files.map(...)): a pair array per card was a few MiB of garbage per push.
function byName(files: FileCard[]): Map<string, FileCard> {
  const m = new Map<string, FileCard>();
  for (const f of files) m.set(f.name, f);
  return m;
}

function mapsOf(v: FileView): NonNullable<FileView['maps']> {
  return (v.maps ??= { own: byName(v.own), base: v.baseList === null ? null : byName(v.baseList) });
}

// manifest_file_seek: the delta's own card (a deletion hides the file), else the baseline's.
function seek(v: FileView, name: string): FileCard | undefined {
  const maps = mapsOf(v);
  const f = maps.own.get(name);
  if (f !== undefined) return f.hash === undefined ? undefined : f;
  return maps.base?.get(name);
}

// manifest_file_next: the full file list, the delta's cards merged over the baseline's by name.
function* iterate(v: FileView): Generator<FileCard> {
  if (v.baseList === null) {
    yield* v.own;
    return;
  }
  const b = v.baseList;
  const d = v.own;
  let i = 0;
  let j = 0;
  while (i < b.length || j < d.length) {
    if (i >= b.length) yield d[j++];
    else if (j >= d.length) yield b[i++];
    else if (b[i].name < d[j].name) yield b[i++];
    else if (b[i].name > d[j].name) yield d[j++];
    else if (d[j].hash !== undefined) {
      i++;
      yield d[j++];
    } else {
      i++;
      j++;
    }
  }
}

/**
 * The files of a check-in (what a check-out writes): the manifest's F cards,
 * or for a delta manifest its baseline's with the delta applied. `baseline` is
 * required exactly when the manifest has a B card.
 */
export function manifestFiles(manifest: Artifact, baseline: Artifact | null): FileCard[] {
  if ((manifest.cards.baseline !== undefined) !== (baseline !== null)) {
    throw new TypeError('manifestFiles: baseline given for a baseline manifest, or missing for a delta manifest');
  }
  return [...iterate(fileView(manifest, baseline))].filter((f) => f.hash !== undefined);
}

/** A check-in ready for mlink computation: its hash and file view. */
interface LoadedCheckin {
  hash: string;
  view: FileView;
}

// add_mlink's file comparison for one parent -> child edge (before the merge-parent filter).
function edgeRows(parent: LoadedCheckin, child: LoadedCheckin, isPrim: boolean): MlinkRow[] {
  const rows: MlinkRow[] = [];
  const add = (pid: string | undefined, fid: string | undefined, name: string, priorName: string | null, mperm: Mperm) =>
    rows.push({
      mid: child.hash,
      pmid: parent.hash,
      fid: fid ?? null,
      pid: pid ?? null,
      mergeAdded: false,
      name,
      priorName,
      mperm,
      isaux: !isPrim,
    });
  const p = parent.view;
  const c = child.view;
  if (p.baseList === null && c.baseList === null) {
    baselineEdge(p, c.own, add);
    return rows;
  }
  for (const cf of c.own) {
    const mperm = fileMperm(cf);
    if (cf.oldName !== undefined) {
      const pf = seek(p, cf.oldName);
      if (pf !== undefined) add(pf.hash, cf.hash, cf.name, cf.oldName, mperm);
      else add(undefined, cf.hash, cf.name, null, mperm); // old name unknown in the parent: a new file
    } else {
      const pf = seek(p, cf.name);
      if (pf === undefined) {
        if (cf.hash !== undefined) add(undefined, cf.hash, cf.name, null, mperm);
      } else if (cf.hash !== pf.hash || fileMperm(pf) !== mperm) {
        add(pf.hash, cf.hash, cf.name, null, mperm);
      }
    }
  }
  if (p.baseList !== null && c.baseList !== null) {
    // Both delta manifests: files the parent changed that the child reverts to
    // its baseline, or that the parent deleted and the child brings back.
    for (const pf of p.own) {
      if (pf.hash !== undefined) {
        if (!mapsOf(c).own.has(pf.name)) {
          const cf = seek(c, pf.name);
          if (cf !== undefined) add(pf.hash, cf.hash, cf.name, null, fileMperm(cf));
        }
      } else {
        const cf = seek(c, pf.name);
        if (cf !== undefined) add(undefined, cf.hash, cf.name, null, fileMperm(cf));
      }
    }
  } else if (c.baseList === null) {
    // A baseline child: whatever the parent has and the child lacks is deleted.
    for (const pf of iterate(p)) {
      if (pf.hash !== undefined && seek(c, pf.name) === undefined) add(pf.hash, undefined, pf.name, null, PERM_REG);
    }
  }
  return rows;
}

/**
 * edgeRows between two baseline manifests, in the same order: the child's
 * cards, then the parent's files the child lacks. Both lists are in name
 * order (the parser checks fossil's byte order), so one merge pass pairs them;
 * name maps (a Map per loaded check-in, the largest allocation of a large
 * push) are made only for a rename's old name.
 */
function baselineEdge(p: FileView, child: FileCard[], add: (pid: string | undefined, fid: string | undefined, name: string, priorName: string | null, mperm: Mperm) => void): void {
  const parent = p.own;
  const gone: FileCard[] = [];
  let i = 0;
  for (const cf of child) {
    while (i < parent.length && compareFileNames(parent[i], cf) < 0) gone.push(parent[i++]);
    const same = i < parent.length && compareFileNames(parent[i], cf) === 0 ? parent[i++] : undefined;
    const mperm = fileMperm(cf);
    // seek() answers nothing for a card without a hash: such a parent file counts as deleted.
    if (same !== undefined && cf.hash === undefined) gone.push(same);
    if (cf.oldName !== undefined) {
      const pf = seek(p, cf.oldName);
      if (pf !== undefined) add(pf.hash, cf.hash, cf.name, cf.oldName, mperm);
      else add(undefined, cf.hash, cf.name, null, mperm);
    } else {
      const pf = same?.hash === undefined ? undefined : same;
      if (pf === undefined) {
        if (cf.hash !== undefined) add(undefined, cf.hash, cf.name, null, mperm);
      } else if (cf.hash !== pf.hash || fileMperm(pf) !== mperm) {
        add(pf.hash, cf.hash, cf.name, null, mperm);
      }
    }
  }
  while (i < parent.length) gone.push(parent[i++]);
  for (const pf of gone) if (pf.hash !== undefined) add(pf.hash, undefined, pf.name, null, PERM_REG);
}

/**
 * The whole mlink set of check-in `child` (manifest_add_checkin_linkages and
 * add_mlink): a root's files all added; else the changes against the primary
 * parent, plus those against each merge parent for files that also changed
 * against the primary one; a file added against the primary parent but
 * unchanged against some merge parent is marked mergeAdded. A parent that
 * cannot be loaded (null) contributes nothing; without the primary, nothing at
 * all. Parents are loaded one at a time, so memory holds two file lists.
 */
async function mlinkSet(
  child: LoadedCheckin,
  parents: readonly string[],
  load: (hash: string) => Promise<LoadedCheckin | null>,
): Promise<MlinkSet> {
  const n = parents.length;
  if (n === 0) {
    const rows = child.view.own.map(
      (f): MlinkRow => ({
        mid: child.hash,
        pmid: null,
        fid: f.hash ?? null,
        pid: null,
        mergeAdded: false,
        name: f.name,
        priorName: null,
        mperm: fileMperm(f),
        isaux: false,
      }),
    );
    return { mid: child.hash, rows };
  }
  const primary = await load(parents[0]);
  if (primary === null) return { mid: child.hash, rows: [] };
  const rows = edgeRows(primary, child, true);
  const primaryNames = new Set(rows.map((r) => r.name));
  const seen = new Set([parents[0]]);
  for (const hash of parents.slice(1)) {
    // A parent listed twice gets one edge, as fossil's "already linked" check does.
    if (seen.has(hash)) continue;
    seen.add(hash);
    const parent = await load(hash);
    if (parent === null) continue;
    for (const r of edgeRows(parent, child, false)) if (primaryNames.has(r.name)) rows.push(r);
  }
  if (n > 1) {
    const count = new Map<string, number>();
    for (const r of rows) count.set(r.name, (count.get(r.name) ?? 0) + 1);
    for (const r of rows) if (r.pid === null && (count.get(r.name) ?? 0) < n) r.mergeAdded = true;
  }
  return { mid: child.hash, rows };
}

type Loaded = { manifest: Artifact; loaded: LoadedCheckin } | null;

/** Check-ins kept parsed during one crosslink call (siblings share a parent). */
const LOADER_CACHE_SIZE = 8;

/** Loads check-ins (manifest + baseline file view) for one crosslink call, with a small LRU. */
class CheckinLoader {
  private readonly cache = new Map<string, Promise<Loaded>>();
  private readonly pinned: Promise<Loaded>;
  constructor(
    private readonly source: ArtifactSource,
    private readonly self: string,
    artifact: Artifact,
  ) {
    this.pinned = this.build(self, Promise.resolve(artifact));
  }

  get(hash: string): Promise<Loaded> {
    if (hash === this.self) return this.pinned;
    let p = this.cache.get(hash);
    if (p !== undefined) this.cache.delete(hash);
    else p = this.build(hash, this.source.manifest(hash));
    this.cache.set(hash, p);
    if (this.cache.size > LOADER_CACHE_SIZE) this.cache.delete(this.cache.keys().next().value as string);
    return p;
  }

  private async build(hash: string, manifest: Promise<Artifact | null>): Promise<Loaded> {
    const m = await manifest;
    if (m === null || m.type !== 'manifest') return null;
    let baseline: Artifact | null = null;
    if (m.cards.baseline !== undefined) {
      // A baseline that is missing, or is itself a delta, leaves the check-in unloadable (fetch_baseline).
      const b = await this.source.manifest(m.cards.baseline);
      if (b === null || b.type !== 'manifest' || b.cards.baseline !== undefined) return null;
      baseline = b;
    }
    return { manifest: m, loaded: { hash, view: fileView(m, baseline) } };
  }

  /** The check-in's mlink set, or null when the check-in itself cannot be loaded. */
  async mlinks(hash: string): Promise<MlinkSet | null> {
    const c = await this.get(hash);
    if (c === null) return null;
    return mlinkSet(c.loaded, c.manifest.cards.parents ?? [], async (p) => (await this.get(p))?.loaded ?? null);
  }
}

function tagAssertions(hash: string, tags: readonly TagCard[] | undefined, mtime: number): TagAssertion[] {
  return (tags ?? []).map((t) => ({
    src: hash,
    target: t.target === '*' ? hash : t.target,
    name: t.name,
    type: t.op === '-' ? 0 : t.op === '+' ? 1 : 2,
    value: t.value ?? null,
    mtime,
  }));
}

// fossil strips leading whitespace and counts up to a NUL (a C string).
function wikiLength(text: Uint8Array | undefined): number {
  if (text === undefined) return 0;
  let start = 0;
  while (start < text.length && isSpace(text[start])) start++;
  const nul = text.indexOf(0, start);
  return (nul < 0 ? text.length : nul) - start;
}

function isSpace(b: number): boolean {
  return b === 0x20 || (b >= 0x09 && b <= 0x0d);
}

/**
 * The rows artifact `hash` contributes. `artifact` is its parse (the caller has
 * checked that `hash` names its bytes). Reads the manifests it depends on
 * through `source`; call it after the artifact is stored and after the rows of
 * earlier artifacts are applied, so `source` sees them.
 */
export async function crosslink(hash: string, artifact: Artifact, source: ArtifactSource): Promise<CrosslinkRows> {
  source.seen?.(hash, artifact);
  const c = artifact.cards;
  const date = c.date === undefined ? null : julianDay(c.date);
  const mtime = date ?? 0;
  const out: CrosslinkRows = { hash, type: artifact.type, event: null, plinks: [], mlinks: [], tags: [] };
  const eventType = EVENT_TYPE[artifact.type];
  const event = (over: Partial<EventRow> = {}): EventRow => ({
    objid: hash,
    type: eventType ?? 'ci',
    mtime,
    user: c.user ?? null,
    comment: c.comment ?? null,
    tag: null,
    omtime: mtime,
    ...over,
  });

  // fossil 2.21 links a wiki page, technote or forum post to the versions it edits, too.
  const versionLinks = (): PlinkRow[] => (c.parents ?? []).map((pid, i) => ({ pid, cid: hash, isprim: i === 0, mtime, baseid: null }));
  switch (artifact.type) {
    case 'manifest': {
      out.event = event();
      out.plinks = (c.parents ?? []).map((pid, i) => ({ pid, cid: hash, isprim: i === 0, mtime, baseid: c.baseline ?? null }));
      out.tags = tagAssertions(hash, c.tags, mtime);
      break;
    }
    case 'control':
      out.event = event({ comment: controlComment(artifact), user: c.user ?? null });
      out.tags = tagAssertions(hash, c.tags, mtime);
      break;
    case 'wiki': {
      const title = c.title ?? '';
      const len = wikiLength(c.wiki);
      // fossil 2.21: "-" deleted (empty), "+" first version, ":" an edit. fossil asks
      // whether an older version is already crosslinked; the P card says the same
      // thing without depending on arrival order.
      const mark = len <= 0 ? '-' : c.parents === undefined || c.parents.length === 0 ? '+' : ':';
      out.event = event({ comment: `${mark}${title}` });
      out.plinks = versionLinks();
      out.tags = [{ src: hash, target: hash, name: `wiki-${title}`, type: 1, value: String(len), mtime }];
      break;
    }
    case 'technote': {
      const tag = `event-${c.technote?.id ?? ''}`;
      const at = c.technote === undefined ? null : julianDay(c.technote.time);
      out.event = event({ mtime: at ?? mtime, tag });
      out.plinks = versionLinks();
      out.tags = [
        { src: hash, target: hash, name: tag, type: 1, value: String(wikiLength(c.wiki)), mtime },
        ...tagAssertions(hash, c.tags, mtime),
      ];
      break;
    }
    case 'ticket': {
      const tag = `tkt-${c.ticket ?? ''}`;
      out.event = event({ comment: `Ticket change [${c.ticket ?? ''}]`, tag });
      out.tags = [{ src: hash, target: hash, name: tag, type: 1, value: null, mtime }];
      break;
    }
    case 'forum':
      out.event = event({ comment: c.threadTitle !== undefined ? `Post: ${c.threadTitle}` : 'Reply', tag: null });
      out.plinks = versionLinks();
      break;
    case 'attachment':
    case 'cluster':
      break;
  }

  if (artifact.type === 'manifest') {
    // This check-in, its known children (this is their parent), and the delta
    // manifests built on it with their children (this is their baseline).
    const loader = new CheckinLoader(source, hash, artifact);
    const targets = new Set<string>([hash, ...(await source.children(hash))]);
    for (const d of await source.deltaManifests(hash)) {
      targets.add(d);
      for (const k of await source.children(d)) targets.add(k);
    }
    for (const mid of targets) {
      const set = await loader.mlinks(mid);
      if (set !== null) out.mlinks.push(set);
    }
  }
  return out;
}

// fossil's %S and %!S: hash prefixes of the default hash-digits settings (10 shown, 16 in links).
const HASH_DIGITS = 10;
const HASH_DIGITS_URL = 16;

/** The event comment fossil composes for a control artifact (manifest_crosslink, CFTYPE_CONTROL). */
export function controlComment(artifact: Artifact): string {
  const c = artifact.cards;
  let out = c.comment !== undefined ? ` ${c.comment}.` : '';
  // fossil sorts the tags by target hash (tag_compare) before composing.
  const tags = [...(c.tags ?? [])].sort((a, b) => (a.target < b.target ? -1 : a.target > b.target ? 1 : 0));
  let branchMove = false;
  let prev: string | null = null;
  for (const t of tags) {
    if (t.target === '*') continue;
    if (t.target !== prev) {
      out += ` Edit [${t.target.slice(0, HASH_DIGITS_URL)}|${t.target.slice(0, HASH_DIGITS)}]:`;
      branchMove = false;
      prev = t.target;
    }
    const name = t.op + t.name;
    const value = t.value ?? '';
    if (name === '*branch') {
      out += ` Move to branch [/timeline?r=${html(value)}&nd&dp=${t.target.slice(0, HASH_DIGITS_URL)}&unhide | ${html(value)}].`;
      branchMove = true;
      continue;
    } else if (name === '*bgcolor') {
      out += ` Change branch background color to "${html(value)}".`;
      continue;
    } else if (name === '+bgcolor') {
      out += ` Change background color to "${html(value)}".`;
      continue;
    } else if (name === '-bgcolor') {
      out += ' Cancel background color';
    } else if (name === '+comment') {
      out += ' Edit check-in comment.';
      continue;
    } else if (name === '+user') {
      out += ` Change user to "${html(value)}".`;
      continue;
    } else if (name === '+date') {
      out += ` Timestamp ${html(value)}.`;
      continue;
    } else if (name.startsWith('-sym-')) {
      if (branchMove) continue;
      out += ` Cancel tag "${html(name.slice(5))}"`;
    } else if (name.startsWith('*sym-')) {
      if (branchMove) continue;
      out += ` Add propagating tag "${html(name.slice(5))}"`;
    } else if (name.startsWith('+sym-')) {
      out += ` Add tag "${html(name.slice(5))}"`;
    } else if (name === '+closed') {
      out += ' Mark "Closed"';
    } else if (name === '-closed') {
      out += ' Remove the "Closed" mark';
    } else {
      const what = t.op === '-' ? 'Cancel' : t.op === '+' ? 'Add' : 'Add propagating';
      out += ` ${what} "${html(t.name)}"`;
      out += value !== '' ? ` with value "${html(value)}".` : '.';
      continue;
    }
    out += value !== '' ? ` with note "${html(value)}".` : '.';
  }
  return out === '' ? '' : out.slice(1);
}

// fossil's %h: HTML-escape.
function html(s: string): string {
  return s.replace(/[&<>"']/g, (ch) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[ch] ?? ch);
}
