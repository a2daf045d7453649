/**
 * Two projects:
 *  - node:    every test under test/ except the workerd-only ones; this is where
 *             the real git and fossil binaries are driven (*.node.test.ts).
 *  - workers: the runtime-neutral shared/ tests again, inside workerd (proving
 *             shared/ runs there), plus the Worker's own tests (test/worker/).
 */
import { cloudflareTest, readD1Migrations } from '@cloudflare/vitest-plugin';
import { defineConfig } from 'vitest/config';

const migrations = await readD1Migrations('./migrations');

export default defineConfig({
  test: {
    projects: [
      {
        test: {
          name: 'node',
          include: ['test/**/*.test.ts'],
          exclude: ['test/worker/**', '**/*.workers.test.ts'],
          testTimeout: 120_000,
          hookTimeout: 120_000,
        },
      },
      {
        plugins: [
          cloudflareTest({
            wrangler: { configPath: './wrangler.toml' },
            miniflare: { bindings: { TEST_MIGRATIONS: migrations, HUB_ADMIN_TOKEN: 'test-admin-token' } },
          }),
        ],
        test: {
          name: 'workers',
          include: ['test/shared/**/*.test.ts', 'test/worker/**/*.test.ts'],
          exclude: ['**/*.node.test.ts'],
          setupFiles: ['./test/worker/apply-migrations.ts'],
          testTimeout: 60_000,
        },
      },
    ],
  },
});
