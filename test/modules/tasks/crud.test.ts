import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { registerAndLogin, setupTestApp, type TestContext } from '../../helpers/app.js';
import type { HttpResponse, TaskBody } from '../../helpers/http.js';

let ctx: TestContext;
beforeAll(async () => {
  ctx = await setupTestApp();
});
afterAll(() => ctx.close());

type User = Awaited<ReturnType<typeof registerAndLogin>>;
type Method = 'GET' | 'POST' | 'PUT' | 'PATCH' | 'DELETE';

type Task = TaskBody;

const TASK_KEYS = [
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
];
const MISSING_ID = 999_999_999;
const ISO_UTC = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?Z$/;

const send = (method: Method, path: string, body: unknown, token?: string) =>
  ctx.api.request(method, path, body, token === undefined ? {} : { token });

async function createTask(user: User, body: Record<string, unknown>): Promise<Task> {
  const res = await ctx.api.post<Task>('/tasks', body, { token: user.token });
  expect(res.status, res.text).toBe(201);
  return res.body;
}

async function getTask(user: User, id: number): Promise<HttpResponse<Task>> {
  return ctx.api.get<Task>(`/tasks/${id}`, { token: user.token });
}

/** Rows with this title, straight from the database (to prove a refused request stored nothing). */
async function rowsTitled(title: string): Promise<number> {
  const { rows } = await ctx.db.pool.query<{ n: string }>('SELECT count(*) AS n FROM tasks WHERE title = $1', [title]);
  return Number(rows[0]?.n);
}

/** All tasks in the database, whoever owns them. */
async function taskCount(): Promise<number> {
  const { rows } = await ctx.db.pool.query<{ n: string }>('SELECT count(*) AS n FROM tasks');
  return Number(rows[0]?.n);
}

async function ownerInDb(id: number): Promise<number> {
  const { rows } = await ctx.db.pool.query<{ user_id: string }>('SELECT user_id FROM tasks WHERE id = $1', [id]);
  return Number(rows[0]?.user_id);
}

function expectTaskShape(task: Task) {
  expect(Object.keys(task).sort()).toEqual(TASK_KEYS);
  expect(Number.isInteger(task.id)).toBe(true);
  expect(task.created_at).toMatch(ISO_UTC);
  expect(task.updated_at).toMatch(ISO_UTC);
}

function expectProblem(res: HttpResponse, status: number) {
  expect(res.status, res.text).toBe(status);
  expect(res.headers.get('content-type')).toMatch(/^application\/problem\+json/);
  expect(res.body).toMatchObject({ status, type: expect.any(String), title: expect.any(String), detail: expect.any(String) });
}

/** A 422 problem whose `errors` array names `field` (when given). */
function expectValidationError(res: HttpResponse, field?: string) {
  expectProblem(res, 422);
  expect(Array.isArray(res.body.errors)).toBe(true);
  expect(res.body.errors.length).toBeGreaterThan(0);
  if (field !== undefined) expect(res.body.errors.map((e: { field: string }) => e.field)).toContain(field);
}

