import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { registerAndLogin, setupTestApp, type TestContext } from '../../helpers/app.js';
import type { HttpResponse, TaskBody } from '../../helpers/http.js';

// GET /tasks by due date: the filters due_after (inclusive), due_before (exclusive), overdue and
// has_due, alone and with the other filters, their totals and links; sort by due_at, nulls last.

let ctx: TestContext;
type User = Awaited<ReturnType<typeof registerAndLogin>>;
let owner: User;
let outsider: User;
let admin: User;

const STATUSES = ['pending', 'in_progress', 'completed'];
const PRIORITIES = ['low', 'medium', 'high'];
const TITLES = ['Pay rent', 'pay the bills', 'Call Bob', 'Renew passport'];
/** An instant several tasks are due at exactly: the inclusive and exclusive ends meet here. */
const BOUNDARY = '2050-01-01T00:00:00.000Z';
// Past, future and the boundary, with repeats (ties broken by id) and tasks without a due date.
const DUES = [
  null,
  '2000-01-01T00:00:00.000Z',
  '2000-06-01T12:00:00.000Z',
  BOUNDARY,
  '2099-06-01T00:00:00.000Z',
  null,
  '2050-01-01T00:00:00.001Z',
  '2049-12-31T23:59:59.999Z',
];

interface Row {
  id: number;
  user_id: number;
  title: string;
  status: string;
  priority: string;
  due_at: string | null;
}

/** 40 tasks, inserted in a shuffled order: id order is no due-date order. */
const ownerRows = () =>
  Array.from({ length: 40 }, (_, k) => {
    const i = (k * 17) % 40;
    return {
      title: TITLES[i % TITLES.length]!,
      status: STATUSES[i % 3]!,
      priority: PRIORITIES[Math.floor(i / 2) % 3]!,
      due_at: DUES[(i * 3) % DUES.length]!,
    };
  });

async function insert(userId: number, rows: Array<Omit<Row, 'id' | 'user_id'>>): Promise<Row[]> {
  const out: Row[] = [];
  for (const r of rows) {
    const { rows: inserted } = await ctx.db.pool.query(
      'INSERT INTO tasks (user_id, title, status, priority, due_at) VALUES ($1, $2, $3, $4, $5) RETURNING id',
      [userId, r.title, r.status, r.priority, r.due_at],
    );
    out.push({ ...r, id: Number(inserted[0].id), user_id: userId });
  }
  return out;
}

let rows: Row[];
let everyone: Row[];

beforeAll(async () => {
  ctx = await setupTestApp();
  [owner, outsider, admin] = await Promise.all([
    registerAndLogin(ctx.api, 'dueowner'),
    registerAndLogin(ctx.api, 'dueoutsider'),
    registerAndLogin(ctx.api, 'dueadmin'),
  ]);
  await ctx.db.pool.query("UPDATE users SET role = 'admin' WHERE id = $1", [admin.id]);
  rows = await insert(owner.id, ownerRows());
  // Someone else's tasks match every filter too: never in the owner's lists, always in the admin's.
  const others = await insert(
    outsider.id,
    DUES.flatMap((due_at) => STATUSES.map((status) => ({ title: 'Pay rent', status, priority: 'high', due_at }))),
  );
  everyone = [...rows, ...others];
});
afterAll(() => ctx.close());

type Query = Record<string, string | number | boolean>;

async function list(user: User, query: Query): Promise<HttpResponse<TaskBody[]>> {
  const search = new URLSearchParams(Object.entries(query).map(([k, v]): [string, string] => [k, String(v)]));
  return ctx.api.get<TaskBody[]>(`/tasks?${search}`, { token: user.token });
}

async function listOk(user: User, query: Query): Promise<HttpResponse<TaskBody[]>> {
  const res = await list(user, query);
  expect(res.status, res.text).toBe(200);
  return res;
}

const at = (due: string | null) => (due === null ? null : Date.parse(due));
const isOverdue = (r: Row) => r.due_at !== null && Date.parse(r.due_at) < Date.now() && r.status !== 'completed';

