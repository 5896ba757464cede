import { randomBytes } from 'node:crypto';
import { createTaskApi, type Task, TaskApiError } from '../../clients/typescript/src/index.js';

/**
 * A user's journey written against the official client, as an application would: it type-checks with
 * the project (npm run typecheck) and runs against a real server in typescript-client.test.ts.
 * Returns what it saw, for the test to check.
 */
export async function journey(baseUrl: string) {
  const suffix = randomBytes(3).toString('hex');
  const alice = { username: `alice_${suffix}`, email: `alice_${suffix}@example.com`, password: `pw-${suffix}-alice-long` };
  const bob = { username: `bob_${suffix}`, email: `bob_${suffix}@example.com`, password: `pw-${suffix}-bob-long` };

  const api = createTaskApi({ baseUrl });
  for (const account of [alice, bob]) {
    const { error } = await api.POST('/api/v1/auth/register', { body: account });
    if (error) throw new Error(`register: ${error.detail}`);
  }
  const me = await api.login(alice.username, alice.password);

  // Tasks with labels and due dates.
  const due = new Date(Date.now() + 86_400_000).toISOString();
  const { data: report } = await api.POST('/api/v1/tasks', {
    body: { title: 'Write the report', labels: ['work', 'Urgent'], due_at: due, priority: 'high' },
  });
  if (!report) throw new Error('create failed');
  const { data: urgent } = await api.GET('/api/v1/tasks', { params: { query: { label: 'urgent' } } });

  // A shared project: bob joins as an editor and adds a task alice sees.
  const { data: project } = await api.POST('/api/v1/projects', { body: { name: `Launch ${suffix}` } });
  if (!project) throw new Error('project failed');
  await api.POST('/api/v1/projects/{id}/members', {
    params: { path: { id: project.id } },
    body: { username: bob.username, role: 'editor' },
  });
  const bobs = createTaskApi({ baseUrl });
  await bobs.login(bob.username, bob.password);
  const { data: shared } = await bobs.POST('/api/v1/tasks', { body: { title: 'Book the venue', project_id: project.id } });
  const { data: inProject } = await api.GET('/api/v1/tasks', { params: { query: { project_id: String(project.id) } } });

  // Paging through 250 tasks by cursor, 100 a page.
  for (let batch = 0; batch < 10; batch++) {
    await Promise.all(
      Array.from({ length: 25 }, (_, i) => api.POST('/api/v1/tasks', { body: { title: `Task ${batch * 25 + i}` } })),
    );
  }
  const seen: Task[] = [];
  let pages = 0;
  for await (const page of api.pages('/api/v1/tasks', { params: { query: { cursor: '', limit: 100 } } })) {
    pages++;
    seen.push(...page);
  }

  // A refresh (rotating the refresh token), then logout: the login is over.
  const refreshed = await api.refresh();
  const afterRefresh = await api.GET('/api/v1/users/me');
  await api.logout();
  const afterLogout = await api.GET('/api/v1/users/me');
  let refusedAfterLogout = false;
  try {
    await api.login(alice.username, 'not the password');
  } catch (err) {
    refusedAfterLogout = err instanceof TaskApiError && err.status === 401;
  }
  await bobs.logout();

  return {
    me,
    report,
    urgent: urgent ?? [],
    project,
    shared,
    inProject: inProject ?? [],
    pages,
    seen,
    refreshed,
    afterRefresh: afterRefresh.response.status,
    afterLogout: afterLogout.response.status,
    authenticatedAfterLogout: api.authenticated,
    refusedAfterLogout,
  };
}
