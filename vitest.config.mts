/**
 * Three projects:
 *  - node:           every test under test/ except the workerd-only ones; this is
 *                    where the real git and fossil binaries are driven (*.node.test.ts).
 *  - workers-shared: the runtime-neutral shared/ tests again, inside workerd
 *                    (proving shared/ runs there). They use no bindings, so all
 *                    files share one workerd (isolate: false) instead of a
 *                    workerd started for each file.
 *  - workers:        the Worker's own tests (test/worker/), a fresh workerd and
 *                    storage for each file.
 * Every project compares byte arrays in toEqual with test/equal-bytes.ts.
 *
 * At least two test files at a time: vitest's default is one fewer than the
 * cores, so on a 2-core machine it ran every file one after the other, while
 * a file mostly waits on git, fossil or workerd (e2e) or keeps one core busy.
 */
import { availableParallelism } from 'node:os';
import { cloudflareTest, readD1Migrations } from '@cloudflare/vitest-plugin';
import { defineConfig } from 'vitest/config';

const migrations = await readD1Migrations('./migrations');

const workerd = () =>
  cloudflareTest({
    wrangler: { configPath: './wrangler.toml' },
    miniflare: { bindings: { TEST_MIGRATIONS: migrations, HUB_ADMIN_TOKEN: 'test-admin-token' } },
  });

export default defineConfig({
  test: {
    maxWorkers: Math.max(2, availableParallelism() - 1),
    projects: [
      {
        test: {
          name: 'node',
          include: ['test/**/*.test.ts'],
          exclude: ['test/worker/**', '**/*.workers.test.ts'],
          setupFiles: ['./test/equal-bytes.ts'],
          testTimeout: 120_000,
          hookTimeout: 120_000,
        },
      },
      {
        plugins: [workerd()],
        test: {
          name: 'workers-shared',
          include: ['test/shared/**/*.test.ts'],
          exclude: ['**/*.node.test.ts'],
          isolate: false,
          setupFiles: ['./test/equal-bytes.ts'],
          testTimeout: 60_000,
        },
      },
      {
        plugins: [workerd()],
        test: {
          name: 'workers',
          include: ['test/worker/**/*.test.ts'],
          setupFiles: ['./test/equal-bytes.ts', './test/worker/apply-migrations.ts'],
          testTimeout: 60_000,
        },
      },
    ],
  },
});