/** Which rows a query selects, by the documented rules. */
function matches(r: Row, q: Query): boolean {
  const due = at(r.due_at);
  if (q.due_after !== undefined && (due === null || due < Date.parse(String(q.due_after)))) return false;
  if (q.due_before !== undefined && (due === null || due >= Date.parse(String(q.due_before)))) return false;
  if (q.overdue !== undefined && isOverdue(r) !== (q.overdue === true || q.overdue === 'true')) return false;
  if (q.has_due !== undefined && (due !== null) !== (q.has_due === true || q.has_due === 'true')) return false;
  if (q.status !== undefined && !String(q.status).split(',').includes(r.status)) return false;
  if (q.priority !== undefined && !String(q.priority).split(',').includes(r.priority)) return false;
  if (q.q !== undefined && !r.title.toLowerCase().includes(String(q.q).toLowerCase())) return false;
  return true;
}

/** The order of sort=due_at / -due_at: by instant, tasks without a due date last either way, ties by id alike. */
function dueOrder(selected: Row[], descending: boolean): number[] {
  const sign = descending ? -1 : 1;
  return [...selected]
    .sort((a, b) => {
      const x = at(a.due_at);
      const y = at(b.due_at);
      if (x === null || y === null) {
        if (x !== y) return x === null ? 1 : -1;
      } else if (x !== y) return (x - y) * sign;
      return (a.id - b.id) * sign;
    })
    .map((r) => r.id);
}

const ids = (tasks: TaskBody[]) => tasks.map((t) => t.id);
const sorted = (values: number[]) => [...values].sort((a, b) => a - b);

/** The query's whole answer, page by page (limit 7): each page's total is the full count. */
async function allPages(user: User, query: Query): Promise<{ ids: number[]; totals: string[] }> {
  const out: number[] = [];
  const totals: string[] = [];
  for (let offset = 0; offset < 100; offset += 7) {
    const res = await listOk(user, { ...query, limit: 7, offset });
    totals.push(res.headers.get('x-total-count') ?? '');
    out.push(...ids(res.body));
    if (res.body.length < 7) break;
  }
  return { ids: out, totals };
}

describe('the data covers every case', () => {
  it('has tasks before, at and after the boundary, overdue and completed ones, and none without due dates missing', () => {
    const dues = rows.map((r) => r.due_at);
    expect(dues.filter((d) => d === BOUNDARY).length).toBeGreaterThan(1);
    expect(dues.filter((d) => d === null).length).toBeGreaterThan(1);
    expect(rows.filter(isOverdue).length).toBeGreaterThan(1);
    expect(
      rows.filter((r) => r.due_at !== null && at(r.due_at)! < Date.now() && r.status === 'completed').length,
    ).toBeGreaterThan(0);
  });
});

