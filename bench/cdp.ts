/**
 * Profiling workerd (`wrangler dev --inspector-port`) from the bench scripts:
 * a minimal Chrome DevTools Protocol session, and summaries of the CPU and
 * sampling heap profiles it returns (by self time / self bytes per function).
 *
 * Uses the `ws` package (installed with wrangler; untyped here): Node's
 * built-in WebSocket is refused by wrangler's inspector proxy.
 */

interface WsLike {
  on(ev: 'message', f: (d: unknown) => void): void;
  once(ev: string, f: (e?: unknown) => void): void;
  send(s: string): void;
  close(): void;
}

export interface CdpSession {
  /** The inspector target's title (workerd lists one target per service). */
  title: string;
  send<T = unknown>(method: string, params?: object): Promise<T>;
  close(): void;
}

export interface InspectorTarget {
  webSocketDebuggerUrl: string;
  title?: string;
}

/** The inspector's targets (`/json`). */
export async function inspectorTargets(port: number): Promise<InspectorTarget[]> {
  return (await (await fetch(`http://127.0.0.1:${port}/json`)).json()) as InspectorTarget[];
}

/** A CDP session on each inspector target, or on the first `limit` of them. */
export async function cdpSessions(port: number, limit = Infinity): Promise<CdpSession[]> {
  const { default: WebSocket } = (await import('ws' as string)) as { default: new (url: string, opts?: object) => WsLike };
  const out: CdpSession[] = [];
  for (const t of (await inspectorTargets(port)).slice(0, limit)) {
    const ws = new WebSocket(t.webSocketDebuggerUrl, { maxPayload: 2 ** 31 });
    await new Promise((r, j) => (ws.once('open', r), ws.once('error', j)));
    let next = 1;
    const waiting = new Map<number, (m: { result?: unknown; error?: unknown }) => void>();
    ws.on('message', (d) => {
      const m = JSON.parse(String(d));
      if (m.id && waiting.has(m.id)) (waiting.get(m.id)!(m), waiting.delete(m.id));
    });
    out.push({
      title: t.title ?? '?',
      send<T>(method: string, params: object = {}) {
        const id = next++;
        ws.send(JSON.stringify({ id, method, params }));
        return new Promise<T>((resolve, reject) =>
          waiting.set(id, (m) => (m.error ? reject(new Error(`${method}: ${JSON.stringify(m.error)}`)) : resolve(m.result as T))),
        );
      },
      close: () => ws.close(),
    });
  }
  if (out.length === 0) throw new Error(`no inspector targets on port ${port}`);
  return out;
}

/**
 * A session on the Worker's own isolate (miniflare names its service `core:user:NAME`; the
 * Worker and its Durable Objects run there), not on miniflare's R2/D1/cache simulators beside it.
 */
export async function workerSession(port: number): Promise<CdpSession> {
  const all = await cdpSessions(port);
  const mine = all.find((s) => s.title.includes('core:user:') && !s.title.includes('core:user:r2probe')); // not scripts/dev.mjs --r2-probe's
  for (const s of all) if (s !== mine) s.close();
  if (!mine) throw new Error(`no core:user: target on inspector port ${port}`);
  return mine;
}

export interface ProfileNode {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
  children?: ProfileNode[];
  selfSize?: number;
}
/** What Profiler.stop returns (as `profile`). */
export interface CpuProfile {
  nodes: ProfileNode[];
  samples: number[];
  timeDeltas: number[];
}
/** What HeapProfiler.getSamplingProfile / stopSampling return (as `profile`): a call tree with self bytes. */
export interface HeapProfile {
  head: ProfileNode;
}

const frameName = (n: ProfileNode) => `${n.callFrame.functionName || '(anon)'} ${n.callFrame.url.split('/').pop()}:${n.callFrame.lineNumber + 1}`;

function table(byName: Map<string, number>, top: number, row: (v: number) => string): string[] {
  return [...byName]
    .sort((a, b) => b[1] - a[1])
    .slice(0, top)
    .map(([k, v]) => `${row(v)}  ${k}`);
}

/**
 * Sampled self time per function (name file:line), summed over `profiles`
 * (e.g. one per measured round), the `top` largest. With `busyOnly` the
 * (idle) node is left out of the rows and of the total.
 */
export function summariseCpu(profiles: CpuProfile | CpuProfile[], top = 40, busyOnly = false): string {
  const byName = new Map<string, number>();
  let total = 0;
  for (const p of Array.isArray(profiles) ? profiles : [profiles]) {
    const self = new Map<number, number>();
    p.samples.forEach((id, i) => self.set(id, (self.get(id) ?? 0) + (p.timeDeltas[i] ?? 0)));
    for (const n of p.nodes) {
      const t = self.get(n.id) ?? 0;
      if (busyOnly && n.callFrame.functionName === '(idle)') continue;
      total += t;
      byName.set(frameName(n), (byName.get(frameName(n)) ?? 0) + t);
    }
  }
  const ms = (us: number) => (us / 1e3).toFixed(1);
  return [
    `${busyOnly ? 'busy' : 'total'} sampled ${ms(total)} ms`,
    ...table(byName, top, (t) => `${ms(t).padStart(9)} ms ${((100 * t) / (total || 1)).toFixed(1).padStart(5)}%`),
  ].join('\n');
}