describe('POST /tasks', () => {
  let user: User;
  let other: User;
  beforeAll(async () => {
    [user, other] = await Promise.all([registerAndLogin(ctx.api, 'creator'), registerAndLogin(ctx.api, 'other')]);
  });

  it('creates a task with defaults: 201, Location, exactly the task fields', async () => {
    const res = await ctx.api.post<Task>('/tasks', { title: 'Buy milk' }, { token: user.token });
    expect(res.status).toBe(201);
    expectTaskShape(res.body);
    expect(res.body).toMatchObject({
      user_id: user.id,
      title: 'Buy milk',
      description: null,
      status: 'pending',
      priority: 'medium',
    });
    expect(res.headers.get('location')).toBe(`/api/v1/tasks/${res.body.id}`);

    const fetched = await getTask(user, res.body.id);
    expect(fetched.status).toBe(200);
    expect(fetched.body).toEqual(res.body);
  });

  it('stores every field sent', async () => {
    const body = { title: 'Write report', description: 'Quarterly numbers', status: 'in_progress', priority: 'high' };
    const task = await createTask(user, body);
    expectTaskShape(task);
    expect(task).toMatchObject({ ...body, user_id: user.id });
    expect((await getTask(user, task.id)).body).toEqual(task);
  });

  it.each([
    ['status', 'pending'],
    ['status', 'in_progress'],
    ['status', 'completed'],
    ['priority', 'low'],
    ['priority', 'medium'],
    ['priority', 'high'],
  ])('accepts %s %s', async (field, value) => {
    const task = await createTask(user, { title: `enum ${field} ${value}`, [field]: value });
    expect(task[field as 'status' | 'priority']).toBe(value);
  });

  describe('title', () => {
    it('accepts 1 and 200 characters, stored as sent when there is nothing to trim', async () => {
      for (const title of ['x', 't'.repeat(200), '😀'.repeat(200)]) {
        const task = await createTask(user, { title });
        expect(task.title).toBe(title);
        expect((await getTask(user, task.id)).body.title).toBe(title);
      }
    });

    it.each([
      ['empty', ''],
      ['201 characters', 't'.repeat(201)],
      ['201 emoji', '😀'.repeat(201)],
      ['spaces only', '   '],
      ['a tab and newlines only', '\t\n\r\n'],
      ['no-break and ideographic spaces only', '\u00a0\u3000'],
    ])('refuses a title that is %s (422, nothing stored)', async (_case, title) => {
      const res = await ctx.api.post('/tasks', { title }, { token: user.token });
      expectValidationError(res, 'title');
      expect(await rowsTitled(title)).toBe(0);
    });

    it('counts the length after trimming: 200 characters between white space are accepted and stored trimmed', async () => {
      const cases: Array<[string, string]> = [
        [`   ${'w'.repeat(200)}   `, 'w'.repeat(200)],
        [`\t\n ${'😀'.repeat(200)}\u3000\u00a0`, '😀'.repeat(200)],
        // One definition of white space for the check and the trim: U+0085 is both blank and trimmed.
        ['\u0085Call the bank\u0085', 'Call the bank'],
        [`${' '.repeat(800)}x${' '.repeat(199)}`, 'x'],
        // Inside the title white space counts and is kept.
        [`a${' '.repeat(198)}b`, `a${' '.repeat(198)}b`],
        // U+FEFF is a format character, not white space (as in Unicode and Python): it is kept.
        ['\ufeffBOM', '\ufeffBOM'],
      ];
      for (const [sent, stored] of cases) {
        const task = await createTask(user, { title: sent });
        expect(task.title).toBe(stored);
        const { rows } = await ctx.db.pool.query('SELECT title FROM tasks WHERE id = $1', [task.id]);
        expect(rows[0]?.title).toBe(stored);
      }
    });

    it.each([
      ['201 characters between spaces', ` ${'w'.repeat(201)} `],
      ['201 characters with white space inside', `a${' '.repeat(199)}b`],
      ['over 1,000 characters as sent', `${' '.repeat(800)}x${' '.repeat(200)}`],
      ['U+0085 only', '\u0085\u0085'],
    ])('refuses a title of %s (422)', async (_case, title) => {
      expectValidationError(await ctx.api.post('/tasks', { title }, { token: user.token }), 'title');
    });

    it('refuses a missing title', async () => {
      expectValidationError(await ctx.api.post('/tasks', { description: 'no title' }, { token: user.token }), 'title');
    });
  });

  describe('description', () => {
    it('accepts 10000 characters and null', async () => {
      const long = await createTask(user, { title: 'long description', description: 'd'.repeat(10_000) });
      expect(long.description).toBe('d'.repeat(10_000));
      expect((await getTask(user, long.id)).body.description).toBe('d'.repeat(10_000));
      const none = await createTask(user, { title: 'null description', description: null });
      expect(none.description).toBeNull();
    });

    it('refuses 10001 characters', async () => {
      const title = 'too long description';
      expectValidationError(
        await ctx.api.post('/tasks', { title, description: 'd'.repeat(10_001) }, { token: user.token }),
        'description',
      );
      expect(await rowsTitled(title)).toBe(0);
    });
  });

  it.each([
    ['status', 'done'],
    ['status', 'PENDING'],
    ['status', 'in progress'],
    ['status', ''],
    ['priority', 'urgent'],
    ['priority', 'HIGH'],
    ['priority', ''],
  ])('refuses %s %j (422)', async (field, value) => {
    const title = `bad enum ${field} ${value}`;
    expectValidationError(await ctx.api.post('/tasks', { title, [field]: value }, { token: user.token }), field);
    expect(await rowsTitled(title)).toBe(0);
  });

  it.each([
    ['id', () => 123456],
    ['user_id', () => user.id],
    ['user_id', () => other.id],
    ['created_at', () => '2020-01-01T00:00:00.000Z'],
    ['updated_at', () => '2020-01-01T00:00:00.000Z'],
    ['completed_at', () => '2020-01-01T00:00:00.000Z'],
    ['owner', () => other.username],
  ])('refuses the extra field %s (422) and creates nothing', async (field, value) => {
    const title = `extra field ${field}`;
    const before = await taskCount();
    const res = await ctx.api.post('/tasks', { title, [field]: value() }, { token: user.token });
    expectValidationError(res, field);
    expect(await rowsTitled(title)).toBe(0);
    expect(await taskCount()).toBe(before);
  });

  it.each([
    ['an emoji', '📝 Plan 🚀 launch 👩‍💻 with 🇫🇷 flags'],
    ['Hebrew (right to left)', 'משימה חשובה: לקנות חלב'],
    ['Arabic with a right-to-left mark', 'مهمة \u200fجديدة ١٢٣'],
    ['quotes and backslashes', `He said "it's done" \\ 'ok' \`tick\``],
    ['an SQL injection attempt', "'; DROP TABLE tasks; --"],
    ['a script tag', '<script>alert(1)</script>'],
    ['combining characters and a zero-width joiner', 'e\u0301 n\u0303 \u200d'],
    ['inner newlines and tabs', 'line one\nline\ttwo'],
  ])('round-trips %s byte for byte in title and description', async (_case, text) => {
    const created = await ctx.api.post<Task>('/tasks', { title: text, description: text }, { token: user.token });
    expect(created.status, created.text).toBe(201);
    expect(created.body.title).toBe(text);
    expect(created.body.description).toBe(text);

    const fetched = await getTask(user, created.body.id);
    expect(Buffer.from(fetched.body.title)).toEqual(Buffer.from(text));
    expect(Buffer.from(fetched.body.description ?? '')).toEqual(Buffer.from(text));

    const { rows } = await ctx.db.pool.query('SELECT title, description FROM tasks WHERE id = $1', [created.body.id]);
    expect(rows[0]).toEqual({ title: text, description: text });
  });

  it('keeps a description byte for byte, surrounding white space included; only the title is trimmed', async () => {
    const text = '  padded\nline two\t ';
    const created = await ctx.api.post<Task>('/tasks', { title: text, description: text }, { token: user.token });
    expect(created.status, created.text).toBe(201);
    const { rows } = await ctx.db.pool.query('SELECT title, description FROM tasks WHERE id = $1', [created.body.id]);
    expect(rows[0]).toEqual({ title: 'padded\nline two', description: text });
  });

  it.each([
    ['title', { title: 'nul\u0000inside' }],
    ['title', { title: '\u0000' }],
    ['description', { title: 'nul in description', description: 'before\u0000after' }],
  ])('refuses a NUL character in the %s with 422, not 500', async (field, body) => {
    const before = await taskCount();
    const res = await ctx.api.post('/tasks', body, { token: user.token });
    expectValidationError(res, field);
    expect(await taskCount()).toBe(before);
  });

  it.each([
    ['title', 123],
    ['title', null],
    ['title', true],
    ['title', ['a list']],
    ['title', { text: 'an object' }],
    ['description', 42],
    ['description', false],
    ['status', null],
    ['status', 1],
    ['priority', null],
    ['priority', ['high']],
  ])('refuses %s of the wrong JSON type %j (422)', async (field, value) => {
    const before = await taskCount();
    const body = { title: 'wrong type', [field]: value };
    expectValidationError(await ctx.api.post('/tasks', body, { token: user.token }), field);
    expect(await taskCount()).toBe(before);
  });
});

