/**
 * Process accounting from /proc (Linux): CPU seconds of a process tree and
 * RSS sampling, for comparing servers that run as separate processes.
 */
import { execFileSync } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import { heapMonitor, type CdpSession, type IsolatePeak } from './cdp.js';

const CLK_TCK = (() => {
  try {
    return Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim()) || 100;
  } catch {
    return 100;
  }
})();

interface Stat {
  pid: number;
  ppid: number;
  comm: string;
  /** utime + stime, in ticks. */
  self: number;
  /** cutime + cstime: children already reaped, in ticks. */
  children: number;
}

function readStat(pid: number): Stat | null {
  let text: string;
  try {
    text = readFileSync(`/proc/${pid}/stat`, 'utf8');
  } catch {
    return null;
  }
  // comm is in parentheses and may hold spaces: split after its last ')'.
  const close = text.lastIndexOf(')');
  const comm = text.slice(text.indexOf('(') + 1, close);
  const f = text.slice(close + 2).split(' ');
  // Fields from 3 (state) on: ppid is field 4, utime 14, stime 15, cutime 16, cstime 17.
  return { pid, ppid: Number(f[1]), comm, self: Number(f[11]) + Number(f[12]), children: Number(f[13]) + Number(f[14]) };
}

function allStats(): Stat[] {
  const out: Stat[] = [];
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    const s = readStat(Number(name));
    if (s) out.push(s);
  }
  return out;
}

/** `root` and its live descendants. */
export function processTree(root: number): Stat[] {
  const stats = allStats();
  const byParent = new Map<number, Stat[]>();
  for (const s of stats) byParent.set(s.ppid, [...(byParent.get(s.ppid) ?? []), s]);
  const out: Stat[] = [];
  const first = stats.find((s) => s.pid === root);
  if (!first) return out;
  const stack = [first];
  while (stack.length > 0) {
    const s = stack.pop()!;
    out.push(s);
    stack.push(...(byParent.get(s.pid) ?? []));
  }
  return out;
}

/** Descendants of `root` (and root itself) whose command name is `comm`. */
export function findInTree(root: number, comm: string): number[] {
  return processTree(root)
    .filter((s) => s.comm === comm)
    .map((s) => s.pid);
}

/** CPU seconds used so far by `pid` itself (all its threads). */
export function cpuSeconds(pid: number): number {
  const s = readStat(pid);
  return s ? s.self / CLK_TCK : 0;
}

/**
 * CPU seconds of `root`'s whole tree: itself, its reaped children (cutime)
 * and its live descendants.
 */
export function treeCpuSeconds(root: number): number {
  let ticks = 0;
  for (const s of processTree(root)) ticks += s.self + (s.pid === root ? s.children : 0);
  // Live descendants' reaped children count as well once their parent exits; until then they are in their own cutime.
  for (const s of processTree(root)) if (s.pid !== root) ticks += s.children;
  return ticks / CLK_TCK;
}

/** Number of live descendants of `root`. */
export function liveChildren(root: number): number {
  return processTree(root).length - 1;
}

/** Resident set size of `pid` in bytes (0 if gone). */
export function rssBytes(pid: number): number {
  try {
    const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return m ? Number(m[1]) * 1024 : 0;
  } catch {
    return 0;
  }
}

/** Samples the summed RSS of `pids` every `ms` until stopped; reports the peak. */
export function sampleRss(pids: number[], ms = 25): { stop(): number } {
  let peak = 0;
  const tick = () => {
    peak = Math.max(peak, pids.reduce((n, p) => n + rssBytes(p), 0));
  };
  tick();
  const timer = setInterval(tick, ms);
  return {
    stop() {
      clearInterval(timer);
      tick();
      return peak;
    },
  };
}

/** One timed operation: wall and CPU seconds, and (hub only) peak RSS growth and isolate heap peak in bytes. */
export interface Sample {
  wall: number;
  cpu: number;
  rss?: number;
  /** Peak of the Worker isolate's JS heap in use plus its ArrayBuffer memory (bench/cdp.ts heapMonitor). */
  heap?: number;
}

/** Best wall time of repeated runs; CPU: the least of them; memory: the most. */
export function best(samples: Sample[]): Sample {
  const s = samples.reduce((a, b) => (b.wall < a.wall ? b : a));
  const heaps = samples.flatMap((x) => (x.heap === undefined ? [] : [x.heap]));
  return { wall: s.wall, cpu: Math.min(...samples.map((x) => x.cpu)), rss: Math.max(...samples.map((x) => x.rss ?? 0)), heap: heaps.length > 0 ? Math.max(...heaps) : undefined };
}

