import { randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { appsOnOneDatabase, registerAndLogin } from '../../helpers/app.js';

const apps = appsOnOneDatabase();

describe('memberships on every instance', () => {
  it('a removal or a demotion through one instance applies to the next request on another', async () => {
    // Two instances of one deployment: the same secrets, one database.
    const shared = { jwtSecret: randomBytes(32).toString('base64url'), passwordPepper: randomBytes(32).toString('base64url') };
    const [a, b] = [await apps.start(shared), await apps.start(shared)];
    const owner = await registerAndLogin(a.api, 'iowner');
    const member = await registerAndLogin(a.api, 'imember');
    const id = (await a.api.post('/projects', { name: 'shared' }, { token: owner.token })).body.id;
    await a.api.post(`/projects/${id}/members`, { username: member.username, role: 'editor' }, { token: owner.token });
    // Read through the other instance first, so anything it might keep would be warm.
    expect((await b.api.patch(`/projects/${id}`, { name: 'by editor' }, { token: member.token })).status).toBe(200);
    await a.api.patch(`/projects/${id}/members/${member.id}`, { role: 'viewer' }, { token: owner.token });
    expect((await b.api.patch(`/projects/${id}`, { name: 'again' }, { token: member.token })).status).toBe(403);
    expect((await b.api.get(`/projects/${id}`, { token: member.token })).body.role).toBe('viewer');
    await a.api.delete(`/projects/${id}/members/${member.id}`, { token: owner.token });
    expect((await b.api.get(`/projects/${id}`, { token: member.token })).status).toBe(404);
    expect((await b.api.get(`/projects/${id}/members`, { token: member.token })).status).toBe(404);
  });
});
