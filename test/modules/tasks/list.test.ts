import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { registerAndLogin, setupTestApp, type TestContext } from '../../helpers/app.js';
import type { HttpResponse, TaskBody } from '../../helpers/http.js';

let ctx: TestContext;
type User = Awaited<ReturnType<typeof registerAndLogin>>;

type Task = TaskBody;

// The documented sort orders of the enums.
const STATUSES = ['pending', 'in_progress', 'completed'];
const PRIORITIES = ['low', 'medium', 'high'];
const SORT_KEYS = ['created_at', 'updated_at', 'priority', 'status', 'title'] as const;
type SortKey = (typeof SORT_KEYS)[number];
const SORTS = SORT_KEYS.flatMap((key) => [key, `-${key}`]);

const TITLES = ['Write report', 'write REPORT', 'Call Bob', 'buy milk', 'Write report'];
const DESCRIPTIONS = [null, 'See the report draft', 'Nothing to add', null];
const BASE = Date.parse('2030-01-01T00:00:00.000Z');
const MINUTE = 60_000;

/**
 * The 45 tasks of the paging user. Many share a title, status, priority, created_at or updated_at,
 * and they are inserted in a shuffled order, so id order is neither creation order nor any sort order:
 * only a correct sort with an id tiebreak gives the expected order.
 */
function pagingRows() {
  return Array.from({ length: 45 }, (_, k) => {
    const i = (k * 7) % 45;
    return {
      title: TITLES[i % TITLES.length]!,
      description: DESCRIPTIONS[i % DESCRIPTIONS.length]!,
      status: STATUSES[Math.floor(i / 3) % 3]!,
      priority: PRIORITIES[i % 3]!,
      created_at: new Date(BASE + (i % 15) * MINUTE),
      updated_at: new Date(BASE + (i % 15) * MINUTE + ((i * 13) % 5) * 60 * MINUTE),
    };
  });
}

interface Row {
  id: number;
  title: string;
  description: string | null;
  status: string;
  priority: string;
  created_at: Date;
  updated_at: Date;
}

async function insertTasks(userId: number, rows: Array<Omit<Row, 'id'>>): Promise<Row[]> {
  const inserted: Row[] = [];
  for (const r of rows) {
    const { rows: out } = await ctx.db.pool.query(
      `INSERT INTO tasks (user_id, title, description, status, priority, created_at, updated_at)
       VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING id`,
      [userId, r.title, r.description, r.status, r.priority, r.created_at, r.updated_at],
    );
    inserted.push({ ...r, id: Number(out[0].id) });
  }
  return inserted;
}

function sortKeyValue(row: Row, key: SortKey): number | string {
  switch (key) {
    case 'created_at':
      return row.created_at.getTime();
    case 'updated_at':
      return row.updated_at.getTime();
    case 'priority':
      return PRIORITIES.indexOf(row.priority);
    case 'status':
      return STATUSES.indexOf(row.status);
    case 'title':
      return row.title; // ASCII titles: code unit order is byte order
  }
}

/** The ids in the order the API must give for `sort`: the key, then the id, both in the same direction. */
function expectedOrder(rows: Row[], sort: string): number[] {
  const descending = sort.startsWith('-');
  const key = (descending ? sort.slice(1) : sort) as SortKey;
  const sign = descending ? -1 : 1;
  return [...rows]
    .sort((a, b) => {
      const x = sortKeyValue(a, key);
      const y = sortKeyValue(b, key);
      if (x !== y) return (x < y ? -1 : 1) * sign;
      return (a.id - b.id) * sign;
    })
    .map((r) => r.id);
}

const matchesQ = (row: Pick<Row, 'title' | 'description'>, q: string) =>
  row.title.toLowerCase().includes(q.toLowerCase()) || (row.description ?? '').toLowerCase().includes(q.toLowerCase());

type Query = Record<string, string | number>;
const toParams = (query: Query) => new URLSearchParams(Object.entries(query).map(([k, v]): [string, string] => [k, String(v)]));

async function list(user: User, query: Query = {}): Promise<HttpResponse<Task[]>> {
  const search = toParams(query).toString();
  return ctx.api.get<Task[]>(`/tasks${search ? `?${search}` : ''}`, { token: user.token });
}

async function listOk(user: User, query: Query = {}): Promise<HttpResponse<Task[]>> {
  const res = await list(user, query);
  expect(res.status, res.text).toBe(200);
  return res;
}

const ids = (tasks: Task[]) => tasks.map((t) => t.id);
const sorted = (values: number[]) => [...values].sort((a, b) => a - b);