describe('each due-date filter', () => {
  it.each<[string, Query]>([
    ['due_after at the boundary includes the tasks due exactly then', { due_after: BOUNDARY }],
    ['due_before at the boundary excludes the tasks due exactly then', { due_before: BOUNDARY }],
    ['due_after one millisecond later', { due_after: '2050-01-01T00:00:00.001Z' }],
    ['due_before one millisecond later', { due_before: '2050-01-01T00:00:00.001Z' }],
    ['a window [after, before)', { due_after: '2000-06-01T12:00:00Z', due_before: '2050-01-01T00:00:00.001Z' }],
    ['an empty window', { due_after: BOUNDARY, due_before: BOUNDARY }],
    ['overdue=true', { overdue: true }],
    ['overdue=false', { overdue: false }],
    ['has_due=true', { has_due: true }],
    ['has_due=false', { has_due: false }],
  ])('%s: exactly the matching tasks, with their total on every page', async (_case, query) => {
    const expected = dueOrder(
      rows.filter((r) => matches(r, query)),
      false,
    );
    const { ids: got, totals } = await allPages(owner, { ...query, sort: 'due_at' });
    expect(got).toEqual(expected);
    expect(new Set(totals)).toEqual(new Set([String(expected.length)]));
  });

  it('the inclusive and exclusive ends split the tasks with a due date in two, without loss or overlap', async () => {
    const after = ids((await listOk(owner, { due_after: BOUNDARY, limit: 100 })).body);
    const before = ids((await listOk(owner, { due_before: BOUNDARY, limit: 100 })).body);
    const withDue = ids((await listOk(owner, { has_due: true, limit: 100 })).body);
    expect(after.filter((id) => before.includes(id))).toEqual([]);
    expect(sorted([...after, ...before])).toEqual(sorted(withDue));
    const atBoundary = rows.filter((r) => r.due_at === BOUNDARY).map((r) => r.id);
    expect(after).toEqual(expect.arrayContaining(atBoundary));
  });

  it('overdue and not overdue are complements; overdue excludes completed tasks', async () => {
    const overdue = (await listOk(owner, { overdue: true, limit: 100 })).body;
    const notOverdue = (await listOk(owner, { overdue: false, limit: 100 })).body;
    expect(overdue.length).toBeGreaterThan(0);
    expect(overdue.every((t) => t.status !== 'completed' && Date.parse(t.due_at!) < Date.now())).toBe(true);
    expect(sorted([...ids(overdue), ...ids(notOverdue)])).toEqual(sorted(rows.map((r) => r.id)));
    // A completed task past its due date is not overdue; completing an overdue task takes it off the list.
    expect(notOverdue.some((t) => t.status === 'completed' && t.due_at !== null && Date.parse(t.due_at) < Date.now())).toBe(true);
    const [late] = overdue;
    const done = await ctx.api.patch<TaskBody>(`/tasks/${late!.id}`, { status: 'completed' }, { token: owner.token });
    expect(done.status).toBe(200);
    const after = await listOk(owner, { overdue: true, limit: 100 });
    expect(ids(after.body)).toEqual(ids(overdue).filter((id) => id !== late!.id));
    expect(after.headers.get('x-total-count')).toBe(String(overdue.length - 1));
    await ctx.api.patch(`/tasks/${late!.id}`, { status: late!.status }, { token: owner.token });
  });

  it('a task whose due date is moved into the past becomes overdue; one without a due date never is', async () => {
    const created = await ctx.api.post<TaskBody>(
      '/tasks',
      { title: 'moved due', due_at: '2099-01-01T00:00:00Z' },
      { token: outsider.token },
    );
    expect(created.status).toBe(201);
    expect(ids((await listOk(outsider, { overdue: true, limit: 100 })).body)).not.toContain(created.body.id);
    await ctx.api.put(
      `/tasks/${created.body.id}`,
      { due_at: new Date(Date.now() - 60_000).toISOString() },
      { token: outsider.token },
    );
    expect(ids((await listOk(outsider, { overdue: true, limit: 100 })).body)).toContain(created.body.id);
    await ctx.api.patch(`/tasks/${created.body.id}`, { due_at: null }, { token: outsider.token });
    expect(ids((await listOk(outsider, { overdue: true, limit: 100 })).body)).not.toContain(created.body.id);
    expect(ids((await listOk(outsider, { overdue: false, limit: 100 })).body)).toContain(created.body.id);
    await ctx.api.delete(`/tasks/${created.body.id}`, { token: outsider.token });
  });

  it('a date-time with an offset names the same instant as in UTC', async () => {
    const utc = await listOk(owner, { due_after: BOUNDARY, limit: 100 });
    const offset = await listOk(owner, { due_after: '2050-01-01T01:00:00+01:00', limit: 100 });
    expect(ids(offset.body)).toEqual(ids(utc.body));
    const west = await listOk(owner, { due_before: '2049-12-31T19:00:00-05:00', limit: 100 });
    expect(ids(west.body)).toEqual(ids((await listOk(owner, { due_before: BOUNDARY, limit: 100 })).body));
  });
});

