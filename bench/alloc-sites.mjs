/**
 * Where ArrayBuffer memory is allocated, by call site, in a Node run of hub code:
 * preload it (`node --import ./bench/alloc-sites.mjs --import tsx bench/push-heap.ts large`)
 * and it prints, at exit, the top sites by MiB allocated. It wraps the typed-array
 * constructors and ArrayBuffer in Proxies (a copy from an array or view counts as
 * an allocation, a view on a buffer does not) and `slice()`; a stack is taken once
 * per ALLOC_SAMPLE_KIB (default 256) KiB allocated, so a site's total is accurate to
 * about that much per allocation and the run stays fast. Node's own Buffers
 * (node:zlib's deflate output, file reads) are not counted.
 *
 * ALLOC_LIVE_KIB=N also follows every array of N KiB or more until it is
 * collected (FinalizationRegistry, so a collected one drops out a little after
 * the GC); `globalThis.liveSites()` lists what is live by site (bench/push-heap.ts
 * prints it after each of its GCs). ALLOC_BIG_KIB=N counts every allocation of N KiB
 * or more by site (a stack each: exact counts, e.g. the large buffers of a push round).
 */
const SAMPLE = Number(process.env.ALLOC_SAMPLE_KIB ?? 256) * 1024;
const DEPTH = Number(process.env.ALLOC_DEPTH ?? 3);
const sites = new Map();
let acc = 0;
let total = 0;
let count = 0;
let inside = false;

const LIVE_MIN = Number(process.env.ALLOC_LIVE_KIB ?? 0) * 1024;
const live = new Map();
const registry = new FinalizationRegistry(([key, bytes]) => live.set(key, live.get(key) - bytes));
const stackKey = () =>
  (new Error().stack ?? '').split('\n').slice(4, 4 + DEPTH).map((l) => l.trim().replace(/^at /, '').replace(/\(?(file:\/\/)?\/[^ ]*\/(?=(shared|worker|bench)\/)/, '').replace(/\)$/, '')).join(' < ');
function follow(obj, bytes) {
  if (LIVE_MIN === 0 || bytes < LIVE_MIN || inside) return;
  inside = true;
  const key = stackKey();
  inside = false;
  live.set(key, (live.get(key) ?? 0) + bytes);
  registry.register(obj, [key, bytes]);
}
/** Bytes allocated so far (all sites). */
globalThis.allocTotal = () => total;
globalThis.liveSites = (top = 12) =>
  [...live].filter(([, b]) => b > 0).sort((a, b) => b[1] - a[1]).slice(0, top).map(([k, b]) => `  live ${(b / 2 ** 20).toFixed(1).padStart(6)} MiB  ${k}`).join('\n');

/** ALLOC_BIG_KIB=N: every allocation of N KiB or more counted by site (a stack each), beside the sampled totals. */
const BIG = Number(process.env.ALLOC_BIG_KIB ?? 0) * 1024;
const big = new Map();

/** The allocating call site: DEPTH frames above record()'s caller. */
const callerKey = () =>
  (new Error().stack ?? '').split('\n').slice(4, 4 + DEPTH).map((l) => l.trim().replace(/^at /, '').replace(/\(?(file:\/\/)?\/[^ ]*\/(?=(shared|worker|bench)\/)/, '').replace(/\)$/, '')).join(' < ');

function record(bytes) {
  total += bytes;
  count++;
  if (BIG > 0 && bytes >= BIG && !inside) {
    inside = true;
    const key = callerKey();
    inside = false;
    const b = big.get(key) ?? { n: 0, bytes: 0 };
    b.n++;
    b.bytes += bytes;
    big.set(key, b);
  }
  acc += bytes;
  if (acc < SAMPLE || inside) return;
  const n = Math.floor(acc / SAMPLE);
  acc -= n * SAMPLE;
  inside = true;
  const key = callerKey();
  inside = false;
  sites.set(key, (sites.get(key) ?? 0) + n * SAMPLE);
}

function sizeOf(args, per) {
  const a = args[0];
  if (typeof a === 'number') return a * per;
  if (a instanceof ArrayBuffer || (typeof SharedArrayBuffer !== 'undefined' && a instanceof SharedArrayBuffer)) return 0;
  if (a && typeof a.length === 'number') return a.length * per;
  return 0;
}

for (const name of ['Uint8Array', 'Uint16Array', 'Int32Array', 'Uint32Array', 'Float64Array']) {
  const Orig = globalThis[name];
  const per = Orig.BYTES_PER_ELEMENT;
  globalThis[name] = new Proxy(Orig, {
    construct(target, args, newTarget) {
      const bytes = sizeOf(args, per);
      if (bytes > 64) record(bytes);
      const out = Reflect.construct(target, args, newTarget === globalThis[name] ? target : newTarget);
      if (bytes > 0 && !(args[0] instanceof Orig && args[0].buffer === out.buffer)) follow(out.buffer, bytes);
      return out;
    },
  });
  const slice = Orig.prototype.slice;
  Orig.prototype.slice = function (...args) {
    const out = slice.apply(this, args);
    if (out.byteLength > 64) record(out.byteLength);
    follow(out.buffer, out.byteLength);
    return out;
  };
}
{
  const Orig = ArrayBuffer;
  globalThis.ArrayBuffer = new Proxy(Orig, {
    construct(target, args, newTarget) {
      if (typeof args[0] === 'number' && args[0] > 64) record(args[0]);
      const out = Reflect.construct(target, args, newTarget === globalThis.ArrayBuffer ? target : newTarget);
      if (typeof args[0] === 'number') follow(out, args[0]);
      return out;
    },
  });
}

process.on('exit', () => {
  const mib = (b) => (b / 2 ** 20).toFixed(1).padStart(8);
  const rows = [...sites].sort((a, b) => b[1] - a[1]).slice(0, Number(process.env.ALLOC_TOP ?? 25));
  console.log(`\nallocated ${mib(total)} MiB in ${count} typed arrays/buffers over 64 bytes; top sites (sampled every ${SAMPLE / 1024} KiB):`);
  for (const [k, v] of rows) console.log(`${mib(v)} MiB  ${k}`);
  if (BIG > 0) {
    const all = [...big.values()].reduce((a, b) => ({ n: a.n + b.n, bytes: a.bytes + b.bytes }), { n: 0, bytes: 0 });
    console.log(`\n${all.n} allocations of ${BIG / 1024} KiB or more (${mib(all.bytes).trim()} MiB); by site:`);
    for (const [k, v] of [...big].sort((a, b) => b[1].bytes - a[1].bytes).slice(0, Number(process.env.ALLOC_TOP ?? 25))) console.log(`${String(v.n).padStart(7)} x ${mib(v.bytes)} MiB  ${k}`);
  }
});
