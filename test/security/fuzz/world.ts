import { randomBytes } from 'node:crypto';
import http from 'node:http';
import net from 'node:net';
import type pg from 'pg';
import type { HttpClient } from '../../helpers/http.js';
import type { Actor, FuzzRequest, PathId } from './requests.js';
import { SharedProjects } from './shared.js';
import { formEncode, type Secrets, writeJson } from './values.js';

export interface Account extends Secrets {
  id: number;
  token: string;
}

export interface SentRequest {
  method: string;
  path: string;
  headers: Record<string, string>;
  body?: string;
}

export interface Response {
  status: number;
  headers: http.IncomingHttpHeaders;
  text: string;
}

/** One request over a fresh connection, sent exactly as built (Node checks only header syntax). */
export async function send(baseUrl: string, request: SentRequest, timeoutMs = 20_000): Promise<Response> {
  try {
    return await sendWithClient(baseUrl, request, timeoutMs);
  } catch (err) {
    // Node's client refuses some answers to a GET with a body that arrive before the body is
    // written ("Data after Connection: close"); read those off the socket instead.
    if (!/Parse Error/.test((err as Error).message)) throw err;
    return sendRaw(baseUrl, request, timeoutMs);
  }
}

/** The request written by hand on a socket; the first response read back by hand. */
function sendRaw(baseUrl: string, request: SentRequest, timeoutMs: number): Promise<Response> {
  const base = new URL(baseUrl);
  const body = request.body === undefined ? undefined : Buffer.from(request.body, 'utf8');
  const lines = [`${request.method} ${request.path} HTTP/1.1`, `host: ${base.host}`, 'connection: close'];
  for (const [name, value] of Object.entries(request.headers)) lines.push(`${name}: ${value}`);
  if (body) lines.push(`content-length: ${body.length}`);
  const head = Buffer.from(`${lines.join('\r\n')}\r\n\r\n`, 'latin1');
  return new Promise((resolve, reject) => {
    const socket = net.connect(Number(base.port), base.hostname);
    const chunks: Buffer[] = [];
    socket.setTimeout(timeoutMs, () => socket.destroy(new Error(`no response in ${timeoutMs} ms`)));
    socket.on('connect', () => socket.end(body ? Buffer.concat([head, body]) : head));
    socket.on('data', (c: Buffer) => chunks.push(c));
    socket.on('error', reject);
    socket.on('close', () => {
      const all = Buffer.concat(chunks);
      const end = all.indexOf('\r\n\r\n');
      if (end < 0) return reject(new Error(`no complete response: ${JSON.stringify(all.toString('latin1').slice(0, 200))}`));
      const [statusLine = '', ...headerLines] = all.subarray(0, end).toString('latin1').split('\r\n');
      const headers: http.IncomingHttpHeaders = {};
      for (const line of headerLines) {
        const colon = line.indexOf(':');
        headers[line.slice(0, colon).trim().toLowerCase()] = line.slice(colon + 1).trim();
      }
      const length = Number(headers['content-length'] ?? Number.NaN);
      const rest = all.subarray(end + 4);
      const text = (Number.isFinite(length) ? rest.subarray(0, length) : rest).toString('utf8');
      resolve({ status: Number(statusLine.split(' ')[1]), headers, text });
    });
  });
}

function sendWithClient(baseUrl: string, request: SentRequest, timeoutMs = 20_000): Promise<Response> {
  const base = new URL(baseUrl);
  return new Promise((resolve, reject) => {
    const req = http.request(
      {
        host: base.hostname,
        port: base.port,
        method: request.method,
        path: request.path,
        headers: request.headers,
        agent: false,
      },
      (res) => {
        const chunks: Buffer[] = [];
        const done = () =>
          resolve({ status: res.statusCode ?? 0, headers: res.headers, text: Buffer.concat(chunks).toString('utf8') });
        // A stream (GET /stream) never ends by itself: its first chunk is the answer; the connection is closed then.
        if (String(res.headers['content-type']).startsWith('text/event-stream')) {
          res.once('data', (c: Buffer) => {
            chunks.push(c);
            done();
            req.destroy();
          });
          return;
        }
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () =>
          resolve({ status: res.statusCode ?? 0, headers: res.headers, text: Buffer.concat(chunks).toString('utf8') }),
        );
        res.on('error', reject);
      },
    );
    req.setTimeout(timeoutMs, () => req.destroy(new Error(`no response in ${timeoutMs} ms`)));
    req.on('error', reject);
    if (request.body !== undefined) req.end(Buffer.from(request.body, 'utf8'));
    else req.end();
  });
}

