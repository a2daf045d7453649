/**
 * In-memory FossilStore: plain maps, for tests and small runtimes. Every
 * method decides and writes without awaiting in between, so each call is
 * atomic; commit validates the whole batch before changing anything.
 */
import { InvalidRowError } from './errors.js';
import {
  checkConfigRow,
  checkFossilRow,
  checkPendingDelta,
  checkRecordSwap,
  checkUnversionedEntry,
  type ArtifactHash,
  type ArtifactState,
  type ConfigEntry,
  type FossilCommit,
  type FossilBelow,
  type FossilCommitResult,
  type FossilConfigRow,
  type FossilConfigRows,
  type FossilRecordMove,
  type FossilRecordSwap,
  type FossilRow,
  type FossilStore,
  type PendingDelta,
  type UnversionedEntry,
} from './fossil.js';
import { checkObjectId, compareCodePoints } from './ids.js';
import { ChainTooDeepError } from './errors.js';
import { MAX_CHAIN_DEPTH, MAX_CHAIN_ROWS, planRows, type IndexRowInput } from './object-index.js';

const copyRow = (r: FossilRow): FossilRow => ({ ...r });

/** One Fossil repository's index and tables in memory. */
export class MemoryFossilStore implements FossilStore {
  private readonly byHash = new Map<ArtifactHash, FossilRow>();
  /** Rows in seq order (seq is assigned increasing, so appending keeps it sorted). */
  private readonly bySeq: FossilRow[] = [];
  private nextSeq = 1;
  /** Phantom hashes and whether each is private. */
  private readonly phantoms = new Map<ArtifactHash, boolean>();
  private readonly pending = new Map<ArtifactHash, PendingDelta>();
  private readonly unclustered = new Set<ArtifactHash>();
  private readonly shunned = new Set<ArtifactHash>();
  private readonly config = new Map<string, ConfigEntry>();
  private readonly uv = new Map<string, UnversionedEntry>();
  /** Configuration rows by table, then key. */
  private readonly cfgRows = new Map<string, Map<string, FossilConfigRow>>();

  readonly configRows: FossilConfigRows = {
    list: async (table, limit) => {
      const rows = [...(this.cfgRows.get(table)?.values() ?? [])].sort((a, b) => compareCodePoints(a.key, b.key));
      return rows.slice(0, Math.max(0, Math.floor(limit))).map((r) => ({ ...r }));
    },
    put: async (rows) => {
      for (const r of rows) checkConfigRow(r);
      for (const r of rows) {
        let t = this.cfgRows.get(r.table);
        if (!t) this.cfgRows.set(r.table, (t = new Map()));
        const old = t.get(r.key);
        if (!old || old.mtime < r.mtime) t.set(r.key, { ...r });
      }
    },
    listShunned: async (limit) => [...this.shunned].sort().slice(0, Math.max(0, Math.floor(limit))),
  };

  async states(hashes: ArtifactHash[]): Promise<ArtifactState[]> {
    return hashes.map((h) => {
      checkObjectId(h);
      if (this.shunned.has(h)) return 'shunned';
      const row = this.byHash.get(h);
      if (row) return row.private ? 'private' : 'public';
      if (this.pending.has(h)) return 'pending';
      const phantom = this.phantoms.get(h);
      return phantom === undefined ? 'unknown' : phantom ? 'private-phantom' : 'phantom';
    });
  }

  async rows(hashes: ArtifactHash[]): Promise<(FossilRow | null)[]> {
    return hashes.map((h) => {
      const r = this.byHash.get(h);
      return r ? copyRow(r) : null;
    });
  }

  async chain(hash: ArtifactHash): Promise<FossilRow[]> {
    checkObjectId(hash);
    const out: FossilRow[] = [];
    for (let r = this.byHash.get(hash); r && out.length < MAX_CHAIN_ROWS; r = r.base === null ? undefined : this.byHash.get(r.base)) {
      out.push(copyRow(r));
    }
    return out;
  }