/** The Link header as {rel: URL}; throws on a part it cannot read. */
function parseLinks(header: string | null): Record<string, URL> {
  expect(header).toBeTruthy();
  const links: Record<string, URL> = {};
  for (const part of (header ?? '').split(/,\s*(?=<)/)) {
    const match = /^<([^>]+)>;\s*rel="([a-z]+)"$/.exec(part.trim());
    if (!match) throw new Error(`unreadable Link part: ${part}`);
    links[match[2]!] = new URL(match[1]!, 'http://link.invalid');
  }
  return links;
}

const paramsWithout = (url: URL | URLSearchParams, ...names: string[]) => {
  const params = new URLSearchParams(url instanceof URL ? url.search : url);
  for (const name of names) params.delete(name);
  return Object.fromEntries([...params.entries()].sort(([a], [b]) => a.localeCompare(b)));
};

let pager: User; // 45 tasks inserted with SQL
let searcher: User; // a few tasks made through the API, for text search
let outsider: User; // tasks that match every filter, but belong to someone else
let rows: Row[];

beforeAll(async () => {
  ctx = await setupTestApp();
  [pager, searcher, outsider] = await Promise.all([
    registerAndLogin(ctx.api, 'pager'),
    registerAndLogin(ctx.api, 'searcher'),
    registerAndLogin(ctx.api, 'outsider'),
  ]);
  rows = await insertTasks(pager.id, pagingRows());
  await insertTasks(
    outsider.id,
    STATUSES.flatMap((status) =>
      PRIORITIES.map((priority) => ({
        title: 'Write report 50% _ done',
        description: 'See the report',
        status,
        priority,
        created_at: new Date(BASE),
        updated_at: new Date(BASE),
      })),
    ),
  );
});
afterAll(() => ctx.close());