/** Sampled bytes in a heap profile's call tree. */
export function heapSampledBytes(p: HeapProfile): number {
  let total = 0;
  const walk = (n: ProfileNode) => {
    total += n.selfSize ?? 0;
    for (const c of n.children ?? []) walk(c);
  };
  walk(p.head);
  return total;
}

/** Sampled allocation bytes per function (name file:line), the `top` largest. */
export function summariseHeap(p: HeapProfile, top = 30): string {
  const byName = new Map<string, number>();
  const walk = (n: ProfileNode) => {
    byName.set(frameName(n), (byName.get(frameName(n)) ?? 0) + (n.selfSize ?? 0));
    for (const c of n.children ?? []) walk(c);
  };
  walk(p.head);
  const mib = (b: number) => (b / 2 ** 20).toFixed(1);
  return [`sampled ${mib(heapSampledBytes(p))} MiB`, ...table(byName, top, (b) => `${mib(b).padStart(7)} MiB`)].join('\n');
}

/** What Runtime.getHeapUsage returns: V8 heap bytes used / reserved, and ArrayBuffer backing stores (outside the heap). */
export interface HeapUsage {
  usedSize: number;
  totalSize: number;
  backingStorageSize?: number;
}

/**
 * A full GC of the session's isolate, then its heap usage: run before a measured operation so that
 * its peak is its own, not garbage an earlier operation left (V8 under no memory limit collects late).
 */
export async function collectGarbage(session: CdpSession): Promise<HeapUsage> {
  // workerd never answers HeapProfiler.collectGarbage (and collects nothing); a heap snapshot
  // starts with a full GC, and what it sends is only what survived (under a second on ~10 MiB).
  await session.send('HeapProfiler.enable');
  await session.send('HeapProfiler.takeHeapSnapshot', { reportProgress: false, captureNumericValue: false });
  // After a snapshot V8 tracks every object move in GC (for snapshot ids) until the profiler is
  // disabled: left on, that slowed the measured operations (small git push CPU 0.32 -> 0.43 s with the disable, 0.50 s without).
  await session.send('HeapProfiler.disable');
  return session.send<HeapUsage>('Runtime.getHeapUsage');
}

/** One isolate's peaks while a HeapMonitor ran. */
export interface IsolatePeak {
  /** Highest usedSize + backingStorageSize seen: live and not-yet-collected JS objects plus ArrayBuffer memory. */
  used: number;
  /** Highest totalSize + backingStorageSize: what the isolate had reserved. */
  total: number;
  /** Highest backingStorageSize alone. */
  buffers: number;
  /** With `gcEvery`: highest usedSize + backingStorageSize right after a forced full GC (what was live). */
  live: number;
  /** The same at the start, to subtract. */
  used0: number;
  total0: number;
}

/**
 * Polls Runtime.getHeapUsage of each session every `ms` until stopped; peaks per session title.
 * Cheap (no GC, no heap walk), so it can run during a measured operation. workerd answers between
 * JS turns, so a peak inside one long synchronous step can be missed. With `gcEvery` = N, every Nth
 * poll follows a full GC (collectGarbage: a heap snapshot, seconds on a large heap; for telling live
 * memory from garbage, not for timed runs).
 */
export function heapMonitor(sessions: CdpSession[], ms = 100, gcEvery = 0): { stop(): Promise<Map<string, IsolatePeak>> } {
  const peaks = new Map<string, IsolatePeak>();
  const poll = async (gc: boolean) => {
    await Promise.all(
      sessions.map(async (s) => {
        if (gc) await collectGarbage(s).catch(() => null);
        const u = await s.send<HeapUsage>('Runtime.getHeapUsage').catch(() => null);
        if (!u) return;
        const buffers = u.backingStorageSize ?? 0;
        const used = u.usedSize + buffers;
        const total = u.totalSize + buffers;
        const p = peaks.get(s.title);
        if (!p) peaks.set(s.title, { used, total, buffers, live: gc ? used : 0, used0: used, total0: total });
        else {
          p.used = Math.max(p.used, used);
          p.total = Math.max(p.total, total);
          p.buffers = Math.max(p.buffers, buffers);
          if (gc) p.live = Math.max(p.live, used);
        }
      }),
    );
  };
  let stopped = false;
  const loop = (async () => {
    for (let k = 0; !stopped; k++) {
      await poll(gcEvery > 0 && k % gcEvery === 0);
      await new Promise((r) => setTimeout(r, ms));
    }
  })();
  return {
    async stop() {
      stopped = true;
      await loop;
      await poll(gcEvery > 0);
      return peaks;
    },
  };
}