export function sessionOf(token: string): string | undefined {
  try {
    const payload = JSON.parse(Buffer.from(token.split('.')[1] ?? '', 'base64url').toString('utf8'));
    return typeof payload.sid === 'string' ? payload.sid : undefined;
  } catch {
    return undefined;
  }
}

/**
 * The people in a fuzz run. `user` (A) is fuzzed; `victim` (B) owns tasks whose titles carry a
 * random marker, and is never touched by the fuzzer's own credentials, so any change to B's rows or
 * any response to A or an anonymous caller that carries B's marker is a defect. `admin` is fuzzed
 * too; admins may see B, but their writes aimed at A or B are redirected to `spare` (C), so an
 * admin's legitimate change (a promotion of A, a deleted task of B) is not mistaken for a leak.
 *
 * B also shares two projects with A, one as a viewer and one as an editor (`shared`, fuzz/shared.ts).
 */
export class World {
  readonly marker = `mk${randomBytes(6).toString('hex')}`;
  readonly shared: SharedProjects;
  user!: Account;
  admin!: Account;
  victim!: Account;
  spare!: Account;
  /** Users whose fuzzed requests were answered with a re-login after their login was ended. */
  relogins = 0;

  constructor(
    readonly baseUrl: string,
    readonly api: HttpClient,
    readonly pool: pg.Pool,
  ) {
    this.shared = new SharedProjects(api, pool);
  }

  async setup(): Promise<void> {
    this.user = await this.register('fza');
    this.victim = await this.register(`fzb${this.marker}`);
    this.spare = await this.register('fzc');
    this.admin = await this.register('fzadmin');
    await this.pool.query("UPDATE users SET role = 'admin' WHERE id = $1", [this.admin.id]);
    for (const account of [this.user, this.victim, this.spare, this.admin]) {
      for (let i = 0; i < 3; i++) {
        const created = await this.api.post(
          '/tasks',
          {
            title: `${account === this.victim ? this.marker : 'task'} ${i}`,
            description: `${account.username} notes ${i}`,
            // Labels too are the owner's: B's carry the marker.
            labels: [`${account === this.victim ? this.marker : 'label'}-${i}`],
          },
          { token: account.token },
        );
        if (created.status !== 201) throw new Error(`task setup failed: ${created.status} ${created.text}`);
      }
      // And a personal access token each, which only its owner may list or delete.
      const token = await this.api.post('/users/me/tokens', { name: 'fuzz', scopes: ['tasks:read'] }, { token: account.token });
      if (token.status !== 201) throw new Error(`token setup failed: ${token.status} ${token.text}`);
      // And a project each, owned: B's carries the marker.
      const name = `${account === this.victim ? this.marker : 'project'} of ${account.username}`;
      const project = await this.api.post('/projects', { name }, { token: account.token });
      if (project.status !== 201) throw new Error(`project setup failed: ${project.status} ${project.text}`);
      // And a webhook each (at a name that never resolves).
      const webhook = await this.api.post(
        '/webhooks',
        {
          url: 'https://hooks.invalid/fuzz',
          events: ['webhook.disabled'],
          description: account === this.victim ? this.marker : null,
        },
        { token: account.token },
      );
      if (webhook.status !== 201) throw new Error(`webhook setup failed: ${webhook.status} ${webhook.text}`);
    }
    await this.shared.setup(this.victim, this.user, this.spare);
  }

  private async register(prefix: string): Promise<Account> {
    const username = `${prefix}_${randomBytes(3).toString('hex')}`;
    const password = `pw-${randomBytes(8).toString('hex')}`;
    const email = `${username}@example.com`;
    const registered = await this.api.post('/auth/register', { username, email, password });
    if (registered.status !== 201) throw new Error(`register failed: ${registered.status} ${registered.text}`);
    const account = { id: registered.body.id as number, username, email, password, token: '', refresh: '' };
    await this.login(account);
    return account;
  }

  async login(account: Account): Promise<void> {
    const login = await this.api.post('/auth/login', { username: account.username, password: account.password });
    if (login.status !== 200) throw new Error(`login of ${account.username} failed: ${login.status} ${login.text}`);
    account.token = login.body.access_token;
    account.refresh = login.body.refresh_token;
  }

