/**
 * Applying crosslink rows (crosslink.ts) to fossil's rebuildable tables, over a
 * small synchronous store (CrosslinkTables): the SQLite one in the Durable
 * Object (worker/durable/fossil-tables.ts) and MemoryCrosslinkTables
 * (crosslink-memory.ts). The algorithm lives here once; stores only read and
 * write rows.
 *
 * tagxref, order-independently. fossil's tag_insert and tag_propagate give,
 * when artifacts arrive in time order, this fixed point, which is what we keep
 * whatever the arrival order:
 *
 * - A target's direct row (src set) is the newest assertion on it for that tag
 *   (ties: the higher type, then the smaller src hash, as fossil's card order
 *   would). A direct row always wins over a propagated one.
 * - Otherwise a check-in carries a propagated copy (type 2, src null, the
 *   origin's orig/value/mtime) exactly when its primary parent's row has type
 *   2; else no row. Cancels and singletons therefore stop propagation.
 *
 * When a direct row changes, or a primary plink edge appears, the rows below
 * are recomputed down primary-child edges until nothing changes; the cost is
 * the number of rows that change, so natural order is linear.
 *
 * Leaves (leaf.c): a crosslinked check-in none of whose children (any plink)
 * is on its branch (`branch` tag value, 'trunk' when absent). Rechecked for new
 * check-ins, their parents, and check-ins whose branch row changed and their
 * parents. Event columns overridden by tags (user, comment, bgcolor, date) are
 * refreshed for new events and for rows whose such tag changed.
 */
import { type CrosslinkRows, type EventRow, julianDay, type MlinkSet, type PlinkRow, type TagAssertion, type TagType } from './crosslink.js';

/** A tagxref row: tag `tag` on artifact `rid`. */
export interface TagxrefRow {
  tag: string;
  rid: string;
  type: TagType;
  /** The artifact whose T card set it; null for a propagated row. */
  src: string | null;
  /** The artifact the tag was set on directly (rid itself for a direct row). */
  orig: string;
  value: string | null;
  mtime: number;
}

/** An event row with the columns tags override (fossil's euser, ecomment, bgcolor; mtime from `date`). */
export interface StoredEvent extends EventRow {
  euser: string | null;
  ecomment: string | null;
  bgcolor: string | null;
}

/** The store applyCrosslinkRows reads and writes. Synchronous: DO SQLite is. */
export interface CrosslinkTables {
  event(objid: string): StoredEvent | undefined;
  /** Insert or replace by objid. */
  putEvent(row: StoredEvent): void;
  deleteEvent(objid: string): void;
  /** Events whose `tag` is `tag` (technote versions). */
  eventsWithTag(tag: string): StoredEvent[];
  /** Insert unless the (pid, cid) edge exists. */
  putPlink(row: PlinkRow): void;
  /** Check-ins naming `rid` as a parent, with whether it is their primary parent. */
  children(rid: string): { cid: string; isprim: boolean }[];
  parents(rid: string): { pid: string; isprim: boolean }[];
  /** Replace every mlink row of set.mid. */
  replaceMlinks(set: MlinkSet): void;
  tagxref(rid: string, tag: string): TagxrefRow | undefined;
  tagxrefsAt(rid: string): TagxrefRow[];
  setTagxref(row: TagxrefRow): void;
  deleteTagxref(rid: string, tag: string): void;
  setLeaf(rid: string, leaf: boolean): void;
}

const EVENT_TAGS = new Set(['user', 'comment', 'bgcolor', 'date']);

/** Apply one artifact's rows (and everything they imply) to `t`. */
export function applyCrosslinkRows(t: CrosslinkTables, rows: CrosslinkRows): void {
  const touched = new Set<string>(); // rids whose event-affecting tags changed
  const leafCheck = new Set<string>();
  const tracked: CrosslinkTables = trackChanges(t, (rid, tag) => {
    if (EVENT_TAGS.has(tag)) touched.add(rid);
    if (tag === 'branch') {
      leafCheck.add(rid);
      for (const p of t.parents(rid)) leafCheck.add(p.pid);
    }
  });

  if (rows.event !== null) putEvent(tracked, rows.event);
  for (const p of rows.plinks) tracked.putPlink(p);
  for (const set of rows.mlinks) tracked.replaceMlinks(set);
  for (const a of rows.tags) assertTag(tracked, a);
  // The new check-in inherits what its primary parent propagates.
  for (const p of rows.plinks) {
    if (!p.isprim) continue;
    const tags = new Set([...t.tagxrefsAt(p.pid), ...t.tagxrefsAt(p.cid)].map((r) => r.tag));
    for (const tag of tags) relink(tracked, p.cid, tag);
  }
  if (rows.event?.type === 'ci') {
    leafCheck.add(rows.hash);
    for (const p of rows.plinks) leafCheck.add(p.pid);
  }
  if (rows.event !== null) touched.add(rows.hash);
  for (const rid of touched) refreshEvent(t, rid);
  for (const rid of leafCheck) t.setLeaf(rid, isLeaf(t, rid));
}

