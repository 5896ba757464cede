import { readdir, readFile } from 'node:fs/promises';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ROLES, TASK_PRIORITIES, TASK_STATUSES } from '../src/db/enums.js';
import { createTestDatabase, type TestDatabase } from './helpers/db.js';

const LISTS = { task_status: TASK_STATUSES, task_priority: TASK_PRIORITIES, user_role: ROLES } as const;
const SOURCE = path.resolve('src');
const HOME = path.join('db', 'enums.ts');

/**
 * Ways a list can be spelled out again: its values quoted one after another (an array, a union), its
 * values as words in a row (object keys, SQL aliases; only for lists of three, as "user" and "admin"
 * are common words), a literal schema, a comparison in SQL.
 */
function respellings(values: readonly string[]): RegExp[] {
  const quoted = values.map((v) => `'${v}'`).join('[^;]{0,80}?');
  const words = values.map((v) => `\\b${v}\\b`).join('[^;]{0,80}?');
  return [
    new RegExp(quoted),
    ...(values.length >= 3 ? [new RegExp(words)] : []),
    new RegExp(`Type\\.Literal\\(\\s*'(${values.join('|')})'`),
    new RegExp(`\\b(status|priority|role)\\s*=\\s*'(${values.join('|')})'`),
  ];
}

async function sources(): Promise<Array<{ file: string; text: string }>> {
  const files = (await readdir(SOURCE, { recursive: true })).filter((f) => f.endsWith('.ts'));
  return Promise.all(files.map(async (file) => ({ file, text: await readFile(path.join(SOURCE, file), 'utf8') })));
}

describe('status, priority and role: one list each', () => {
  let db: TestDatabase;
  beforeAll(async () => {
    db = await createTestDatabase();
  });
  afterAll(() => db?.drop());

  it('the migrated database holds each list as its enum, in the same order', async () => {
    for (const [type, values] of Object.entries(LISTS)) {
      const { rows } = await db.pool.query<{ values: string[] }>(`SELECT enum_range(NULL::${type})::text[] AS values`);
      expect(rows[0]?.values, type).toEqual([...values]);
    }
  });

  it('no file in src/ but db/enums.ts spells a list out again', async () => {
    const found: string[] = [];
    for (const { file, text } of await sources()) {
      if (file === HOME) continue;
      for (const values of Object.values(LISTS)) {
        for (const pattern of respellings(values)) {
          const match = pattern.exec(text);
          if (match) found.push(`${file}: ${match[0]}`);
        }
      }
    }
    expect(found).toEqual([]);
  });
});

describe('helpers and types written once', () => {
  const definedIn = async (pattern: RegExp) => (await sources()).filter(({ text }) => pattern.test(text)).map(({ file }) => file);

  it('withTimeout is defined in one file, in lib/', async () => {
    expect(await definedIn(/function withTimeout\b/)).toEqual([path.join('lib', 'timeout.ts')]);
  });

  it('TokenPair is written once, as its schema; its type is derived (no hand-written interface)', async () => {
    expect(await definedIn(/\binterface TokenPair\b/)).toEqual([]);
    expect(await definedIn(/\btype TokenPair = Static<typeof TokenPair>/)).toEqual([path.join('modules', 'auth', 'schemas.ts')]);
  });
});