describe('GET /tasks', () => {
  it('is a bare JSON array of task objects, 20 by default, newest first', async () => {
    const res = await listOk(pager);
    expect(res.headers.get('content-type')).toMatch(/^application\/json/);
    expect(Array.isArray(res.body)).toBe(true);
    expect(res.body).toHaveLength(20);
    expect(ids(res.body)).toEqual(expectedOrder(rows, '-created_at').slice(0, 20));
    expect(Object.keys(res.body[0]!).sort()).toEqual([
      'created_at',
      'description',
      'due_at',
      'id',
      'labels',
      'priority',
      'project_id',
      'status',
      'title',
      'updated_at',
      'user_id',
    ]);
    expect(res.body.every((t) => t.user_id === pager.id)).toBe(true);
    expect(res.headers.get('x-total-count')).toBe('45');
  });

  it('lists tasks made through the API newest first, each exactly as created', async () => {
    const maker = await registerAndLogin(ctx.api, 'maker');
    const made: Task[] = [];
    for (const title of ['first', 'second', 'third', 'fourth']) {
      const res = await ctx.api.post<Task>('/tasks', { title }, { token: maker.token });
      expect(res.status).toBe(201);
      made.push(res.body);
    }
    const res = await listOk(maker);
    expect(res.body).toEqual([...made].reverse());
    expect(res.headers.get('x-total-count')).toBe('4');
  });

  it('an empty list is [] with a total of 0 and first/last links', async () => {
    const loner = await registerAndLogin(ctx.api, 'loner');
    const res = await listOk(loner);
    expect(res.body).toEqual([]);
    expect(res.headers.get('x-total-count')).toBe('0');
    const links = parseLinks(res.headers.get('link'));
    expect(Object.keys(links).sort()).toEqual(['first', 'last']);
    expect(links.first?.searchParams.get('offset')).toBe('0');
    expect(links.last?.searchParams.get('offset')).toBe('0');
  });

  describe('limit and offset', () => {
    it.each([
      [{ limit: 1 }, 0, 1],
      [{ limit: 100 }, 0, 45],
      [{ limit: 5, offset: 10 }, 10, 15],
      [{ limit: 10, offset: 40 }, 40, 45],
      [{ offset: 44 }, 44, 45],
      [{ offset: 45 }, 45, 45],
      [{ limit: 10, offset: 1000 }, 45, 45],
    ])('%j gives the matching slice of the default order', async (query, from, to) => {
      const res = await listOk(pager, query);
      expect(ids(res.body)).toEqual(expectedOrder(rows, '-created_at').slice(from, to));
      expect(res.headers.get('x-total-count')).toBe('45');
    });
  });

  describe('filters', () => {
    it.each([
      ['status', 'pending'],
      ['status', 'in_progress'],
      ['status', 'completed'],
      ['status', 'pending,completed'],
      ['status', 'completed,in_progress,pending'],
      ['priority', 'low'],
      ['priority', 'high'],
      ['priority', 'medium,high'],
      ['priority', 'low,medium,high'],
    ] as const)('%s=%s gives exactly the tasks with those values', async (field, value) => {
      const wanted = value.split(',');
      const expected = rows.filter((r) => wanted.includes(r[field])).map((r) => r.id);
      expect(expected.length).toBeGreaterThan(0);
      const res = await listOk(pager, { [field]: value, limit: 100 });
      expect(sorted(ids(res.body))).toEqual(sorted(expected));
      expect(res.headers.get('x-total-count')).toBe(String(expected.length));
      // Filtering keeps the order.
      expect(ids(res.body)).toEqual(expectedOrder(rows, '-created_at').filter((id) => expected.includes(id)));
    });

    it('X-Total-Count counts every page of a filtered list', async () => {
      const expected = rows.filter((r) => r.status === 'pending').length;
      expect(expected).toBeGreaterThan(5);
      const res = await listOk(pager, { status: 'pending', limit: 5 });
      expect(res.body).toHaveLength(5);
      expect(res.headers.get('x-total-count')).toBe(String(expected));
    });
  });

  describe('text search (q)', () => {
    const texts = [
      { title: 'Budget 50% done', description: null },
      { title: 'Budget 500 items', description: 'fifty' },
      { title: 'Plain', description: 'Discount: 50% OFF' },
      { title: 'snake_case name', description: null },
      { title: 'snakeXcase name', description: null },
      { title: 'back\\slash', description: null },
      { title: 'backXslash', description: null },
      { title: 'UPPER Case Title', description: null },
      { title: 'lower', description: 'mentions the upper CASE in the description' },
    ];
    let byTitle: Map<string, number>;

    beforeAll(async () => {
      byTitle = new Map();
      await Promise.all(
        texts.map(async (body) => {
          const res = await ctx.api.post<Task>('/tasks', body, { token: searcher.token });
          expect(res.status).toBe(201);
          byTitle.set(body.title, res.body.id);
        }),
      );
    });

    it.each([
      ['50%', ['Budget 50% done', 'Plain']],
      ['%', ['Budget 50% done', 'Plain']],
      ['_', ['snake_case name']],
      ['e_c', ['snake_case name']],
      ['\\', ['back\\slash']],
      ['upper case', ['UPPER Case Title', 'lower']],
      ['DISCOUNT', ['Plain']],
      ['budget', ['Budget 50% done', 'Budget 500 items']],
      ['FIFTY', ['Budget 500 items']],
      ['no such text', []],
    ])('q=%j finds exactly %j', async (q, titles) => {
      // The expectation is also what a literal, case-insensitive substring match says.
      expect(texts.filter((t) => matchesQ(t, q)).map((t) => t.title)).toEqual(titles);
      const res = await listOk(searcher, { q, limit: 100 });
      expect(sorted(ids(res.body))).toEqual(sorted(titles.map((t) => byTitle.get(t)!)));
      expect(res.headers.get('x-total-count')).toBe(String(titles.length));
    });

    it('q matches the title or the description of the paging tasks', async () => {
      const expected = rows.filter((r) => matchesQ(r, 'report')).map((r) => r.id);
      expect(expected.length).toBeLessThan(rows.length);
      const res = await listOk(pager, { q: 'report', limit: 100 });
      expect(sorted(ids(res.body))).toEqual(sorted(expected));
    });
  });

  describe('sort', () => {
    it.each(SORTS)('sort=%s orders by the key, ties by id in the same direction', async (sort) => {
      const res = await listOk(pager, { sort, limit: 100 });
      expect(ids(res.body)).toEqual(expectedOrder(rows, sort));
    });

    it('priority sorts low < medium < high and status pending < in_progress < completed', async () => {
      const byPriority = (await listOk(pager, { sort: 'priority', limit: 100 })).body.map((t) => t.priority);
      expect([...new Set(byPriority)]).toEqual(['low', 'medium', 'high']);
      const byStatus = (await listOk(pager, { sort: '-status', limit: 100 })).body.map((t) => t.status);
      expect([...new Set(byStatus)]).toEqual(['completed', 'in_progress', 'pending']);
    });

    it('the default sort is -created_at', async () => {
      const implicit = await listOk(pager, { limit: 100 });
      const explicit = await listOk(pager, { limit: 100, sort: '-created_at' });
      expect(ids(implicit.body)).toEqual(ids(explicit.body));
    });
  });

  describe('invalid query parameters', () => {
    it.each([
      ['limit', '0'],
      ['limit', '101'],
      ['limit', '1000'],
      ['limit', 'abc'],
      ['limit', '1.5'],
      ['limit', ''],
      ['offset', '-1'],
      ['offset', 'abc'],
      ['offset', '2.5'],
      ['status', 'done'],
      ['status', 'pending,done'],
      ['status', 'pending,'],
      ['status', 'PENDING'],
      ['priority', 'urgent'],
      ['priority', 'low;high'],
      ['sort', 'owner'],
      ['sort', 'id'],
      ['sort', '--title'],
      ['sort', '+title'],
      ['sort', 'title,created_at'],
      ['sort', 'user_id'],
      ['user_id', 'abc'],
      ['user_id', '0'],
      ['foo', '1'],
    ])('%s=%j is a 422 problem with an errors array', async (name, value) => {
      const res = await list(pager, { [name]: value });
      expect(res.status, res.text).toBe(422);
      expect(res.headers.get('content-type')).toMatch(/^application\/problem\+json/);
      const problem = res.body as unknown as { status: number; errors: Array<{ field: string; location: string }> };
      expect(problem.status).toBe(422);
      const { errors } = problem;
      expect(Array.isArray(errors)).toBe(true);
      expect(errors.map((e) => e.field)).toContain(name);
      expect(errors.every((e) => e.location === 'querystring')).toBe(true);
    });

    it('a NUL character in q is a 422, not a 500', async () => {
      const res = await list(pager, { q: 'a\u0000b' });
      expect(res.status).toBe(422);
    });
  });

  describe('Link header', () => {
    it.each([
      [0, { first: 0, next: 10, last: 40 }],
      [10, { first: 0, prev: 0, next: 20, last: 40 }],
      [20, { first: 0, prev: 10, next: 30, last: 40 }],
      [35, { first: 0, prev: 25, last: 40 }],
      [34, { first: 0, prev: 24, next: 44, last: 40 }],
      [40, { first: 0, prev: 30, last: 40 }],
    ])('offset %i of 45, limit 10: links %j', async (offset, expected) => {
      const res = await listOk(pager, { limit: 10, offset });
      expect(res.headers.get('x-total-count')).toBe('45');
      const links = parseLinks(res.headers.get('link'));
      expect(Object.keys(links).sort()).toEqual(Object.keys(expected).sort());
      for (const [rel, url] of Object.entries(links)) {
        expect(url.pathname).toBe('/api/v1/tasks');
        expect(url.searchParams.get('limit')).toBe('10');
        expect(Number(url.searchParams.get('offset')), rel).toBe(expected[rel as keyof typeof expected]);
      }
    });

    it('past the end: an empty page, the full total, a prev link back to tasks and no next', async () => {
      const res = await listOk(pager, { limit: 10, offset: 100 });
      expect(res.body).toEqual([]);
      expect(res.headers.get('x-total-count')).toBe('45');
      const links = parseLinks(res.headers.get('link'));
      expect(Object.keys(links).sort()).toEqual(['first', 'last', 'prev']);
      expect(Number(links.last?.searchParams.get('offset'))).toBe(40);
      expect(Number(links.prev?.searchParams.get('offset'))).toBeLessThan(100);
    });

    it('a page that holds everything has first and last only', async () => {
      const links = parseLinks((await listOk(pager, { limit: 100 })).headers.get('link'));
      expect(Object.keys(links).sort()).toEqual(['first', 'last']);
    });

    it('every link keeps the filters and sort and changes only limit and offset', async () => {
      const query = { status: 'pending,completed', priority: 'low,high', q: 'REPORT', sort: '-title', limit: 2, offset: 2 };
      const expected = expectedOrder(rows, '-title').filter((id) => {
        const row = rows.find((r) => r.id === id)!;
        return ['pending', 'completed'].includes(row.status) && ['low', 'high'].includes(row.priority) && matchesQ(row, 'report');
      });
      expect(expected.length).toBeGreaterThan(6);
      const res = await listOk(pager, query);
      expect(res.headers.get('x-total-count')).toBe(String(expected.length));
      const links = parseLinks(res.headers.get('link'));
      expect(Object.keys(links).sort()).toEqual(['first', 'last', 'next', 'prev']);
      const sent = toParams(query);
      for (const url of Object.values(links)) {
        expect(paramsWithout(url, 'limit', 'offset')).toEqual(paramsWithout(sent, 'limit', 'offset'));
        expect(url.searchParams.get('limit')).toBe('2');
      }

      // Following the next links from the first page visits every matching task once, in order.
      const visited: number[] = [];
      let next: URL | undefined = links.first;
      let pages = 0;
      while (next && pages++ < 50) {
        const page = await ctx.api.get<Task[]>(`${next.pathname.replace(/^\/api\/v1/, '')}${next.search}`, {
          token: pager.token,
        });
        expect(page.status).toBe(200);
        visited.push(...ids(page.body));
        next = parseLinks(page.headers.get('link')).next;
      }
      expect(visited).toEqual(expected);
    });
  });
});