  account(actor: Actor): Account | undefined {
    return actor === 'user' ? this.user : actor === 'admin' ? this.admin : undefined;
  }

  /**
   * `victim`: B's rows, everything a request could change about B, with the shared projects as A's roles
   * protect them: `shared.view`'s row, members and B's tasks in it, and `shared.edit`'s members and its
   * row but for what an editor may change (name, description, updated_at). `viewTasks`: the other tasks
   * in `shared.view`, which an admin may move in or out, and A never.
   */
  async states(): Promise<{ victim: string; viewTasks: string }> {
    const { rows } = await this.pool.query<{ state: string; others: string | null }>(
      `SELECT json_build_object(
         'user', (SELECT row_to_json(u) FROM users u WHERE id = $1),
         'tasks', (SELECT json_agg(t ORDER BY t.id) FROM tasks t WHERE user_id = $1),
         'sessions', (SELECT json_agg(s ORDER BY s.id) FROM auth_sessions s WHERE user_id = $1),
         'refresh', (SELECT json_agg(r ORDER BY r.id) FROM refresh_tokens r JOIN auth_sessions s ON s.id = r.session_id WHERE s.user_id = $1),
         'idempotency', (SELECT json_agg(i ORDER BY i.key) FROM idempotency_keys i WHERE user_id = $1),
         'counts', (SELECT json_agg(c ORDER BY c.status, c.priority, c.shard) FROM task_counts c WHERE user_id = $1),
         'labels', (SELECT json_agg(l ORDER BY l.id) FROM labels l WHERE user_id = $1),
         'access_tokens', (SELECT json_agg(p ORDER BY p.id) FROM personal_access_tokens p WHERE user_id = $1),
         'webhooks', (SELECT json_agg(w ORDER BY w.id) FROM webhooks w WHERE user_id = $1),
         'deliveries', (SELECT json_agg(d ORDER BY d.id) FROM webhook_deliveries d JOIN webhooks w ON w.id = d.webhook_id WHERE w.user_id = $1),
         'task_labels', (SELECT json_agg(tl ORDER BY tl.task_id, tl.label_id) FROM task_labels tl JOIN labels l ON l.id = tl.label_id WHERE l.user_id = $1),
         'projects', (SELECT json_agg(p ORDER BY p.id) FROM projects p WHERE id IN (SELECT project_id FROM project_members WHERE user_id = $1) AND id <> $3),
         'members', (SELECT json_agg(m ORDER BY m.project_id, m.user_id) FROM project_members m WHERE project_id IN (SELECT project_id FROM project_members WHERE user_id = $1) AND NOT (m.user_id = $4 AND m.project_id IN ($2, $3))),
         'a_changed', (SELECT json_agg(m) FROM project_members m WHERE m.user_id = $4 AND m.project_id IN ($2, $3) AND (m.project_id, m.role::text, m.created_at::text) NOT IN (SELECT * FROM unnest($5::bigint[], $6::text[], $7::text[]))),
         'edit_project', (SELECT to_jsonb(p) - 'name' - 'description' - 'updated_at' FROM projects p WHERE id = $3)
       )::text AS state,
       (SELECT json_agg(t ORDER BY t.id) FROM tasks t WHERE project_id = $2 AND user_id <> $1)::text AS others`,
      [
        this.victim.id,
        this.shared.view,
        this.shared.edit,
        this.user.id,
        this.shared.memberships.map((m) => m.project_id),
        this.shared.memberships.map((m) => m.role),
        this.shared.memberships.map((m) => m.created_at),
      ],
    );
    return { victim: rows[0]?.state ?? '', viewTasks: rows[0]?.others ?? '' };
  }

  async victimState(): Promise<string> {
    return (await this.states()).victim;
  }

  async roleOf(id: number): Promise<{ role: string; is_active: boolean } | undefined> {
    const { rows } = await this.pool.query('SELECT role, is_active FROM users WHERE id = $1', [id]);
    return rows[0];
  }

  async sessionRevoked(sessionId: string): Promise<boolean> {
    const { rows } = await this.pool.query('SELECT revoked_at IS NOT NULL AS revoked FROM auth_sessions WHERE id = $1', [
      sessionId,
    ]);
    return rows[0]?.revoked ?? true;
  }

