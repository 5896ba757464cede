import { registerAndLogin } from '../../helpers/app.js';
import type { HttpClient } from '../../helpers/http.js';
import type { Account, World } from '../../helpers/security.js';

/** The five kinds of caller a project route is tried by. */
export type Caller = 'outsider' | 'viewer' | 'editor' | 'owner' | 'admin';
export const CALLERS: Caller[] = ['outsider', 'viewer', 'editor', 'owner', 'admin'];

export interface Cast {
  owner: Account;
  editor: Account;
  viewer: Account;
  outsider: Account;
  admin: Account;
}

/** A project of `cast.owner`'s, with `cast.editor` and `cast.viewer` added through the API: its id. */
export async function castProject(api: HttpClient, cast: Cast, name = 'a project'): Promise<number> {
  const created = await api.post('/projects', { name }, { token: cast.owner.token });
  if (created.status !== 201) throw new Error(`create project: ${created.status} ${created.text}`);
  const id = created.body.id as number;
  for (const [who, role] of [
    ['editor', 'editor'],
    ['viewer', 'viewer'],
  ] as const) {
    const added = await api.post(`/projects/${id}/members`, { username: cast[who].username, role }, { token: cast.owner.token });
    if (added.status !== 201) throw new Error(`add ${who}: ${added.status} ${added.text}`);
  }
  return id;
}

/** The cast of a security world: alice owns, bob is the outsider, and a new editor and viewer join. */
export async function castOfWorld(world: World): Promise<Cast> {
  return {
    owner: world.alice,
    outsider: world.bob,
    admin: world.admin,
    editor: await registerAndLogin(world.api, 'editor'),
    viewer: await registerAndLogin(world.api, 'viewer'),
  };
}
