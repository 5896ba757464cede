import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { registerAndLogin, setupTestApp, type TestContext } from '../../helpers/app.js';
import type { HttpResponse } from '../../helpers/http.js';

let ctx: TestContext;
let admin: Awaited<ReturnType<typeof registerAndLogin>>;

const nextOf = (res: HttpResponse): string | undefined => {
  const match = /<([^>]+)>; rel="next"/.exec(res.headers.get('link') ?? '');
  return match ? match[1]!.replace(/^\/api\/v1/, '') : undefined;
};

/** Every page of GET /users by cursor, following Link rel="next". */
async function walk(query: string, limit: number): Promise<{ ids: number[]; totals: Set<string> }> {
  const ids: number[] = [];
  const totals = new Set<string>();
  let next: string | undefined = `/users?${query}${query ? '&' : ''}limit=${limit}&cursor=`;
  for (let pages = 0; next; pages++) {
    expect(pages).toBeLessThan(200);
    const res = await ctx.api.get<Array<{ id: number }>>(next, { token: admin.token });
    expect(res.status, res.text).toBe(200);
    expect(res.headers.get('link')).not.toMatch(/rel="(last|prev)"/);
    ids.push(...res.body.map((u) => u.id));
    totals.add(res.headers.get('x-total-count') ?? '');
    next = nextOf(res);
  }
  return { ids, totals };
}

async function byOffset(query: string): Promise<number[]> {
  const res = await ctx.api.get<Array<{ id: number }>>(`/users?${query}${query ? '&' : ''}limit=100`, { token: admin.token });
  expect(res.status).toBe(200);
  return res.body.map((u) => u.id);
}

beforeAll(async () => {
  ctx = await setupTestApp();
  admin = await registerAndLogin(ctx.api, 'root');
  await ctx.db.pool.query("UPDATE users SET role = 'admin' WHERE id = $1", [admin.id]);
  for (let i = 0; i < 23; i++) await registerAndLogin(ctx.api, i % 3 ? 'kappa' : 'sigma');
  await ctx.db.pool.query("UPDATE users SET is_active = false WHERE username LIKE 'kappa%' AND id % 2 = 0");
});
afterAll(() => ctx.close());

describe('GET /users by cursor', () => {
  it.each(['', 'q=kappa', 'is_active=true', 'role=user&q=SIGMA'])(
    '%s: the offset order, each user once, the same total',
    async (query) => {
      const expected = await byOffset(query);
      expect(expected.length).toBeGreaterThan(4);
      const walked = await walk(query, 4);
      expect(walked.ids).toEqual(expected);
      expect(walked.totals).toEqual(new Set([String(expected.length)]));
    },
  );

  it('users registered and removed mid-walk: none that existed throughout is skipped or repeated', async () => {
    const before = await byOffset('');
    const ids: number[] = [];
    let next: string | undefined = '/users?limit=5&cursor=';
    const removed = new Set<number>();
    while (next) {
      const res = await ctx.api.get<Array<{ id: number }>>(next, { token: admin.token });
      expect(res.status).toBe(200);
      ids.push(...res.body.map((u) => u.id));
      next = nextOf(res);
      await registerAndLogin(ctx.api, 'late');
      const victim = before.find((id) => id !== admin.id && !removed.has(id) && !ids.includes(id));
      if (victim !== undefined) {
        removed.add(victim);
        await ctx.db.pool.query('DELETE FROM users WHERE id = $1', [victim]);
      }
    }
    expect(removed.size).toBeGreaterThan(2);
    expect(new Set(ids).size).toBe(ids.length);
    const survivors = before.filter((id) => !removed.has(id));
    expect(ids.filter((id) => survivors.includes(id))).toEqual(survivors);
  });

  it('a cursor for other filters, an altered one and a cursor with offset are 422s', async () => {
    const first = await ctx.api.get('/users?q=kappa&limit=2&cursor=', { token: admin.token });
    const next = nextOf(first);
    expect(next).toBeDefined();
    const cursor = new URL(next!, 'http://x').searchParams.get('cursor')!;
    const refused = [
      `/users?q=sigma&limit=2&cursor=${cursor}`,
      `/users?limit=2&cursor=${cursor}`,
      `/users?q=kappa&cursor=${cursor.slice(0, -3)}xyz`,
      `/users?q=kappa&cursor=${cursor}&offset=2`,
    ];
    for (const target of refused) {
      const res = await ctx.api.get(target, { token: admin.token });
      expect(res.status, target).toBe(422);
      expect(res.body.detail).toMatch(/cursor/i);
    }
    expect((await ctx.api.get(`/users?q=kappa&limit=2&cursor=${cursor}`, { token: admin.token })).status).toBe(200);
  });
});