  /** One of the owner's tasks, or of a task in `projects` (A's other tasks: B's and the shared projects'). */
  private async taskIdOf(owner: Account, pick: number, projects: number[] = []): Promise<number> {
    const { rows } = await this.pool.query<{ id: string }>(
      'SELECT id FROM tasks WHERE user_id = $1 OR project_id = ANY($2) ORDER BY id',
      [owner.id, projects],
    );
    if (rows.length > 0) return Number(rows[pick % rows.length]?.id);
    // The fuzzer deleted them all: make another (behind the API: the owner may be logged out).
    const created = await this.pool.query<{ id: string }>(
      "INSERT INTO tasks (user_id, title) VALUES ($1, 'refill') RETURNING id",
      [owner.id],
    );
    return Number(created.rows[0]?.id);
  }

  /** A personal access token of the owner's (made behind the API when there is none; its secret is never used). */
  private async tokenIdOf(owner: Account, pick: number): Promise<number> {
    const { rows } = await this.pool.query<{ id: string }>(
      'SELECT id FROM personal_access_tokens WHERE user_id = $1 ORDER BY id',
      [owner.id],
    );
    if (rows.length > 0) return Number(rows[pick % rows.length]?.id);
    // B's rows change by no one's hand: B's token gone is for the victim check to report.
    if (owner === this.victim) return 2 ** 31 - 1;
    const created = await this.pool.query<{ id: string }>(
      `INSERT INTO personal_access_tokens (user_id, name, token_hash, prefix, scopes, credentials_version, expires_at)
       SELECT id, 'refill ' || gen_random_uuid(), sha256(gen_random_uuid()::text::bytea), 'refill00', ARRAY['tasks:read'], credentials_version, now() + interval '1 day'
       FROM users WHERE id = $1 RETURNING id`,
      [owner.id],
    );
    return Number(created.rows[0]?.id);
  }

  /** A label name of the owner's, URL-encoded for the path. */
  private async labelOf(owner: Account, pick: number): Promise<string> {
    const { rows } = await this.pool.query<{ name: string }>('SELECT name FROM labels WHERE user_id = $1 ORDER BY id', [
      owner.id,
    ]);
    if (rows.length > 0) return encodeURIComponent(rows[pick % rows.length]?.name ?? '');
    // The fuzzer deleted them all: make another (behind the API).
    const name = `refill-${randomBytes(3).toString('hex')}`;
    await this.pool.query('INSERT INTO labels (user_id, name) VALUES ($1, $2)', [owner.id, name]);
    return name;
  }

  /**
   * A login of the owner's. The caller's own: a live one other than the one its token belongs to (made
   * behind the API when there is none, as if logged in elsewhere). Another's (B's): any of theirs, live or
   * ended, never made: B's rows change by no one's hand.
   */
  private async loginOf(owner: Account, own: boolean, pick: number): Promise<string> {
    const { rows } = own
      ? await this.pool.query<{ id: string }>(
          `SELECT s.id FROM auth_sessions s JOIN users u ON u.id = s.user_id
           WHERE s.user_id = $1 AND s.id IS DISTINCT FROM $2 AND s.revoked_at IS NULL AND s.expires_at > now()
             AND s.credentials_version = u.credentials_version ORDER BY s.id`,
          [owner.id, sessionOf(owner.token) ?? null],
        )
      : await this.pool.query<{ id: string }>('SELECT id FROM auth_sessions WHERE user_id = $1 ORDER BY id', [owner.id]);
    if (rows.length > 0) return rows[pick % rows.length]?.id as string;
    if (!own) return '00000000-0000-4000-8000-000000000000';
    const created = await this.pool.query<{ id: string }>(
      `INSERT INTO auth_sessions (user_id, expires_at, credentials_version)
       SELECT id, now() + interval '1 day', credentials_version FROM users WHERE id = $1 RETURNING id`,
      [owner.id],
    );
    return created.rows[0]?.id as string;
  }

  /** One of the owner's webhooks (made behind the API when the fuzzer has deleted them all). */
  private async webhookIdOf(owner: Account, pick: number): Promise<number> {
    const { rows } = await this.pool.query<{ id: string }>('SELECT id FROM webhooks WHERE user_id = $1 ORDER BY id', [owner.id]);
    if (rows.length > 0) return Number(rows[pick % rows.length]?.id);
    // Its secret box is a dummy: it is only opened to sign a delivery, and this one gets none.
    const created = await this.pool.query<{ id: string }>(
      "INSERT INTO webhooks (user_id, url, event_types, secret) VALUES ($1, 'https://hooks.invalid/refill', '{webhook.disabled}', '\\x00') RETURNING id",
      [owner.id],
    );
    return Number(created.rows[0]?.id);
  }