describe('ownership', () => {
  let alice: User;
  let bob: User;
  let admin: User;
  let aliceTask: Task;
  let bobTask: Task;

  beforeAll(async () => {
    [alice, bob, admin] = await Promise.all([
      registerAndLogin(ctx.api, 'alice'),
      registerAndLogin(ctx.api, 'bob'),
      registerAndLogin(ctx.api, 'admin'),
    ]);
    await ctx.db.pool.query("UPDATE users SET role = 'admin' WHERE id = $1", [admin.id]);
    aliceTask = await createTask(alice, { title: 'Alice private', description: 'secret', priority: 'high' });
    bobTask = await createTask(bob, { title: 'Bob own' });
  });

  const attempts: Array<[Method, unknown]> = [
    ['GET', undefined],
    ['PUT', { title: 'taken over' }],
    ['PATCH', { status: 'completed' }],
    ['DELETE', undefined],
  ];

  it.each(attempts)(
    "another user's %s of a task is a 404 identical to a missing task's, and changes nothing",
    async (method, body) => {
      const missing = await send(method, `/tasks/${MISSING_ID}`, body, bob.token);
      expectProblem(missing, 404);

      const res = await send(method, `/tasks/${aliceTask.id}`, body, bob.token);
      expect(res.status).toBe(404);
      expect(res.headers.get('content-type')).toBe(missing.headers.get('content-type'));
      expect(res.body).toEqual(missing.body);

      const after = await getTask(alice, aliceTask.id);
      expect(after.status).toBe(200);
      expect(after.body).toEqual(aliceTask);
    },
  );

  it("a user's list never contains another user's tasks", async () => {
    const res = await ctx.api.get<Task[]>('/tasks?limit=100', { token: bob.token });
    expect(res.status).toBe(200);
    expect(res.body.map((t) => t.id)).toEqual([bobTask.id]);
    expect(res.body.every((t) => t.user_id === bob.id)).toBe(true);
    expect(res.headers.get('x-total-count')).toBe('1');
  });

  it("a user asking for another user's tasks (user_id) gets 403", async () => {
    const res = await ctx.api.get(`/tasks?user_id=${alice.id}`, { token: bob.token });
    expectProblem(res, 403);
  });

  it('a user asking for their own user_id gets their own tasks', async () => {
    const res = await ctx.api.get<Task[]>(`/tasks?user_id=${bob.id}`, { token: bob.token });
    expect(res.status).toBe(200);
    expect(res.body.map((t) => t.id)).toEqual([bobTask.id]);
  });

  it.each([['PUT'], ['PATCH']] as Array<[Method]>)('%s cannot move a task to another user (422, owner kept)', async (method) => {
    for (const body of [{ user_id: bob.id }, { user_id: bob.id, title: 'moved' }]) {
      expectValidationError(await send(method, `/tasks/${aliceTask.id}`, body, alice.token), 'user_id');
      // Not even an admin.
      expectValidationError(await send(method, `/tasks/${aliceTask.id}`, body, admin.token), 'user_id');
    }
    expect(await ownerInDb(aliceTask.id)).toBe(alice.id);
    expect((await getTask(alice, aliceTask.id)).body).toEqual(aliceTask);
  });

  describe('an admin', () => {
    it("reads any user's task", async () => {
      const res = await getTask(admin, aliceTask.id);
      expect(res.status).toBe(200);
      expect(res.body).toEqual(aliceTask);
    });

    it("lists everyone's tasks, or one user's with user_id", async () => {
      const all = await ctx.api.get<Task[]>('/tasks?limit=100', { token: admin.token });
      expect(all.status).toBe(200);
      const ids = all.body.map((t) => t.id);
      expect(ids).toContain(aliceTask.id);
      expect(ids).toContain(bobTask.id);
      const { rows } = await ctx.db.pool.query<{ n: string }>('SELECT count(*) AS n FROM tasks');
      expect(Number(all.headers.get('x-total-count'))).toBe(Number(rows[0]?.n));

      const onlyAlice = await ctx.api.get<Task[]>(`/tasks?limit=100&user_id=${alice.id}`, { token: admin.token });
      expect(onlyAlice.status).toBe(200);
      expect(onlyAlice.body.map((t) => t.id)).toEqual([aliceTask.id]);
      expect(onlyAlice.headers.get('x-total-count')).toBe('1');
    });

    it("updates any user's task, which keeps its owner", async () => {
      const task = await createTask(alice, { title: 'Alice, to be edited by an admin' });
      const res = await ctx.api.patch<Task>(`/tasks/${task.id}`, { status: 'completed' }, { token: admin.token });
      expect(res.status).toBe(200);
      expect(res.body).toMatchObject({ id: task.id, user_id: alice.id, status: 'completed', title: task.title });
      expect((await getTask(alice, task.id)).body).toEqual(res.body);
    });

    it("deletes any user's task", async () => {
      const task = await createTask(alice, { title: 'Alice, to be deleted by an admin' });
      const res = await ctx.api.delete(`/tasks/${task.id}`, { token: admin.token });
      expect(res.status).toBe(204);
      expect((await getTask(alice, task.id)).status).toBe(404);
    });
  });
});

