/**
 * CrosslinkTables in memory: fossil's rebuildable tables as maps, for tests,
 * small runtimes and the in-memory store. Also an ArtifactSource over them
 * (plink children and baselines) given a way to read artifacts.
 */
import type { Artifact } from './artifact.js';
import type { CrosslinkTables, StoredEvent, TagxrefRow } from './crosslink-apply.js';
import type { ArtifactSource, MlinkRow, MlinkSet, PlinkRow } from './crosslink.js';

/** fossil's event, plink, mlink, tagxref and leaf tables as maps keyed by artifact hash. */
export class MemoryCrosslinkTables implements CrosslinkTables {
  readonly events = new Map<string, StoredEvent>();
  /** By child, in insertion order. */
  private readonly plinkByChild = new Map<string, PlinkRow[]>();
  private readonly plinkByParent = new Map<string, PlinkRow[]>();
  readonly mlinks = new Map<string, MlinkRow[]>();
  /** rid -> tag -> row */
  private readonly tags = new Map<string, Map<string, TagxrefRow>>();
  readonly leaves = new Set<string>();

  event(objid: string): StoredEvent | undefined {
    return this.events.get(objid);
  }
  putEvent(row: StoredEvent): void {
    this.events.set(row.objid, { ...row });
  }
  deleteEvent(objid: string): void {
    this.events.delete(objid);
  }
  eventsWithTag(tag: string): StoredEvent[] {
    return [...this.events.values()].filter((e) => e.tag === tag);
  }
  putPlink(row: PlinkRow): void {
    const byChild = this.plinkByChild.get(row.cid) ?? [];
    if (byChild.some((p) => p.pid === row.pid)) return;
    byChild.push({ ...row });
    this.plinkByChild.set(row.cid, byChild);
    const byParent = this.plinkByParent.get(row.pid) ?? [];
    byParent.push({ ...row });
    this.plinkByParent.set(row.pid, byParent);
  }
  children(rid: string): { cid: string; isprim: boolean }[] {
    return (this.plinkByParent.get(rid) ?? []).map((p) => ({ cid: p.cid, isprim: p.isprim }));
  }
  parents(rid: string): { pid: string; isprim: boolean }[] {
    return (this.plinkByChild.get(rid) ?? []).map((p) => ({ pid: p.pid, isprim: p.isprim }));
  }
  replaceMlinks(set: MlinkSet): void {
    this.mlinks.set(set.mid, set.rows.map((r) => ({ ...r })));
  }
  tagxref(rid: string, tag: string): TagxrefRow | undefined {
    return this.tags.get(rid)?.get(tag);
  }
  tagxrefsAt(rid: string): TagxrefRow[] {
    return [...(this.tags.get(rid)?.values() ?? [])];
  }
  setTagxref(row: TagxrefRow): void {
    let m = this.tags.get(row.rid);
    if (m === undefined) this.tags.set(row.rid, (m = new Map()));
    m.set(row.tag, { ...row });
  }
  deleteTagxref(rid: string, tag: string): void {
    this.tags.get(rid)?.delete(tag);
  }
  setLeaf(rid: string, leaf: boolean): void {
    if (leaf) this.leaves.add(rid);
    else this.leaves.delete(rid);
  }

  /** Every plink row. */
  plinks(): PlinkRow[] {
    return [...this.plinkByChild.values()].flat();
  }
  /** Every tagxref row. */
  tagxrefs(): TagxrefRow[] {
    return [...this.tags.values()].flatMap((m) => [...m.values()]);
  }

  /** An ArtifactSource reading artifacts through `load` and links from these tables. */
  source(load: (hash: string) => Promise<Artifact | null>): ArtifactSource {
    return {
      manifest: load,
      children: async (hash) => this.children(hash).map((c) => c.cid),
      deltaManifests: async (hash) =>
        [...this.plinkByChild.values()].flatMap((rows) => (rows[0]?.baseid === hash ? [rows[0].cid] : [])),
    };
  }
}