  /** A project the owner owns (made behind the API when the fuzzer has deleted or handed over them all). */
  private async projectIdOf(owner: Account, pick: number): Promise<number> {
    const { rows } = await this.pool.query<{ id: string }>(
      "SELECT project_id AS id FROM project_members WHERE user_id = $1 AND role = 'owner' ORDER BY project_id",
      [owner.id],
    );
    if (rows.length > 0) return Number(rows[pick % rows.length]?.id);
    const created = await this.pool.query<{ id: string }>(
      `WITH p AS (INSERT INTO projects (name) VALUES ('refill') RETURNING id),
        m AS (INSERT INTO project_members (project_id, user_id, role) SELECT id, $1, 'owner' FROM p)
       SELECT id FROM p`,
      [owner.id],
    );
    return Number(created.rows[0]?.id);
  }

  /** A member of the project other than its owner (added, as an editor, when there is none): what member routes act on. */
  private async memberOf(projectId: number, owner: Account): Promise<number> {
    const { rows } = await this.pool.query<{ id: string }>(
      "SELECT user_id AS id FROM project_members WHERE project_id = $1 AND role <> 'owner' ORDER BY user_id LIMIT 1",
      [projectId],
    );
    if (rows[0]) return Number(rows[0].id);
    const member = owner === this.spare ? this.user : this.spare;
    await this.pool.query(
      "INSERT INTO project_members (project_id, user_id, role) VALUES ($1, $2, 'editor') ON CONFLICT DO NOTHING",
      [projectId, member.id],
    );
    return member.id;
  }

  private async memberAt(projectId: number, pick: number): Promise<number> {
    const { rows } = await this.pool.query<{ id: string }>(
      'SELECT user_id AS id FROM project_members WHERE project_id = $1 ORDER BY user_id',
      [projectId],
    );
    return Number(rows[pick % Math.max(rows.length, 1)]?.id ?? this.victim.id);
  }

  /** Ids an admin's writes must not reach: A's and B's accounts, B's tasks and the projects B is in. */
  private async protectedFromAdmin(resource: 'users' | 'tasks' | 'projects'): Promise<Set<number>> {
    if (resource === 'users') return new Set([this.user.id, this.victim.id]);
    const { rows } = await this.pool.query<{ id: string }>(
      resource === 'tasks'
        ? 'SELECT id FROM tasks WHERE user_id = $1'
        : 'SELECT project_id AS id FROM project_members WHERE user_id = $1',
      [this.victim.id],
    );
    return new Set(rows.map((r) => Number(r.id)));
  }

  /** A project route's ids: the project (as tasks' ids are chosen), then a member of the project chosen. */
  private async resolveProjectIds(request: FuzzRequest): Promise<Record<string, string>> {
    const self = this.account(request.actor) ?? this.user;
    const other = request.actor === 'admin' ? this.spare : this.victim;
    const out: Record<string, string> = {};
    const project = request.pathIds.id;
    let projectId: number | undefined;
    let owner = self;
    if (project && project.kind !== 'literal') {
      owner = project.kind === 'own' ? self : other;
      projectId = await this.projectIdOf(owner, project.pick);
      out.id = String(projectId);
    } else if (project) {
      out.id = await this.redirectLiteral(request, 'projects', project.text, async () =>
        String(await this.projectIdOf(this.spare, 0)),
      );
    }
    const member = request.pathIds.user_id;
    const shared = projectId !== undefined && this.shared.ids.includes(projectId) && request.actor === 'user';
    if (member && member.kind !== 'literal' && shared) {
      // In a shared project A is a member: A themself (leaving), or any member (B, C, A).
      out.user_id = String(member.kind === 'own' ? self.id : await this.memberAt(projectId as number, member.pick));
    } else if (member && member.kind !== 'literal') {
      // Only the caller's own project gains a member behind the API: B's rows change by no one's hand.
      const mine = projectId !== undefined && owner === self && member.kind === 'own';
      out.user_id = String(mine ? await this.memberOf(projectId as number, owner) : owner.id);
    } else if (member) {
      out.user_id = await this.redirectLiteral(request, 'users', member.text, async () => String(this.spare.id));
    }
    return out;
  }

