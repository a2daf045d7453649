/**
 * `npm run bench`: runs every bench/*.bench.ts suite and writes BENCHMARKS.md
 * (machine, command, each row beside its native reference as a time ratio).
 * `npx tsx bench/run.ts NAME...` runs the suites whose file names contain a
 * NAME and prints only; with `--write` it also replaces those suites'
 * sections in BENCHMARKS.md, keeping the others.
 */
import { existsSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { cpus, totalmem } from 'node:os';
import { execSync } from 'node:child_process';
import type { BenchRow, BenchSuite, BenchTable } from './harness.js';

const args = process.argv.slice(2);
const write = args.includes('--write');
const only = args.filter((a) => a !== '--write');
const files = readdirSync(new URL('.', import.meta.url))
  .filter((f) => f.endsWith('.bench.ts'))
  .filter((f) => only.length === 0 || only.some((o) => f.includes(o)))
  .sort();

const rows: BenchRow[] = [];
const tables: BenchTable[] = [];
for (const file of files) {
  console.error(`== ${file}`);
  const { suite } = (await import(`./${file}`)) as { suite: BenchSuite };
  const result = await suite();
  const suiteRows = Array.isArray(result) ? result : result.rows;
  if (!Array.isArray(result)) tables.push(...result.tables);
  for (const row of suiteRows) {
    rows.push(row);
    console.error(`  ${row.group} / ${row.name}: ${mbps(row.bytes, row.seconds)} MB/s${row.reference ? ` (${row.reference.name}: ${mbps(row.bytes, row.reference.seconds)} MB/s, ratio ${ratio(row)})` : ''}`);
  }
}

function mbps(bytes: number, s: number): string {
  return (bytes / s / 1e6).toFixed(1);
}
function ratio(r: BenchRow): string {
  return r.reference ? `${(r.seconds / r.reference.seconds).toFixed(2)}x` : '';
}
const tool = (cmd: string) => {
  try {
    return execSync(cmd, { encoding: 'utf8' }).trim().split('\n')[0];
  } catch {
    return 'not found';
  }
};

const head = [
  '# Benchmarks',
  '',
  `Written by \`npm run bench\` on ${new Date().toISOString().slice(0, 10)}.`,
  '',
  `Machine: ${cpus().length} x ${cpus()[0]?.model ?? 'cpu'}, ${(totalmem() / 2 ** 30).toFixed(0)} GiB, Node ${process.version}, ${tool('git --version')}, ${tool('fossil version')}.`,
  '',
  'Ratio = our time / the reference\'s time on the same data in the same run (lower is better; 1.00x = as fast as the reference). Best of several runs each.',
  '',
];
const machine = head[4];
const lines: string[] = [];
const groups = [...new Set(rows.map((r) => r.group))];
for (const g of groups) {
  lines.push(`## ${g}`, '', '| what | MB/s | reference | ref MB/s | ratio | goal | note |', '|---|---:|---|---:|---:|---:|---|');
  for (const r of rows.filter((x) => x.group === g)) {
    const met = r.goal && r.reference ? (r.seconds / r.reference.seconds <= r.goal ? ' (met)' : ' (missed)') : '';
    lines.push(
      `| ${r.name} | ${mbps(r.bytes, r.seconds)} | ${r.reference?.name ?? ''} | ${r.reference ? mbps(r.bytes, r.reference.seconds) : ''} | ${ratio(r)} | ${r.goal ? `<= ${r.goal}x${met}` : ''} | ${r.note ?? ''} |`,
    );
  }
  lines.push('');
}
for (const t of tables) {
  lines.push(`## ${t.group}`, '', ...t.intro, '');
  if (t.header.length > 0) {
    lines.push(`| ${t.header.join(' | ')} |`, `|${t.header.map((_, i) => (i < 2 ? '---' : '---:')).join('|')}|`);
    for (const r of t.rows) lines.push(`| ${r.join(' | ')} |`);
    lines.push('');
  }
  lines.push(`Measured on ${new Date().toISOString().slice(0, 10)}: ${machine}`, '');
}
const target = new URL('../BENCHMARKS.md', import.meta.url);
if (only.length === 0) writeFileSync(target, [...head, ...lines].join('\n'));
else {
  console.log(lines.join('\n'));
  if (write) writeFileSync(target, mergeSections(existsSync(target) ? readFileSync(target, 'utf8') : head.join('\n'), lines));
}

/** `doc` with each `## ` section of `fresh` replacing the one of the same title (or appended). */
function mergeSections(doc: string, fresh: string[]): string {
  const split = (text: string[]) => {
    const pre: string[] = [];
    const sections: { title: string; body: string[] }[] = [];
    for (const l of text) {
      if (l.startsWith('## ')) sections.push({ title: l, body: [l] });
      else if (sections.length > 0) sections[sections.length - 1].body.push(l);
      else pre.push(l);
    }
    return { pre, sections };
  };
  const old = split(doc.split('\n'));
  for (const s of split(fresh).sections) {
    const at = old.sections.findIndex((o) => o.title === s.title);
    if (at >= 0) old.sections[at] = s;
    else old.sections.push(s);
  }
  return [...old.pre, ...old.sections.flatMap((s) => s.body)].join('\n');
}
