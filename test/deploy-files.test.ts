import { existsSync, readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { ConfigSchema } from '../src/config/schema.js';
import { variablesOf, writtenDefault } from '../src/config/variables.js';
import { CONFIG_VARIABLES, envExample as generatedEnvExample, loadConfig } from '../src/config.js';
import { composeProblems, dockerfileProblems, envExampleProblems, readmeConfigProblems } from './helpers/deploy-checks.js';

const read = (file: string) => readFileSync(file, 'utf8');
const dockerfile = read('Dockerfile');
const compose = read('compose.yaml');
const envExample = read('.env.example');
const readme = read('README.md');
const declared = variablesOf(ConfigSchema).map((v) => ({ name: v.name, default: writtenDefault(v) }));
const nginxConf = existsSync('deploy/nginx.conf') ? read('deploy/nginx.conf') : undefined;

/** Applies a textual change and fails loudly if it did not apply (so a mutation never tests nothing). */
function broken(text: string, from: string | RegExp, to: string): string {
  const changed = text.replace(from, to);
  if (changed === text) throw new Error(`mutation did not apply: ${from}`);
  return changed;
}

describe('the configuration variables', () => {
  it('CONFIG_VARIABLES is exactly what loadConfig reads', () => {
    const seen = new Set<string>();
    const env = new Proxy({} as Record<string, string | undefined>, {
      get: (_target, name) => {
        if (typeof name === 'string') seen.add(name);
        return undefined;
      },
    });
    loadConfig(env);
    expect([...seen].sort()).toEqual([...CONFIG_VARIABLES].sort());
  });

  it("the README's Configuration table lists every variable, and nothing else, with the schema's defaults", () => {
    expect(readmeConfigProblems(readme, declared)).toEqual([]);
  });

  it.each([
    ['a missing variable', /^\| `INSTANCE_NAME` .*\n/m, '', /INSTANCE_NAME is read by task-api but not in the README/],
    ['a variable nobody reads', /^(\| `WORKERS` .*\n)/m, '$1| `WORKER_COUNT` | `1` | no |\n', /lists WORKER_COUNT/],
    ['another default', '| `DB_POOL_MAX` | `10` |', '| `DB_POOL_MAX` | `20` |', /DB_POOL_MAX the default 20; the schema says 10/],
    ['another default in a shared row', '`600` / `60000`', '`600` / `6000`', /RATE_LIMIT_WINDOW_MS the default 6000/],
  ])("catches %s in the README's table", (_name, from, to, problem) => {
    expect(readmeConfigProblems(broken(readme, from, to), declared).join('\n')).toMatch(problem);
  });
});

describe('Dockerfile', () => {
  it('passes every check', () => {
    expect(dockerfileProblems(dockerfile, CONFIG_VARIABLES)).toEqual([]);
  });

  it.each([
    ['another base image', /FROM node:22-trixie-slim\n/, 'FROM node:20-slim\n', /not an official node:22 image/],
    ['a single stage', /FROM node:22-trixie-slim AS build[\s\S]*?RUN npm run build\n/, '', /not multi-stage/],
    ['dev dependencies in the image', '--omit=dev ', '', /npm ci --omit=dev/],
    ['root', 'USER node', 'USER root', /non-root USER/],
    ['no user', /USER node\n/, '', /non-root USER/],
    ['loopback only', 'HOST=0.0.0.0', 'HOST=127.0.0.1', /HOST is 127\.0\.0\.1/],
    ['a variable nobody reads', 'PORT=8000', 'PORT=8000 LISTEN_PORT=8000', /LISTEN_PORT is not a variable/],
    ['no health check', '/healthz', '/', /HEALTHCHECK on \/healthz/],
    ['curl in a slim image', /CMD \["node", "-e".*\]/, 'CMD curl -f http://127.0.0.1:8000/healthz', /curl or wget/],
    ['shell-form CMD', 'CMD ["node", "dist/server.js"]', 'CMD node dist/server.js', /exec form/],
    ['npm as PID 1', 'CMD ["node", "dist/server.js"]', 'CMD ["npm", "start"]', /does not run node/],
    ['no migrations', /COPY migrations .*\n/, '', /migrations are not copied/],
    ['another exposed port', 'EXPOSE 8000', 'EXPOSE 3000', /EXPOSE 3000/],
  ])('catches %s', (_name, from, to, problem) => {
    expect(dockerfileProblems(broken(dockerfile, from, to), CONFIG_VARIABLES).join('\n')).toMatch(problem);
  });
});

describe('compose.yaml', () => {
  it('passes every check', () => {
    expect(composeProblems(compose, CONFIG_VARIABLES, nginxConf)).toEqual([]);
  });

  it.each([
    [
      'a variable task-api does not read',
      'TRUST_PROXY: "1"',
      'TRUST_PROXY: "1"\n  TRUSTED_PROXIES: "1"',
      /api sets TRUSTED_PROXIES/,
    ],
    ['loopback only', 'HOST: 0.0.0.0', 'HOST: 127.0.0.1', /HOST=0\.0\.0\.0/],
    ['no TRUST_PROXY', /\n {2}TRUST_PROXY: "1"/, '', /TRUST_PROXY/],
    ['one replica', 'replicas: 2', 'replicas: 1', /fewer than two replicas/],
    ['a published api port', '    init: true\n', '    init: true\n    ports: ["8000:8000"]\n', /bypass nginx/],
    ['no wait for migrations', 'condition: service_completed_successfully', 'condition: service_started', /wait for migrate/],
    ['a restarting migrate', 'restart: "no"', 'restart: unless-stopped', /one-shot/],
    ['another nginx config path', './deploy/nginx.conf:', './nginx.conf:', /mount \.\/deploy\/nginx\.conf/],
    ['a writable nginx config', 'nginx.conf:ro', 'nginx.conf', /read-only/],
    ['another PostgreSQL', 'image: postgres:17', 'image: postgres:16', /postgres:17/],
    ['no pg_isready', '"pg_isready", ', '"true", ', /pg_isready/],
    ['data on an anonymous volume', '- pgdata:/var/lib/postgresql/data', '- /var/lib/postgresql/data', /named volume/],
    ['a default secret', '${JWT_SECRET:?set JWT_SECRET', '${JWT_SECRET:-change-me', /JWT_SECRET is not required/],
    [
      'a default database password',
      /\$\{POSTGRES_PASSWORD:\?[^}]*\}@/,
      // biome-ignore lint/suspicious/noTemplateCurlyInString: compose's interpolation, not a template
      '${POSTGRES_PASSWORD:-postgres}@',
      /POSTGRES_PASSWORD is not required/,
    ],
    ['a written secret', /PASSWORD_PEPPER: \$\{PASSWORD_PEPPER:\?[^}]*\}/, 'PASSWORD_PEPPER: abc', /PASSWORD_PEPPER/],
    [
      'no redis health check',
      /\n {4}healthcheck:\n {6}test: \["CMD", "redis-cli", "ping"\](\n {6}\w+: \S+)*/,
      '',
      /redis has no health check/,
    ],
  ])('catches %s', (_name, from, to, problem) => {
    expect(composeProblems(broken(compose, from, to), CONFIG_VARIABLES, nginxConf).join('\n')).toMatch(problem);
  });

  it('catches a deploy/nginx.conf that does not forward to the api replicas on port 8000', () => {
    expect(composeProblems(compose, CONFIG_VARIABLES, 'upstream task_api { server web:8000; }').join('\n')).toMatch(
      /upstream task_api with server api:8000/,
    );
  });
});