  /** An admin's write naming, as text, a protected row is sent to `spare`'s instead (see resolveId). */
  private async redirectLiteral(
    request: FuzzRequest,
    resource: 'users' | 'tasks' | 'projects',
    text: string,
    spare: () => Promise<string>,
  ): Promise<string> {
    if (request.actor !== 'admin' || request.operation.method === 'GET') return text;
    let decoded = text;
    try {
      decoded = decodeURIComponent(text);
    } catch {}
    const n = Number(decoded);
    if (decoded.trim() !== '' && Number.isFinite(n) && (await this.protectedFromAdmin(resource)).has(n)) return spare();
    return text;
  }

  private async resolveId(request: FuzzRequest, id: PathId): Promise<string> {
    const resource = request.operation.path.includes('/users/') ? 'users' : 'tasks';
    const self = this.account(request.actor) ?? this.user;
    const other = request.actor === 'admin' ? this.spare : this.victim;
    // A personal access token is only ever the caller's own (admins' too): nothing to redirect.
    if (request.operation.path.includes('/tokens/'))
      return id.kind === 'literal' ? id.text : String(await this.tokenIdOf(id.kind === 'own' ? self : other, id.pick));
    // Labels are named, and only ever the caller's own (admins' too): nothing to redirect.
    if (request.operation.path.includes('/labels/'))
      return id.kind === 'literal' ? id.text : this.labelOf(id.kind === 'own' ? self : other, id.pick);
    // Sessions too are only ever the caller's own (admins' too): a literal is sent as it is.
    if (request.operation.path.includes('/sessions/'))
      return id.kind === 'literal' ? id.text : this.loginOf(id.kind === 'own' ? self : other, id.kind === 'own', id.pick);
    // Webhooks too are only ever their creator's (an admin's too): B's are a 404 to everyone else.
    if (request.operation.path.includes('/webhooks/'))
      return id.kind === 'literal' ? id.text : String(await this.webhookIdOf(id.kind === 'own' ? self : this.victim, id.pick));
    if (id.kind !== 'literal') {
      const owner = id.kind === 'own' ? self : other;
      const alsoIn = request.actor === 'admin' || id.kind === 'own' ? [] : this.shared.ids;
      return String(resource === 'users' ? owner.id : await this.taskIdOf(owner, id.pick, alsoIn));
    }
    if (request.actor === 'admin' && request.operation.method !== 'GET') {
      // The server reads ids as numbers (Ajv coerces "01", "1e0", "0x1", " 1"): redirect any text
      // that could name a protected row to the spare account's.
      let decoded = id.text;
      try {
        decoded = decodeURIComponent(id.text);
      } catch {}
      const n = Number(decoded);
      if (decoded.trim() !== '' && Number.isFinite(n) && (await this.protectedFromAdmin(resource)).has(n)) {
        return String(resource === 'users' ? this.spare.id : await this.taskIdOf(this.spare, 0));
      }
    }
    return id.text;
  }

  /** The request as it goes on the wire, with ids and the caller's secrets filled in. */
  async build(request: FuzzRequest): Promise<SentRequest> {
    let path = request.operation.path;
    if (path.includes('/projects/')) {
      for (const [name, id] of Object.entries(await this.resolveProjectIds(request))) path = path.replace(`{${name}}`, id);
    }
    for (const [name, id] of Object.entries(request.pathIds)) path = path.replace(`{${name}}`, await this.resolveId(request, id));
    const account = this.account(request.actor);
    const secrets: Secrets = account ?? { username: 'nobody', email: 'nobody@example.com', password: 'nobody-pw', refresh: 'x' };
    const headers: Record<string, string> = {};
    for (const [name, value] of request.headers) headers[name] = value;
    if (request.authorization !== undefined) headers.authorization = request.authorization;
    else if (account) headers.authorization = `Bearer ${account.token}`;
    let body: string | undefined;
    if (request.body.kind === 'json') body = writeJson(request.body.value, secrets);
    else if (request.body.kind === 'form') body = formEncode(request.body.value, secrets);
    else if (request.body.kind === 'raw') body = request.body.text;
    if (request.contentType !== undefined) headers['content-type'] = request.contentType;
    return { method: request.operation.method, path: `${path}${request.query}`, headers, body };
  }
}