/** Times `fn` against a reference server (git http-backend's lighttpd, fossil server): CPU of its whole process tree. */
export async function measureTree(pid: number, fn: () => Promise<void>): Promise<Sample> {
  const cpu0 = treeCpuSeconds(pid);
  const t = performance.now();
  await fn();
  const wall = (performance.now() - t) / 1000;
  // Children (CGI, per-connection forks) are counted once the server has reaped them.
  for (let i = 0; i < 100 && liveChildren(pid) > 0; i++) await new Promise((r) => setTimeout(r, 20));
  return { wall, cpu: treeCpuSeconds(pid) - cpu0 };
}

/** What `measure` saw of one operation served by workerd. */
export interface WorkerdCost {
  wall: number;
  /** CPU seconds of the workerd processes under this one. */
  cpu: number;
  /** Peak of their summed RSS over its value at the start, in bytes (the honest number for memory outside the JS heap's view). */
  rss: number;
  /** The isolate's peaks (bench/cdp.ts heapMonitor on `session`, polled every `pollMs`). */
  peak: IsolatePeak;
}

/** Runs `op` against the workerd under this process and reports its cost there. */
export async function measure(session: CdpSession, op: () => Promise<void>, pollMs = 50): Promise<WorkerdCost> {
  const pids = findInTree(process.pid, 'workerd');
  const cpu0 = pids.reduce((n, p) => n + cpuSeconds(p), 0);
  const rss0 = pids.reduce((n, p) => n + rssBytes(p), 0);
  const rss = sampleRss(pids, 50);
  const heap = heapMonitor([session], pollMs);
  const t = performance.now();
  await op();
  const wall = (performance.now() - t) / 1000;
  const peak = [...(await heap.stop()).values()][0];
  const rssPeak = rss.stop();
  return { wall, cpu: pids.reduce((n, p) => n + cpuSeconds(p), 0) - cpu0, rss: rssPeak - rss0, peak };
}

/** One mapping of /proc/PID/smaps: its address range, path (empty: anonymous) and resident KiB. */
export interface Mapping {
  start: number;
  end: number;
  name: string;
  rssKib: number;
}

export function smaps(pid: number): Mapping[] {
  const out: Mapping[] = [];
  for (const line of readFileSync(`/proc/${pid}/smaps`, 'utf8').split('\n')) {
    const m = /^([0-9a-f]+)-([0-9a-f]+) \S+ \S+ \S+ \S+\s*(.*)$/.exec(line);
    if (m) out.push({ start: parseInt(m[1], 16), end: parseInt(m[2], 16), name: m[3], rssKib: 0 });
    else if (line.startsWith('Rss:') && out.length > 0) out[out.length - 1].rssKib = Number(line.split(/\s+/)[1]);
  }
  return out;
}

/**
 * Where a process's RSS grew: /proc/PID/smaps read every `ms` until stopped, and at the highest total
 * the growth per region since the start: anonymous memory by the 4 GiB region it lies in (workerd's V8
 * heaps share one pointer-compression cage, a 4 GiB reservation of many mappings; its allocator's
 * memory, ArrayBuffer contents and SQLite pages among it, is elsewhere), files by name. Costs ~10 ms a read.
 */
export function smapsGrowth(pid: number, ms = 400): { stop(): string } {
  const key = (m: Mapping) => (m.name ? m.name.replace(/.*\//, '') : `anon@${Math.floor(m.start / 2 ** 32).toString(16)}xxxxxxxx`);
  const total = (v: Mapping[]) => v.reduce((n, m) => n + m.rssKib, 0);
  const first = smaps(pid);
  let peak = first;
  const timer = setInterval(() => {
    try {
      const s = smaps(pid);
      if (total(s) > total(peak)) peak = s;
    } catch {
      // the process ended
    }
  }, ms);
  return {
    stop() {
      clearInterval(timer);
      const grew = new Map<string, number>();
      for (const m of peak) grew.set(key(m), (grew.get(key(m)) ?? 0) + m.rssKib);
      for (const m of first) grew.set(key(m), (grew.get(key(m)) ?? 0) - m.rssKib);
      const rows = [...grew].filter(([, kib]) => Math.abs(kib) >= 1024).sort((a, b) => b[1] - a[1]);
      return `RSS at its peak +${((total(peak) - total(first)) / 1024).toFixed(0)} MiB: ${rows.map(([k, kib]) => `${k} +${(kib / 1024).toFixed(0)}`).join(', ')}`;
    },
  };
}