  async listFrom(fromSeq: number, limit: number): Promise<FossilRow[]> {
    // Binary search for the first seq >= fromSeq.
    let lo = 0;
    let hi = this.bySeq.length;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (this.bySeq[mid].seq < fromSeq) lo = mid + 1;
      else hi = mid;
    }
    const out: FossilRow[] = [];
    for (let i = lo; i < this.bySeq.length && out.length < limit; i++) {
      const r = this.bySeq[i];
      if (!this.shunned.has(r.hash)) out.push(copyRow(r));
    }
    return out;
  }

  async count(): Promise<number> {
    return this.byHash.size;
  }

  async listUnclustered(limit: number, after = ''): Promise<ArtifactHash[]> {
    return [...this.unclustered].filter((h) => h > after).sort().slice(0, Math.max(0, limit));
  }

  async listPrivate(limit: number, after = ''): Promise<ArtifactHash[]> {
    return this.bySeq.filter((r) => r.private && r.hash > after).map((r) => r.hash).sort().slice(0, Math.max(0, limit));
  }

  async listPhantoms(limit: number, from = '', withPrivate = false): Promise<ArtifactHash[]> {
    const all = [...this.phantoms].filter(([, priv]) => withPrivate || !priv).map(([h]) => h).sort();
    const at = all.findIndex((h) => h >= from);
    const wrapped = at < 0 ? all : [...all.slice(at), ...all.slice(0, at)];
    return wrapped.slice(0, Math.max(0, limit));
  }

  async pendingByBase(bases: ArtifactHash[]): Promise<PendingDelta[]> {
    const want = new Set(bases);
    return [...this.pending.values()].filter((p) => want.has(p.base)).map((p) => ({ ...p }));
  }

  async getConfig(names: string[]): Promise<(ConfigEntry | null)[]> {
    return names.map((n) => {
      const e = this.config.get(n);
      return e ? { ...e } : null;
    });
  }

  async listUnversioned(): Promise<UnversionedEntry[]> {
    return [...this.uv.values()].sort((a, b) => compareCodePoints(a.name, b.name)).map(copyUv);
  }

  async getUnversioned(name: string): Promise<UnversionedEntry | null> {
    const e = this.uv.get(name);
    return e ? copyUv(e) : null;
  }

  async setShunned(hashes: ArtifactHash[], on: boolean): Promise<void> {
    for (const h of hashes) checkObjectId(h);
    for (const h of hashes) {
      if (on) this.shunned.add(h);
      else this.shunned.delete(h);
    }
  }

  async heights(hashes: ArtifactHash[], detached: readonly ArtifactHash[] = []): Promise<number[]> {
    const cut = new Set(detached);
    const children = new Map<ArtifactHash, ArtifactHash[]>();
    for (const r of this.byHash.values()) if (r.base !== null && !cut.has(r.hash)) children.set(r.base, [...(children.get(r.base) ?? []), r.hash]);
    return hashes.map((h) => {
      const top = this.byHash.get(h);
      if (!top) return 0;
      let max = top.depth;
      for (let level = [h]; level.length > 0; ) {
        level = level.flatMap((x) => children.get(x) ?? []);
        for (const x of level) max = Math.max(max, this.byHash.get(x)!.depth);
      }
      return max - top.depth;
    });
  }

  async below(hash: ArtifactHash, detached: readonly ArtifactHash[] = []): Promise<FossilBelow[]> {
    const cut = new Set(detached);
    const out: FossilBelow[] = [];
    let level: ArtifactHash[] = [hash];
    for (let n = 1; n <= MAX_CHAIN_ROWS && level.length > 0; n++) {
      const next = new Set(level);
      level = [];
      for (const r of this.byHash.values()) {
        if (r.base === null || !next.has(r.base) || cut.has(r.hash)) continue;
        out.push({ hash: r.hash, base: r.base, level: n });
        level.push(r.hash);
      }
    }
    return out;
  }

  async relocate(moves: FossilRecordMove[]): Promise<number> {
    const at = moves.map((m) => {
      const row = this.byHash.get(m.hash);
      if (!row || row.segment !== m.from.segment || row.offset !== m.from.offset) return null;
      if (row.length !== m.length) throw new InvalidRowError('invalid-row', `move ${m.hash}: length ${m.length} is not the record's ${row.length}`, { id: m.hash, why: 'length' });
      return row;
    });
    at.forEach((row, i) => row && Object.assign(row, { segment: moves[i].segment, offset: moves[i].offset }));
    return at.filter((r) => r !== null).length;
  }

  async repoint(swaps: FossilRecordSwap[]): Promise<void> {
    // Validate on the proposed bases, then recompute every depth (small stores: O(rows)).
    const base = new Map<ArtifactHash, ArtifactHash | null>();
    for (const sw of swaps) {
      checkRecordSwap(sw);
      const row = this.byHash.get(sw.hash);
      const bad = (why: string) => new InvalidRowError('invalid-row', `swap ${sw.hash}: ${why}`, { id: sw.hash, why });
      if (!row) throw bad('not stored');
      if (sw.format === 'full' && sw.recordSize !== row.size) throw bad('a full record inflates to the artifact size');
      if (sw.base !== null && !this.byHash.has(sw.base)) throw bad('base not stored');
      base.set(sw.hash, sw.base);
    }
    const depth = new Map<ArtifactHash, number>();
    const depthOf = (h: ArtifactHash): number => {
      const path: ArtifactHash[] = [];
      let d = 0;
      for (let x: ArtifactHash | null = h; x !== null; x = base.has(x) ? base.get(x)! : this.byHash.get(x)!.base) {
        const known = depth.get(x);
        if (known !== undefined) {
          d = known + 1;
          break;
        }
        if (path.length > MAX_CHAIN_DEPTH) throw new ChainTooDeepError('chain-too-deep', `delta chain of ${h} is too deep or a cycle`, { id: h, max: MAX_CHAIN_DEPTH });
        path.push(x);
      }
      for (let i = path.length - 1; i >= 0; i--) depth.set(path[i], d++);
      if (d - 1 > MAX_CHAIN_DEPTH) throw new ChainTooDeepError('chain-too-deep', `delta chain of ${h} would be ${d - 1} deep`, { id: h, max: MAX_CHAIN_DEPTH });
      return depth.get(h)!;
    };
    for (const h of this.byHash.keys()) depthOf(h);
    for (const sw of swaps) Object.assign(this.byHash.get(sw.hash)!, { ...sw });
    for (const r of this.byHash.values()) r.depth = depth.get(r.hash)!;
  }

  async commit(batch: FossilCommit): Promise<FossilCommitResult> {
    // Validate everything first: nothing below may throw once writing starts.
    const rows = batch.rows ?? [];
    for (const r of rows) {
      checkFossilRow(r);
      if (this.shunned.has(r.hash)) throw new InvalidRowError('invalid-row', `row ${r.hash} is shunned`, { id: r.hash, why: 'shunned' });
    }
    const asIndex: IndexRowInput[] = rows.map((r) => ({ ...r, id: r.hash, kind: 'artifact' }));
    const planned = planRows(asIndex, (id) => this.byHash.get(id)?.depth ?? null);
    const depthOf = new Map(planned.map((p) => [p.id, p.depth]));
    for (const h of [...(batch.phantoms ?? []), ...(batch.privatePhantoms ?? [])]) checkObjectId(h);
    for (const p of batch.pendingAdd ?? []) checkPendingDelta(p);
    for (const h of [...(batch.pendingRemove ?? []), ...(batch.unclusteredAdd ?? []), ...(batch.unclusteredRemove ?? []), ...(batch.publish ?? [])]) checkObjectId(h);
    for (const e of batch.unversioned ?? []) checkUnversionedEntry(e);
    for (const c of batch.config ?? []) {
      if (typeof c.name !== 'string' || c.name.length === 0 || typeof c.value !== 'string' || !Number.isSafeInteger(c.mtime)) {
        throw new InvalidRowError('invalid-row', 'bad config entry', { why: 'config' });
      }
    }

    const inserted: FossilRow[] = [];
    const seen = new Set<ArtifactHash>();
    for (const r of rows) {
      if (this.byHash.has(r.hash) || seen.has(r.hash)) continue;
      seen.add(r.hash);
      const row: FossilRow = { ...r, seq: this.nextSeq++, depth: depthOf.get(r.hash)! };
      this.byHash.set(r.hash, row);
      this.bySeq.push(row);
      this.phantoms.delete(r.hash);
      this.pending.delete(r.hash);
      inserted.push(copyRow(row));
    }
    const absent = (h: ArtifactHash) => !this.byHash.has(h) && !this.pending.has(h) && !this.shunned.has(h);
    for (const h of batch.privatePhantoms ?? []) if (absent(h) && !this.phantoms.has(h)) this.phantoms.set(h, true);
    for (const h of batch.phantoms ?? []) if (absent(h)) this.phantoms.set(h, false);
    for (const h of batch.pendingRemove ?? []) this.pending.delete(h);
    for (const p of batch.pendingAdd ?? []) {
      if (!this.byHash.has(p.hash)) {
        this.pending.set(p.hash, { ...p });
        this.phantoms.delete(p.hash);
      }
    }
    for (const h of batch.unclusteredRemove ?? []) this.unclustered.delete(h);
    for (const h of batch.unclusteredAdd ?? []) if (this.byHash.has(h)) this.unclustered.add(h);
    for (const h of batch.publish ?? []) {
      const row = this.byHash.get(h);
      if (row?.private) {
        row.private = false;
        this.unclustered.add(h);
      }
    }
    for (const e of batch.unversioned ?? []) this.uv.set(e.name, copyUv(e));
    for (const c of batch.config ?? []) this.config.set(c.name, { ...c });
    return { inserted };
  }
}

function copyUv(e: UnversionedEntry): UnversionedEntry {
  return { ...e, record: e.record ? { ...e.record } : null };
}