describe('paging through 45 tasks', () => {
  it.each(SORTS)('sort=%s: pages of 10 join into the single-request order, each task exactly once', async (sort) => {
    const whole = await listOk(pager, { sort, limit: 100 });
    expect(ids(whole.body)).toEqual(expectedOrder(rows, sort));

    const paged: number[] = [];
    for (let offset = 0; offset < 45; offset += 10) {
      const page = await listOk(pager, { sort, limit: 10, offset });
      expect(page.body).toHaveLength(Math.min(10, 45 - offset));
      expect(page.headers.get('x-total-count')).toBe('45');
      paged.push(...ids(page.body));
    }
    expect((await listOk(pager, { sort, limit: 10, offset: 50 })).body).toEqual([]);

    expect(paged).toHaveLength(45);
    expect(new Set(paged).size).toBe(45);
    expect(sorted(paged)).toEqual(sorted(rows.map((r) => r.id)));
    expect(paged).toEqual(ids(whole.body));
  });
});

describe('combined filters', () => {
  type Filters = { status?: string; priority?: string; q?: string };
  const expectedFor = (f: Filters) =>
    rows
      .filter(
        (r) =>
          (f.status === undefined || f.status.split(',').includes(r.status)) &&
          (f.priority === undefined || f.priority.split(',').includes(r.priority)) &&
          (f.q === undefined || matchesQ(r, f.q)),
      )
      .map((r) => r.id);

  it.each([
    [{ status: 'pending', priority: 'high', q: 'report' }, true],
    [{ status: 'pending,in_progress', priority: 'low', q: 'REPORT' }, true],
    [{ status: 'completed', priority: 'medium,high', q: 'nothing' }, true],
    [{ status: 'in_progress,completed', priority: 'low,medium', q: 'bob' }, true],
    [{ status: 'pending', priority: 'low', q: 'milk' }, true],
    [{ status: 'completed', priority: 'high', q: 'no such words' }, false],
  ])('%j gives exactly the tasks matching all three (non-empty: %s)', async (query, nonEmpty) => {
    const expected = expectedFor(query);
    expect(expected.length > 0).toBe(nonEmpty);
    const res = await listOk(pager, { ...query, limit: 100 });
    expect(sorted(ids(res.body))).toEqual(sorted(expected));
    expect(res.headers.get('x-total-count')).toBe(String(expected.length));
    // Each filter is applied: without it the answer is the wider expected set, and that set differs.
    for (const name of ['status', 'priority', 'q'] as const) {
      const { [name]: _dropped, ...rest } = query;
      const wider = expectedFor(rest);
      if (nonEmpty) expect(wider.length).toBeGreaterThan(expected.length);
      const res = await listOk(pager, { ...rest, limit: 100 });
      expect(sorted(ids(res.body))).toEqual(sorted(wider));
    }
  });
});

describe('q folds case beyond ASCII', () => {
  it('finds "ÄRGER Straße ΣΊΣΥΦΟΣ" by lower-case ärger and σίσυφ', async () => {
    const user = await registerAndLogin(ctx.api, 'unicode');
    await ctx.api.post('/tasks', { title: 'ÄRGER Straße ΣΊΣΥΦΟΣ' }, { token: user.token });
    for (const q of ['ärger', 'ÄRGER', 'σίσυφ', 'straße']) {
      const res = await ctx.api.get(`/tasks?q=${encodeURIComponent(q)}`, { token: user.token });
      expect(
        res.body.map((t: { title: string }) => t.title),
        q,
      ).toEqual(['ÄRGER Straße ΣΊΣΥΦΟΣ']);
    }
  });

  it.each(['limit=0x5', 'limit=1e1', 'offset=+1', 'limit=05'])('%s (not a plain decimal) → 422', async (query) => {
    const user = await registerAndLogin(ctx.api, 'hex');
    expect((await ctx.api.get(`/tasks?${query}`, { token: user.token })).status).toBe(422);
  });
});