describe('task ids in the path', () => {
  let user: User;
  let task: Task;
  beforeAll(async () => {
    user = await registerAndLogin(ctx.api, 'ids');
    task = await createTask(user, { title: 'Target' });
  });

  // Non-decimal spellings that Number() would read as a valid id are refused too.
  const badIds = [
    'abc',
    '0',
    '-1',
    '1.5',
    '99999999999999999999',
    '9007199254740992',
    '1e3x',
    '%20',
    '0x10',
    '1e1',
    '+1',
    '01',
    '%201',
  ];
  const methods: Array<[Method, unknown]> = [
    ['GET', undefined],
    ['PUT', { title: 'x' }],
    ['PATCH', { title: 'x' }],
    ['DELETE', undefined],
  ];
  const cases = badIds.flatMap((id) => methods.map(([method, body]) => [method, id, body] as const));

  it.each(cases)('%s /tasks/%s is a 422, never a 500', async (method, id, body) => {
    const res = await send(method, `/tasks/${id}`, body, user.token);
    expectValidationError(res, 'id');
  });

  it('the largest safe integer is a valid id: 404', async () => {
    expectProblem(await getTask(user, Number.MAX_SAFE_INTEGER), 404);
  });

  it('the task itself was untouched by the refused requests', async () => {
    expect((await getTask(user, task.id)).body).toEqual(task);
  });

  it('/tasks/admin/stats is its own route: a normal user gets 403, not a 422 for id "admin"', async () => {
    expectProblem(await ctx.api.get('/tasks/admin/stats', { token: user.token }), 403);
  });
});

