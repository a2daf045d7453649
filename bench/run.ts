/**
 * `npm run bench`: runs every bench/*.bench.ts suite and writes BENCHMARKS.md
 * (machine, command, each row beside its native reference as a time ratio).
 */
import { readdirSync, writeFileSync } from 'node:fs';
import { cpus, totalmem } from 'node:os';
import { execSync } from 'node:child_process';
import type { BenchRow, BenchSuite } from './harness.js';

const only = process.argv.slice(2);
const files = readdirSync(new URL('.', import.meta.url))
  .filter((f) => f.endsWith('.bench.ts'))
  .filter((f) => only.length === 0 || only.some((o) => f.includes(o)))
  .sort();

const rows: BenchRow[] = [];
for (const file of files) {
  console.error(`== ${file}`);
  const { suite } = (await import(`./${file}`)) as { suite: BenchSuite };
  for (const row of await suite()) {
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

const lines = [
  '# Benchmarks',
  '',
  `Written by \`npm run bench${only.length ? ` ${only.join(' ')}` : ''}\` on ${new Date().toISOString().slice(0, 10)}.`,
  '',
  `Machine: ${cpus().length} x ${cpus()[0]?.model ?? 'cpu'}, ${(totalmem() / 2 ** 30).toFixed(0)} GiB, Node ${process.version}, ${tool('git --version')}, ${tool('fossil version')}.`,
  '',
  'Ratio = our time / the reference\'s time on the same data in the same run (lower is better; 1.00x = as fast as the reference). Best of several runs each.',
  '',
];
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
if (only.length === 0) writeFileSync(new URL('../BENCHMARKS.md', import.meta.url), lines.join('\n'));
else console.log(lines.join('\n'));
