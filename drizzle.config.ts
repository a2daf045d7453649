import { defineConfig } from 'drizzle-kit';

export default defineConfig({
  dialect: 'sqlite',
  schema: './worker/storage-d1/schema.ts',
  out: './migrations',
});