describe.each([['PUT'], ['PATCH']] as Array<[Method]>)('%s /tasks/:id', (method) => {
  let user: User;
  beforeAll(async () => {
    user = await registerAndLogin(ctx.api, `upd${method}`);
  });

  it('changes only the fields sent; updated_at grows each time, created_at never changes', async () => {
    const created = await createTask(user, { title: 'Original', description: 'First text', status: 'pending', priority: 'low' });
    const changes: Array<Record<string, unknown>> = [
      { title: 'Renamed' },
      { status: 'in_progress' },
      { priority: 'high' },
      { description: 'Second text' },
      { description: null },
      { status: 'completed', priority: 'medium' },
      { title: 'All at once', description: 'Third text', status: 'pending', priority: 'low' },
    ];
    let previous = created;
    for (const change of changes) {
      const res = await send(method, `/tasks/${created.id}`, change, user.token);
      expect(res.status, res.text).toBe(200);
      expectTaskShape(res.body);
      expect(res.body).toEqual({ ...previous, ...change, updated_at: res.body.updated_at });
      expect(res.body.created_at).toBe(created.created_at);
      expect(Date.parse(res.body.updated_at)).toBeGreaterThan(Date.parse(previous.updated_at));
      expect((await getTask(user, created.id)).body).toEqual(res.body);
      previous = res.body;
    }
  });

  it('updated_at strictly increases even for changes in quick succession', async () => {
    const task = await createTask(user, { title: 'quick 0' });
    const stamps = [task.updated_at];
    for (let i = 1; i <= 20; i++) {
      const res = await send(method, `/tasks/${task.id}`, { title: `quick ${i}` }, user.token);
      expect(res.status).toBe(200);
      stamps.push(res.body.updated_at);
    }
    for (let i = 1; i < stamps.length; i++) {
      expect(Date.parse(stamps[i]!), `change ${i}: ${stamps[i - 1]} -> ${stamps[i]}`).toBeGreaterThan(Date.parse(stamps[i - 1]!));
    }
  });

  it('sets the description to null', async () => {
    const task = await createTask(user, { title: 'Has a description', description: 'to be cleared' });
    const res = await send(method, `/tasks/${task.id}`, { description: null }, user.token);
    expect(res.status).toBe(200);
    expect(res.body.description).toBeNull();
    expect((await getTask(user, task.id)).body.description).toBeNull();
    const { rows } = await ctx.db.pool.query('SELECT description FROM tasks WHERE id = $1', [task.id]);
    expect(rows[0]?.description).toBeNull();
  });

  it.each([
    ['an empty body', {}, undefined],
    ['an unknown field', { foo: 'bar' }, 'foo'],
    ['id', { id: 1 }, 'id'],
    ['id with a valid field', { id: 1, title: 'with id' }, 'id'],
    ['created_at', { created_at: '2020-01-01T00:00:00.000Z' }, 'created_at'],
    ['updated_at', { updated_at: '2020-01-01T00:00:00.000Z' }, 'updated_at'],
    ['completed_at', { completed_at: '2020-01-01T00:00:00.000Z' }, 'completed_at'],
    ['a blank title', { title: '  ' }, 'title'],
    ['an empty title', { title: '' }, 'title'],
    ['a 201-character title', { title: 't'.repeat(201) }, 'title'],
    ['a null title', { title: null }, 'title'],
    ['a NUL in the title', { title: 'a\u0000b' }, 'title'],
    ['a 10001-character description', { description: 'd'.repeat(10_001) }, 'description'],
    ['a bad status', { status: 'done' }, 'status'],
    ['a null priority', { priority: null }, 'priority'],
  ])('refuses %s (422) and changes nothing', async (_case, body, field) => {
    const task = await createTask(user, { title: 'Stays as is', description: 'unchanged', priority: 'high' });
    expectValidationError(await send(method, `/tasks/${task.id}`, body, user.token), field);
    expect((await getTask(user, task.id)).body).toEqual(task);
  });

  it('stores a changed title trimmed, its trimmed length counted', async () => {
    const task = await createTask(user, { title: 'Before' });
    const res = await send(method, `/tasks/${task.id}`, { title: `  ${'w'.repeat(200)}\u0085` }, user.token);
    expect(res.status, res.text).toBe(200);
    expect(res.body.title).toBe('w'.repeat(200));
    expect((await getTask(user, task.id)).body.title).toBe('w'.repeat(200));
  });

  it(`${method} of a task that does not exist is a 404`, async () => {
    expectProblem(await send(method, `/tasks/${MISSING_ID}`, { title: 'x' }, user.token), 404);
  });
});