describe('.env.example', () => {
  it('is what `npm run env:example` writes from the configuration schema (not stale, not hand-edited)', () => {
    // A difference here: run `npm run env:example` (after changing src/config/schema.ts, never the file).
    expect(envExample).toBe(generatedEnvExample());
  });

  it('documents every variable task-api reads, and the compose-only ones in their section, and nothing else', () => {
    expect(envExampleProblems(envExample, CONFIG_VARIABLES, compose)).toEqual([]);
  });

  it.each([
    ['an undocumented variable', /^# INSTANCE_NAME=\n/m, '', /INSTANCE_NAME is read by task-api but not in \.env\.example/],
    ['a variable nobody reads', 'WORKERS=1', 'WORKERS=1\nWORKER_COUNT=1', /WORKER_COUNT, which neither/],
    ['an undocumented compose variable', /^HTTP_PORT=8000\n/m, '', /HTTP_PORT is used by compose\.yaml but not/],
    [
      'a compose variable outside its section',
      /^(# task-api configuration.*\n)/,
      '$1HTTP_PORT=8000\n',
      /HTTP_PORT is not in the docker compose section/,
    ],
    ['a filled-in secret', '# JWT_SECRET=', 'JWT_SECRET=abc', /gives JWT_SECRET a value/],
  ])('catches %s', (_name, from, to, problem) => {
    expect(envExampleProblems(broken(envExample, from, to), CONFIG_VARIABLES, compose).join('\n')).toMatch(problem);
  });

  it('catches a compose variable it does not document', () => {
    // biome-ignore lint/suspicious/noTemplateCurlyInString: compose's interpolation, not a template
    const more = broken(compose, 'image: redis:7-alpine', 'image: redis:${REDIS_TAG:-7-alpine}');
    expect(envExampleProblems(envExample, CONFIG_VARIABLES, more).join('\n')).toMatch(/REDIS_TAG is used by compose\.yaml/);
  });
});
