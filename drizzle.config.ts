import { defineConfig } from 'drizzle-kit';

// drizzle-kit only generates migration SQL from src/db/schema.ts; the server applies it at run time.
export default defineConfig({
  dialect: 'postgresql',
  schema: './src/db/schema.ts',
  out: './migrations',
});