describe('DELETE /tasks/:id', () => {
  it('answers 204 with an empty body; the task is gone and a second delete is a 404', async () => {
    const user = await registerAndLogin(ctx.api, 'deleter');
    const task = await createTask(user, { title: 'Short-lived' });
    const keep = await createTask(user, { title: 'Stays' });

    const res = await ctx.api.delete(`/tasks/${task.id}`, { token: user.token });
    expect(res.status).toBe(204);
    expect(res.text).toBe('');

    expectProblem(await getTask(user, task.id), 404);
    expectProblem(await ctx.api.delete(`/tasks/${task.id}`, { token: user.token }), 404);
    expectProblem(await ctx.api.patch(`/tasks/${task.id}`, { title: 'back?' }, { token: user.token }), 404);
    const { rowCount } = await ctx.db.pool.query('SELECT 1 FROM tasks WHERE id = $1', [task.id]);
    expect(rowCount).toBe(0);
    // Only that task.
    expect((await getTask(user, keep.id)).body).toEqual(keep);
  });
});

describe('without a token', () => {
  let user: User;
  let task: Task;
  beforeAll(async () => {
    user = await registerAndLogin(ctx.api, 'anon');
    task = await createTask(user, { title: 'Guarded' });
  });

  const routes: Array<[Method, string, unknown]> = [
    ['POST', '/tasks', { title: 'anonymous task' }],
    ['POST', '/tasks', { title: 'anonymous task', bogus: true }],
    ['GET', '/tasks', undefined],
    ['GET', '/tasks?status=bogus', undefined],
    ['GET', '/tasks/:id', undefined],
    ['GET', '/tasks/abc', undefined],
    ['PUT', '/tasks/:id', { title: 'anonymous edit' }],
    ['PATCH', '/tasks/:id', { title: 'anonymous edit' }],
    ['PATCH', '/tasks/:id', {}],
    ['DELETE', '/tasks/:id', undefined],
    ['DELETE', '/tasks/abc', undefined],
  ];

  it.each(routes)('%s %s %j is a 401', async (method, path, body) => {
    const res = await send(method, path.replace(':id', String(task.id)), body);
    expectProblem(res, 401);
    expect(res.headers.get('www-authenticate')).toBe('Bearer');
  });

  it('nothing was created, changed or deleted', async () => {
    expect(await rowsTitled('anonymous task')).toBe(0);
    const { rows } = await ctx.db.pool.query('SELECT id FROM tasks WHERE user_id = $1', [user.id]);
    expect(rows.map((r) => Number(r.id))).toEqual([task.id]);
    expect((await getTask(user, task.id)).body).toEqual(task);
  });
});

