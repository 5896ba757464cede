import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ConfigError, loadConfig } from '../../../src/config.js';
import { postJson } from '../../../src/modules/webhooks/ssrf/post.js';
import { addressProblem, checkTarget, RefusedTarget, urlProblem } from '../../../src/modules/webhooks/ssrf/target.js';
import { registerAndLogin, startApp, type TestApp, testConfig } from '../../helpers/app.js';
import { createTestDatabase, type TestDatabase } from '../../helpers/db.js';
import { eventually, fastWebhooks, type Receiver, startReceiver } from '../../helpers/webhook-receiver.js';

const PUBLIC = { allowHttp: false, allowPrivate: false };
const dns = (answers: Record<string, string[]>) => async (host: string) =>
  (answers[host] ?? []).map((address) => ({ address, family: address.includes(':') ? 6 : 4 }));

describe('the target check', () => {
  it.each([
    ['127.0.0.1', 'loopback'],
    ['::1', 'loopback'],
    ['10.1.2.3', 'private'],
    ['192.168.0.10', 'private'],
    ['172.16.5.4', 'private'],
    ['169.254.169.254', 'cloud metadata'],
    ['169.254.1.1', 'linkLocal'],
    ['fe80::1', 'linkLocal'],
    ['fd00::1', 'uniqueLocal'],
    ['fd00:ec2::254', 'cloud metadata'],
    ['224.0.0.1', 'multicast'],
    ['ff02::1', 'multicast'],
    ['0.0.0.0', 'unspecified'],
    ['100.64.0.1', 'carrierGradeNat'],
    ['::ffff:127.0.0.1', 'loopback'],
    ['::ffff:10.0.0.1', 'private'],
    ['168.63.129.16', 'cloud metadata'],
  ])('refuses %s (%s)', (address, what) => {
    expect(addressProblem(address, false)).toContain(what);
  });

  it('allows public unicast; with private targets allowed, loopback and private too, never metadata or multicast', () => {
    expect(addressProblem('93.184.215.14', false)).toBeUndefined();
    expect(addressProblem('2606:2800:21f:cb07:6820:80da:af6b:8b2c', false)).toBeUndefined();
    expect(addressProblem('127.0.0.1', true)).toBeUndefined();
    expect(addressProblem('10.0.0.1', true)).toBeUndefined();
    expect(addressProblem('::ffff:127.0.0.1', true)).toBeUndefined();
    expect(addressProblem('169.254.169.254', true)).toContain('cloud metadata');
    expect(addressProblem('224.0.0.1', true)).toContain('multicast');
  });

  it('refuses a host name when ANY of its addresses is refused, and connects to a checked address', async () => {
    const resolve = dns({
      'loopback.example': ['127.0.0.1'],
      'mixed.example': ['93.184.215.14', '10.0.0.7'],
      'mapped.example': ['::ffff:169.254.169.254'],
      'public.example': ['93.184.215.14'],
    });
    await expect(checkTarget('https://loopback.example/h', PUBLIC, resolve)).rejects.toThrow(
      /loopback\.example resolves to 127\.0\.0\.1 is a loopback address/,
    );
    await expect(checkTarget('https://mixed.example/h', PUBLIC, resolve)).rejects.toThrow(/10\.0\.0\.7 is a private address/);
    await expect(checkTarget('https://mapped.example/h', PUBLIC, resolve)).rejects.toThrow(/cloud metadata/);
    await expect(checkTarget('https://nowhere.example/h', PUBLIC, resolve)).rejects.toThrow(RefusedTarget);
    expect(await checkTarget('https://public.example/h', PUBLIC, resolve)).toMatchObject({ address: '93.184.215.14', family: 4 });
  });

  it('takes https only (http outside production), no credentials, no fragment, no literal bad address', () => {
    expect(urlProblem('http://hooks.example.com/', PUBLIC)).toBe('must be an https:// URL');
    expect(urlProblem('http://hooks.example.com/', { ...PUBLIC, allowHttp: true })).toBeUndefined();
    expect(urlProblem('ftp://hooks.example.com/', { ...PUBLIC, allowHttp: true })).toBe('must be an https:// or http:// URL');
    expect(urlProblem('https://user:pw@hooks.example.com/', PUBLIC)).toBe('must not hold credentials');
    expect(urlProblem('https://hooks.example.com/#x', PUBLIC)).toBe('must not have a fragment');
    expect(urlProblem('https://[::1]:8443/', PUBLIC)).toContain('loopback');
    expect(urlProblem('https://0x7f.1/', PUBLIC)).toContain('loopback');
    expect(urlProblem('https://localhost:8443/', PUBLIC)).toBe('must not be localhost');
    expect(urlProblem(`https://hooks.example.com/${'a'.repeat(2000)}`, PUBLIC)).toContain('at most 2000');
  });

  it('production refuses WEBHOOK_ALLOW_PRIVATE_TARGETS=true', () => {
    const production = { NODE_ENV: 'production', JWT_SECRET: 's'.repeat(32), PASSWORD_PEPPER: 'p'.repeat(32) };
    expect(() => loadConfig({ ...production, WEBHOOK_ALLOW_PRIVATE_TARGETS: 'true' })).toThrow(ConfigError);
    expect(() => loadConfig({ ...production, WEBHOOK_ALLOW_PRIVATE_TARGETS: 'true' })).toThrow(/WEBHOOK_ALLOW_PRIVATE_TARGETS/);
    expect(loadConfig(production).webhooks).toMatchObject({
      enabled: true,
      allowPrivateTargets: false,
      maxAttempts: 8,
      timeoutMs: 10_000,
    });
  });
});