// Technotes: only the newest version (by D card time) of an id has an event.
function putEvent(t: CrosslinkTables, e: EventRow): void {
  const row: StoredEvent = { ...e, euser: null, ecomment: null, bgcolor: null };
  if (e.type !== 'e' || e.tag === null) {
    t.putEvent(row);
    return;
  }
  const versions = [...t.eventsWithTag(e.tag).filter((v) => v.type === 'e' && v.objid !== e.objid), row];
  versions.sort((a, b) => b.omtime - a.omtime || (a.objid < b.objid ? -1 : 1));
  const [newest, ...older] = versions;
  for (const v of older) t.deleteEvent(v.objid);
  if (newest === row) t.putEvent(row);
}

/** True when assertion `a` beats direct row `r` (newer; on a tie higher type, then smaller src). */
function beats(a: TagAssertion, r: TagxrefRow): boolean {
  if (a.mtime !== r.mtime) return a.mtime > r.mtime;
  if (a.type !== r.type) return a.type > r.type;
  return r.src === null || a.src < r.src;
}

function assertTag(t: CrosslinkTables, a: TagAssertion): void {
  const cur = t.tagxref(a.target, a.name);
  if (cur !== undefined && cur.src !== null && !beats(a, cur)) return;
  t.setTagxref({ tag: a.name, rid: a.target, type: a.type, src: a.src, orig: a.target, value: a.value, mtime: a.mtime });
  propagateBelow(t, a.target, a.name);
}

function sameRow(a: TagxrefRow | undefined, b: TagxrefRow | undefined): boolean {
  if (a === undefined || b === undefined) return a === b;
  return a.type === b.type && a.src === b.src && a.orig === b.orig && a.value === b.value && a.mtime === b.mtime;
}

/** Bring `rid`'s propagated row for `tag` in line with its primary parent; true if it changed. */
function relinkOne(t: CrosslinkTables, rid: string, tag: string): boolean {
  const cur = t.tagxref(rid, tag);
  if (cur !== undefined && cur.src !== null) return false; // direct rows win
  const parent = t.parents(rid).find((p) => p.isprim)?.pid;
  const prow = parent === undefined ? undefined : t.tagxref(parent, tag);
  const want: TagxrefRow | undefined =
    prow !== undefined && prow.type === 2
      ? { tag, rid, type: 2, src: null, orig: prow.orig, value: prow.value, mtime: prow.mtime }
      : undefined;
  if (sameRow(cur, want)) return false;
  if (want === undefined) t.deleteTagxref(rid, tag);
  else t.setTagxref(want);
  return true;
}

function relink(t: CrosslinkTables, rid: string, tag: string): void {
  if (relinkOne(t, rid, tag)) propagateBelow(t, rid, tag);
}

// Iterative: a chain of primary children can be as long as the history.
function propagateBelow(t: CrosslinkTables, rid: string, tag: string): void {
  const stack = [rid];
  while (stack.length > 0) {
    const p = stack.pop() as string;
    for (const c of t.children(p)) {
      if (c.isprim && relinkOne(t, c.cid, tag)) stack.push(c.cid);
    }
  }
}

/** The branch of a check-in for leaf purposes (leaf.c: any branch row's value, else 'trunk'). */
function branchOf(t: CrosslinkTables, rid: string): string {
  return t.tagxref(rid, 'branch')?.value ?? 'trunk';
}

function isLeaf(t: CrosslinkTables, rid: string): boolean {
  if (t.event(rid)?.type !== 'ci') return false;
  const b = branchOf(t, rid);
  return !t.children(rid).some((c) => branchOf(t, c.cid) === b);
}

// Fill the tag-overridden columns the way fossil's event insert and tag_insert do.
function refreshEvent(t: CrosslinkTables, rid: string): void {
  const e = t.event(rid);
  if (e === undefined) return;
  const bg = t.tagxref(rid, 'bgcolor');
  const date = t.tagxref(rid, 'date');
  const at = e.type === 'ci' && date?.value != null ? julianDay(date.value) : null;
  const next: StoredEvent = {
    ...e,
    euser: t.tagxref(rid, 'user')?.value ?? null,
    ecomment: t.tagxref(rid, 'comment')?.value ?? null,
    bgcolor: bg !== undefined && bg.type > 0 ? bg.value : null,
    mtime: e.type === 'ci' ? (at ?? e.omtime) : e.mtime,
  };
  if (next.euser !== e.euser || next.ecomment !== e.ecomment || next.bgcolor !== e.bgcolor || next.mtime !== e.mtime) {
    t.putEvent(next);
  }
}

function trackChanges(t: CrosslinkTables, changed: (rid: string, tag: string) => void): CrosslinkTables {
  return {
    event: (o) => t.event(o),
    putEvent: (r) => t.putEvent(r),
    deleteEvent: (o) => t.deleteEvent(o),
    eventsWithTag: (tag) => t.eventsWithTag(tag),
    putPlink: (r) => t.putPlink(r),
    children: (r) => t.children(r),
    parents: (r) => t.parents(r),
    replaceMlinks: (s) => t.replaceMlinks(s),
    tagxref: (r, tag) => t.tagxref(r, tag),
    tagxrefsAt: (r) => t.tagxrefsAt(r),
    setTagxref: (row) => {
      t.setTagxref(row);
      changed(row.rid, row.tag);
    },
    deleteTagxref: (r, tag) => {
      t.deleteTagxref(r, tag);
      changed(r, tag);
    },
    setLeaf: (r, l) => t.setLeaf(r, l),
  };
}