describe('text the database could not keep as sent', () => {
  let user: User;
  beforeAll(async () => {
    user = await registerAndLogin(ctx.api, 'text');
  });

  it('a title of only U+0085 (next line) is blank: 422', async () => {
    expectValidationError(await ctx.api.post('/tasks', { title: '\u0085' }, { token: user.token }), 'title');
  });

  it.each([
    ['title', '{"title":"a\\ud800b"}'],
    ['description', '{"title":"ok","description":"\\udfff"}'],
  ])('a lone surrogate in %s is a 422, not silently replaced', async (field, raw) => {
    const before = await taskCount();
    const res = await ctx.api.post('/tasks', undefined, {
      token: user.token,
      raw,
      headers: { 'content-type': 'application/json' },
    });
    expectValidationError(res, field);
    expect(await taskCount()).toBe(before);
  });

  it('a paired surrogate (an emoji) is fine', async () => {
    expect((await createTask(user, { title: '\ud83d\ude00' })).title).toBe('😀');
  });
});

describe('updated_at as the API shows it', () => {
  let user: User;
  beforeAll(async () => {
    user = await registerAndLogin(ctx.api, 'clock');
  });

  it('changes within one millisecond still show distinct, increasing values', async () => {
    const task = await createTask(user, { title: 'race' });
    const results = await Promise.all(
      Array.from({ length: 20 }, (_, i) => ctx.api.patch<Task>(`/tasks/${task.id}`, { title: `c${i}` }, { token: user.token })),
    );
    expect(results.every((r) => r.status === 200)).toBe(true);
    const stamps = results.map((r) => r.body.updated_at);
    expect(new Set(stamps).size).toBe(20);
    expect(stamps.every((t) => t > task.updated_at)).toBe(true);
  });

  it('keeps increasing when the clock is behind the last change', async () => {
    const { rows } = await ctx.db.pool.query<{ id: string }>(
      "INSERT INTO tasks (user_id, title, created_at, updated_at) VALUES ($1, 'clock', now(), now() + interval '1 second') RETURNING id",
      [user.id],
    );
    const id = Number(rows[0]?.id);
    const initial = (await getTask(user, id)).body.updated_at;
    const one = (await ctx.api.patch<Task>(`/tasks/${id}`, { title: 'one' }, { token: user.token })).body.updated_at;
    const two = (await ctx.api.patch<Task>(`/tasks/${id}`, { title: 'two' }, { token: user.token })).body.updated_at;
    expect(initial < one && one < two).toBe(true);
  });
});