describe('deliveries against a real receiver', () => {
  let db: TestDatabase;
  let receiver: Receiver;
  let open: TestApp;
  let closed: TestApp;
  beforeAll(async () => {
    db = await createTestDatabase();
    receiver = await startReceiver();
    open = await startApp(
      testConfig(db.url, { webhooks: fastWebhooks({ maxAttempts: 1, timeoutMs: 500, disableAfterFailures: 100 }) }),
    );
  });
  afterAll(async () => {
    await open?.close();
    await closed?.close();
    await receiver?.close();
    await db?.drop();
  });

  const pinged = async (app: TestApp, path: string) => {
    const user = await registerAndLogin(app.api, 'ssrf');
    const made = await app.api.post('/webhooks', { url: receiver.url(path), events: ['*'] }, { token: user.token });
    expect(made.status, made.text).toBe(201);
    await app.api.post(`/webhooks/${made.body.id}/test`, undefined, { token: user.token });
    return eventually(`the delivery to ${path}`, async () => {
      const rows = (await app.api.get(`/webhooks/${made.body.id}/deliveries`, { token: user.token })).body;
      return rows[0]?.status !== 'pending' && rows[0];
    });
  };

  it('connects to the address that was checked, not to a second lookup of the name (Host stays the name)', async () => {
    // The name has no address in DNS: only the checked one (127.0.0.1, given by this resolver) can be reached.
    const url = `http://rebound.invalid:${receiver.port}/pinned`;
    const target = await checkTarget(url, { allowHttp: true, allowPrivate: true }, dns({ 'rebound.invalid': ['127.0.0.1'] }));
    const outcome = await postJson(target, { 'x-test': '1' }, '{"a":1}', { timeoutMs: 2_000, maxResponseBytes: 1024 });
    expect(outcome).toMatchObject({ status: 204 });
    const [got] = receiver.at('/pinned');
    expect(got?.headers.host).toBe(`rebound.invalid:${receiver.port}`);
    expect(got?.body).toBe('{"a":1}');
  });

  it('does not follow a redirect', async () => {
    receiver.answer((r) => (r.path === '/redirect' ? { status: 302, headers: { location: receiver.url('/elsewhere') } } : {}));
    const row = await pinged(open, '/redirect');
    expect(row).toMatchObject({ status: 'failed', response_status: 302, error: 'HTTP 302' });
    expect(receiver.at('/elsewhere')).toHaveLength(0);
  });

  it('reads at most 64 KiB of a response, and gives up on one slower than the timeout', async () => {
    receiver.answer((r) =>
      r.path === '/huge' ? { status: 200, bytes: 50 * 1024 * 1024 } : r.path === '/slow' ? { delayMs: 2_000 } : {},
    );
    const huge = await pinged(open, '/huge');
    expect(huge).toMatchObject({ status: 'delivered', response_status: 200 });
    expect(huge.duration_ms).toBeLessThan(2_000);
    const [sent] = receiver.at('/huge');
    await eventually('the receiver to see the hang-up', async () => sent?.bytesTaken !== undefined);
    // What the client took: its 64 KiB and what the sockets' buffers held, far from the 50 MiB offered.
    expect(sent?.bytesTaken).toBeLessThan(10 * 1024 * 1024);
    const slow = await pinged(open, '/slow');
    expect(slow).toMatchObject({ status: 'failed', response_status: null, error: 'timed out after 500 ms' });
  });

  it('without WEBHOOK_ALLOW_PRIVATE_TARGETS, refuses a loopback receiver at creation and at delivery', async () => {
    closed = await startApp(testConfig(db.url, { webhooks: fastWebhooks({ allowPrivateTargets: false, maxAttempts: 1 }) }));
    const user = await registerAndLogin(closed.api, 'closed');
    const refused = await closed.api.post('/webhooks', { url: receiver.url('/x'), events: ['*'] }, { token: user.token });
    expect(refused.status).toBe(422);
    expect(refused.body.errors[0]).toMatchObject({ field: 'url', message: '127.0.0.1 is a loopback address' });
    // One stored before (or by a host name that resolved elsewhere then): refused when it is due.
    await open.close();
    const made = await closed.api.post('/webhooks', { url: 'https://hooks.example.com/x', events: ['*'] }, { token: user.token });
    await db.pool.query('UPDATE webhooks SET url = $1 WHERE id = $2', [receiver.url('/private'), made.body.id]);
    await closed.api.post(`/webhooks/${made.body.id}/test`, undefined, { token: user.token });
    const row = await eventually('the refusal', async () => {
      const rows = (await closed.api.get(`/webhooks/${made.body.id}/deliveries`, { token: user.token })).body;
      return rows[0]?.status === 'failed' && rows[0];
    });
    expect(row.error).toBe('refused: the URL 127.0.0.1 is a loopback address');
    expect(receiver.at('/private')).toHaveLength(0);
  });
});