describe('due-date filters with the others', () => {
  it.each<Query>([
    { due_after: '2000-06-01T12:00:00Z', status: 'pending,in_progress' },
    { due_before: BOUNDARY, priority: 'high' },
    { overdue: true, priority: 'low,medium' },
    { overdue: false, status: 'completed', q: 'pay' },
    { has_due: false, status: 'pending', priority: 'medium,high' },
    { has_due: true, q: 'PAY', due_before: '2099-01-01T00:00:00Z' },
    { due_after: BOUNDARY, due_before: '2099-12-31T00:00:00Z', overdue: false, has_due: true, status: 'in_progress' },
    { overdue: true, has_due: false },
  ])('%j: exactly the tasks matching all, total and every page right', async (query) => {
    const expected = rows.filter((r) => matches(r, query));
    // Only the contradiction (overdue without a due date) selects nothing.
    expect(expected.length === 0).toBe(query.overdue === true && query.has_due === false);
    const { ids: got, totals } = await allPages(owner, { ...query, sort: '-due_at' });
    expect(got).toEqual(dueOrder(expected, true));
    expect(new Set(totals)).toEqual(new Set([String(expected.length)]));
    // Past the last page the total is still exact.
    const past = await listOk(owner, { ...query, limit: 5, offset: 500 });
    expect(past.body).toEqual([]);
    expect(past.headers.get('x-total-count')).toBe(String(expected.length));
    // Each filter is applied: without it the answer is the wider set its rules give.
    for (const name of Object.keys(query)) {
      const { [name]: _dropped, ...rest } = query;
      const wider = rows.filter((r) => matches(r, rest));
      const res = await listOk(owner, { ...rest, limit: 100 });
      expect(sorted(ids(res.body)), `without ${name}`).toEqual(sorted(wider.map((r) => r.id)));
      expect(res.headers.get('x-total-count')).toBe(String(wider.length));
    }
  });

  it("an admin's list applies them across users, and with user_id to one user", async () => {
    const query = { overdue: true, priority: 'high' };
    const all = await listOk(admin, { ...query, limit: 100 });
    const expected = everyone.filter((r) => matches(r, query));
    expect(expected.some((r) => r.user_id === outsider.id) && expected.some((r) => r.user_id === owner.id)).toBe(true);
    expect(sorted(ids(all.body))).toEqual(sorted(expected.map((r) => r.id)));
    expect(all.headers.get('x-total-count')).toBe(String(expected.length));
    const one = await listOk(admin, { ...query, user_id: outsider.id, limit: 100 });
    const expectedOne = expected.filter((r) => r.user_id === outsider.id);
    expect(sorted(ids(one.body))).toEqual(sorted(expectedOne.map((r) => r.id)));
    expect(one.headers.get('x-total-count')).toBe(String(expectedOne.length));
  });

  it('a user never sees another user’s tasks through a due-date filter', async () => {
    const res = await listOk(outsider, { has_due: true, limit: 100 });
    expect(res.body.every((t) => t.user_id === outsider.id)).toBe(true);
  });

  it('every Link keeps the due-date filters and changes only limit and offset', async () => {
    const query = { due_after: '2000-01-01T00:00:00+00:00', overdue: false, has_due: true, sort: '-due_at', limit: 3, offset: 3 };
    const res = await listOk(owner, query);
    const links = (res.headers.get('link') ?? '').split(/,\s*(?=<)/).map((part) => /^<([^>]+)>/.exec(part)?.[1]);
    expect(links.length).toBe(4);
    for (const link of links) {
      const params = new URL(link!, 'http://link.invalid').searchParams;
      for (const name of ['due_after', 'overdue', 'has_due', 'sort']) {
        expect(params.get(name), `${name} in ${link}`).toBe(String(query[name as keyof typeof query]));
      }
    }
  });
});

describe('sort by due_at', () => {
  it.each([
    ['due_at', false],
    ['-due_at', true],
  ] as const)(
    'sort=%s: by instant, tasks without a due date last, ties by id in the same direction; pages join',
    async (sort, descending) => {
      const expected = dueOrder(rows, descending);
      const whole = await listOk(owner, { sort, limit: 100 });
      expect(ids(whole.body)).toEqual(expected);
      const tail = whole.body.slice(-rows.filter((r) => r.due_at === null).length);
      expect(tail.every((t) => t.due_at === null)).toBe(true);
      expect(whole.body[0]?.due_at).toBe(descending ? '2099-06-01T00:00:00.000Z' : '2000-01-01T00:00:00.000Z');
      const { ids: paged, totals } = await allPages(owner, { sort });
      expect(paged).toEqual(expected);
      expect(new Set(totals)).toEqual(new Set([String(rows.length)]));
    },
  );

  it("an admin's -due_at across users keeps nulls last", async () => {
    const res = await listOk(admin, { sort: '-due_at', limit: 100 });
    expect(ids(res.body)).toEqual(dueOrder(everyone, true).slice(0, 100));
  });
});

describe('invalid due-date parameters', () => {
  it.each([
    ['due_after', '2026-12-24'],
    ['due_after', 'yesterday'],
    ['due_after', ''],
    ['due_before', '2026-12-24T18:00:00'],
    ['due_before', '2026-02-30T00:00:00Z'],
    ['due_before', '0999-12-31T23:59:59Z'],
    ['due_before', '2026-12-24T18:00:00+0100'],
    ['overdue', 'yes'],
    ['overdue', '1'],
    ['overdue', ''],
    ['has_due', 'no'],
    ['has_due', 'TRUE'],
    ['sort', '+due_at'],
    ['sort', 'due'],
  ])('%s=%j is a 422 naming it in the query string', async (name, value) => {
    const res = await list(owner, { [name]: value });
    expect(res.status, res.text).toBe(422);
    expect(res.headers.get('content-type')).toMatch(/^application\/problem\+json/);
    expect((res.body as unknown as { errors: unknown[] }).errors).toContainEqual(
      expect.objectContaining({ location: 'querystring', field: name }),
    );
  });
});
