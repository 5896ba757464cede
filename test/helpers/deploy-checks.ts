import { parse } from 'yaml';

/**
 * Static checks of the deployment files (no Docker engine here to build or run them). Each returns
 * the problems found, so a test can show that a broken file is caught.
 */

interface Instruction {
  keyword: string;
  args: string;
}

/** Dockerfile instructions, with continuation lines joined and comments dropped. */
export function dockerInstructions(text: string): Instruction[] {
  const joined = text
    .split('\n')
    .filter((line) => !/^\s*#/.test(line))
    .join('\n')
    .replace(/\\\n/g, ' ');
  return joined
    .split('\n')
    .map((line) => line.trim())
    .filter(Boolean)
    .map((line) => {
      const [, keyword = '', args = ''] = /^(\S+)\s*(.*)$/.exec(line) ?? [];
      return { keyword: keyword.toUpperCase(), args };
    });
}

/** KEY=value pairs of ENV instructions (the KEY=value form only). */
function envPairs(args: string): Record<string, string> {
  const pairs: Record<string, string> = {};
  for (const match of args.matchAll(/([A-Za-z_][A-Za-z0-9_]*)=("[^"]*"|\S*)/g))
    pairs[match[1]!] = match[2]!.replace(/^"|"$/g, '');
  return pairs;
}

export function dockerfileProblems(text: string, configVariables: readonly string[]): string[] {
  const problems: string[] = [];
  const all = dockerInstructions(text);
  const froms = all.filter((i) => i.keyword === 'FROM');
  if (froms.length < 2) problems.push('not multi-stage: fewer than two FROM');
  for (const from of froms) {
    if (!/^(--platform=\S+\s+)?node:22[-.\w]*(\s+AS\s+\w+)?$/i.test(from.args))
      problems.push(`FROM ${from.args}: not an official node:22 image`);
  }
  const lastFrom = all.lastIndexOf(froms.at(-1)!);
  const build = all.slice(0, lastFrom);
  const final = all.slice(lastFrom);
  const runs = (stage: Instruction[]) => stage.filter((i) => i.keyword === 'RUN').map((i) => i.args);
  if (!runs(build).some((r) => /\bnpm ci\b/.test(r)) || !runs(build).some((r) => /\bnpm run build\b/.test(r))) {
    problems.push('the build stage does not run npm ci and npm run build');
  }
  if (!runs(final).some((r) => /\bnpm ci\b.*--omit=dev/.test(r)))
    problems.push('the final stage does not install with npm ci --omit=dev');
  if (runs(final).some((r) => /\bnpm run build\b/.test(r))) problems.push('the final stage builds');
  if (!final.some((i) => i.keyword === 'COPY' && /--from=\w+/.test(i.args) && /dist/.test(i.args))) {
    problems.push('the final stage does not copy dist from the build stage');
  }
  if (!final.some((i) => i.keyword === 'COPY' && /\bmigrations\b/.test(i.args))) problems.push('the migrations are not copied');

  const users = final.filter((i) => i.keyword === 'USER');
  const user = users.at(-1)?.args.split(':')[0];
  if (!user || user === 'root' || user === '0') problems.push('the final stage does not run as a non-root USER');
  const cmdIndex = final.findIndex((i) => i.keyword === 'CMD');
  if (users.length && cmdIndex >= 0 && final.indexOf(users.at(-1)!) > cmdIndex) problems.push('USER comes after CMD');

  const env: Record<string, string> = {};
  for (const i of final.filter((i) => i.keyword === 'ENV')) Object.assign(env, envPairs(i.args));
  if (env.HOST !== '0.0.0.0') problems.push(`ENV HOST is ${env.HOST ?? 'unset'}, not 0.0.0.0`);
  if (env.NODE_ENV !== 'production') problems.push('ENV NODE_ENV is not production');
  for (const name of Object.keys(env)) {
    if (!configVariables.includes(name)) problems.push(`ENV ${name} is not a variable task-api reads`);
  }
  const expose = final
    .find((i) => i.keyword === 'EXPOSE')
    ?.args.split(/\s+/)[0]
    ?.replace(/\/tcp$/, '');
  if (expose !== (env.PORT ?? '8000')) problems.push(`EXPOSE ${expose} is not the PORT the server listens on`);

  const healthcheck = final.find((i) => i.keyword === 'HEALTHCHECK')?.args ?? '';
  if (!/\bCMD\b.*\/healthz\b/.test(healthcheck)) problems.push('no HEALTHCHECK on /healthz');
  if (/\bcurl\b|\bwget\b/.test(healthcheck)) problems.push('the HEALTHCHECK uses curl or wget, which the slim image lacks');

  const cmd = final[cmdIndex]?.args;
  let argv: unknown;
  try {
    argv = cmd ? JSON.parse(cmd) : undefined;
  } catch {
    argv = undefined;
  }
  if (!Array.isArray(argv)) problems.push('CMD is not in exec form (a JSON array): SIGTERM would go to a shell');
  else if (argv[0] !== 'node' || !String(argv[1]).startsWith('dist/'))
    problems.push(`CMD ${cmd} does not run node on the built server`);
  if (final.some((i) => i.keyword === 'ENTRYPOINT')) problems.push('an ENTRYPOINT stands between Docker and node');
  return problems;
}

type Service = {
  image?: string;
  build?: unknown;
  command?: unknown;
  restart?: string;
  ports?: unknown[];
  volumes?: string[];
  environment?: Record<string, string> | string[];
  depends_on?: Record<string, { condition?: string }>;
  deploy?: { replicas?: number };
  healthcheck?: { test?: unknown };
};

function environmentOf(service: Service | undefined): Record<string, string> {
  const env = service?.environment;
  if (!env) return {};
  if (Array.isArray(env)) return Object.fromEntries(env.map((e) => [e.split('=')[0]!, e.split('=').slice(1).join('=')]));
  return env;
}

/** Names of the variables compose interpolates: ${NAME}, ${NAME:-default}, ${NAME:?message}. */
export function interpolatedVariables(text: string): string[] {
  return [...new Set([...text.matchAll(/\$\{([A-Za-z_][A-Za-z0-9_]*)/g)].map((m) => m[1]!))];
}

const SECRETS = ['JWT_SECRET', 'PASSWORD_PEPPER', 'POSTGRES_PASSWORD'];

export function composeProblems(text: string, configVariables: readonly string[], nginxConf: string | undefined): string[] {
  const problems: string[] = [];
  const compose = parse(text) as { services?: Record<string, Service>; volumes?: Record<string, unknown> };
  const services = compose.services ?? {};
  const { nginx, api, migrate, postgres, redis } = services;
  for (const [name, service] of [
    ['api', api],
    ['migrate', migrate],
  ] as const) {
    if (!service) {
      problems.push(`no ${name} service`);
      continue;
    }
    for (const variable of Object.keys(environmentOf(service))) {
      if (!configVariables.includes(variable)) problems.push(`${name} sets ${variable}, which task-api does not read`);
    }
  }
  const apiEnv = environmentOf(api);
  if (apiEnv.HOST !== '0.0.0.0') problems.push('api does not set HOST=0.0.0.0 (a .env copied from .env.example says 127.0.0.1)');
  if (apiEnv.NODE_ENV !== 'production') problems.push('api does not set NODE_ENV=production');
  if (!apiEnv.TRUST_PROXY) problems.push('api does not set TRUST_PROXY for nginx');
  if (!/@postgres:5432\//.test(apiEnv.DATABASE_URL ?? ''))
    problems.push('api DATABASE_URL does not point at the postgres service');
  if (!/^redis:\/\/redis:6379/.test(apiEnv.REDIS_URL ?? '')) problems.push('api REDIS_URL does not point at the redis service');
  if ((api?.deploy?.replicas ?? 1) < 2) problems.push('api runs fewer than two replicas');
  if (api?.ports?.length) problems.push('api publishes ports: clients could bypass nginx (and TRUST_PROXY)');
  const apiDeps = api?.depends_on ?? {};
  if (apiDeps.migrate?.condition !== 'service_completed_successfully') problems.push('api does not wait for migrate to complete');
  if (apiDeps.postgres?.condition !== 'service_healthy') problems.push('api does not wait for a healthy postgres');
  if (apiDeps.redis?.condition !== 'service_healthy') problems.push('api does not wait for a healthy redis');
  if (!JSON.stringify(migrate?.command ?? '').includes('dist/scripts/migrate.js'))
    problems.push('migrate does not run dist/scripts/migrate.js');
  if (migrate?.restart !== 'no') problems.push('migrate is not one-shot (restart: "no")');

  if (!nginx?.image?.startsWith('nginx:')) problems.push('no nginx service on the official image');
  const mount = (nginx?.volumes ?? []).find((v) => v.split(':')[1] === '/etc/nginx/nginx.conf');
  const [source, , mode] = mount?.split(':') ?? [];
  if (source !== './deploy/nginx.conf' || mode !== 'ro') {
    problems.push('nginx does not mount ./deploy/nginx.conf read-only at /etc/nginx/nginx.conf');
  }
  if (nginx?.depends_on?.api === undefined) problems.push('nginx does not depend on api');
  if (nginxConf !== undefined) {
    const upstream = /upstream\s+task_api\s*\{([^}]*)\}/.exec(nginxConf)?.[1] ?? '';
    if (!/server\s+api:8000\b/.test(upstream)) problems.push('deploy/nginx.conf has no upstream task_api with server api:8000');
    if (apiEnv.PORT !== '8000') problems.push('api PORT does not match the nginx upstream (8000)');
  }

  if (!/^postgres:17\b/.test(postgres?.image ?? '')) problems.push('postgres is not the official postgres:17 image');
  const dataVolume = (postgres?.volumes ?? []).find((v) => v.split(':')[1] === '/var/lib/postgresql/data')?.split(':')[0];
  if (!dataVolume || !(dataVolume in (compose.volumes ?? {}))) problems.push('postgres data is not on a named volume');
  if (!JSON.stringify(postgres?.healthcheck?.test ?? '').includes('pg_isready'))
    problems.push('postgres has no pg_isready health check');
  if (!redis?.image?.startsWith('redis:')) problems.push('no redis service on the official image');
  if (!redis?.healthcheck?.test) problems.push('redis has no health check');

  // Secrets only from .env or the environment, required, never defaulted or written here.
  for (const secret of SECRETS) {
    const uses = [...text.matchAll(new RegExp(`\\$\\{${secret}(\\W{0,2})`, 'g'))].map((m) => m[1]);
    if (uses.length === 0 || uses.some((u) => u !== ':?')) problems.push(`${secret} is not required with \${${secret}:?...}`);
  }
  for (const [name, service] of Object.entries(services)) {
    for (const [variable, value] of Object.entries(environmentOf(service))) {
      if (SECRETS.includes(variable) && !String(value).startsWith('${'))
        problems.push(`${name} writes ${variable} in compose.yaml`);
    }
  }
  return problems;
}

/** Variables .env.example documents, set or commented out: `NAME=` or `# NAME=` at the start of a line. */
export function documentedVariables(text: string): string[] {
  return [...text.matchAll(/^#?\s*([A-Z][A-Z0-9_]*)=/gm)].map((m) => m[1]!);
}

export function envExampleProblems(text: string, configVariables: readonly string[], composeText: string): string[] {
  const problems: string[] = [];
  const documented = documentedVariables(text);
  const composeSection = text.indexOf('docker compose only');
  const composeOnly = interpolatedVariables(composeText).filter((v) => !configVariables.includes(v));
  for (const variable of configVariables) {
    if (!documented.includes(variable)) problems.push(`${variable} is read by task-api but not in .env.example`);
  }
  for (const variable of composeOnly) {
    const at = text.search(new RegExp(`^#?\\s*${variable}=`, 'm'));
    if (at < 0) problems.push(`${variable} is used by compose.yaml but not in .env.example`);
    else if (composeSection < 0 || at < composeSection) problems.push(`${variable} is not in the docker compose section`);
  }
  for (const variable of documented) {
    if (!configVariables.includes(variable) && !composeOnly.includes(variable)) {
      problems.push(`.env.example documents ${variable}, which neither task-api nor compose.yaml reads`);
    }
  }
  const duplicates = documented.filter((v, i) => documented.indexOf(v) !== i);
  if (duplicates.length) problems.push(`.env.example documents ${duplicates.join(', ')} twice`);
  for (const secret of SECRETS) {
    if (new RegExp(`^${secret}=\\S`, 'm').test(text)) problems.push(`.env.example gives ${secret} a value`);
  }
  return problems;
}

/** A variable as the configuration schema declares it: its name and, when .env.example writes one, its default. */
export interface DeclaredVariable {
  name: string;
  default: string | undefined;
}

/**
 * The README's Configuration table against the schema: every variable in a row (`A` / `B` or `A`, `B`
 * share one), nothing else, and each default the row writes in backquotes is the schema's.
 */
export function readmeConfigProblems(readme: string, variables: DeclaredVariable[]): string[] {
  const problems: string[] = [];
  const section = /^## Configuration\n([\s\S]*?)^## /m.exec(readme)?.[1] ?? '';
  const rows = section
    .split('\n')
    .filter((line) => /^\| `/.test(line))
    .map((line) => line.split('|').map((cell) => cell.trim()));
  const seen: string[] = [];
  for (const [, names = '', defaults = ''] of rows) {
    const rowNames = [...names.matchAll(/`([A-Z0-9_]+)`/g)].map((m) => m[1]!);
    const rowDefaults = [...defaults.matchAll(/`([^`]*)`/g)].map((m) => m[1]!);
    rowNames.forEach((name, i) => {
      seen.push(name);
      const declared = variables.find((v) => v.name === name);
      if (!declared) {
        problems.push(`the README's Configuration table lists ${name}, which task-api does not read`);
        return;
      }
      const written =
        rowDefaults.length === rowNames.length ? rowDefaults[i] : rowDefaults.length === 1 ? rowDefaults[0] : undefined;
      if (declared.default !== undefined && written !== undefined && written !== declared.default) {
        problems.push(`the README gives ${name} the default ${written}; the schema says ${declared.default}`);
      }
    });
  }
  for (const { name } of variables) {
    if (!seen.includes(name)) problems.push(`${name} is read by task-api but not in the README's Configuration table`);
  }
  return problems;
}
