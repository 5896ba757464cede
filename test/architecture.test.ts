import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import ts from 'typescript';
import { describe, expect, it } from 'vitest';

/**
 * The layers depend downward only (README, "Layout"): server → app → plugins → modules → db/lib.
 * Read from the source: every import, export-from and import() of src/, resolved to the file it names.
 */

type Sources = Record<string, string>;

function readSources(dir = 'src'): Sources {
  const files: Sources = {};
  for (const entry of readdirSync(dir, { withFileTypes: true, recursive: true })) {
    if (!entry.isFile() || !entry.name.endsWith('.ts') || entry.name.endsWith('.d.ts')) continue;
    const file = path.posix.join(entry.parentPath.split(path.sep).join('/'), entry.name);
    files[file] = readFileSync(file, 'utf8');
  }
  return files;
}

/** Each file's imports of other files of src/ (packages and node: modules are not ours to order). */
function importEdges(sources: Sources): Array<{ from: string; to: string }> {
  const edges: Array<{ from: string; to: string }> = [];
  for (const [from, text] of Object.entries(sources)) {
    // Type-only imports count too: a type is a dependency as much as a value.
    for (const { fileName } of ts.preProcessFile(text, true, true).importedFiles) {
      if (!fileName.startsWith('.')) continue;
      edges.push({ from, to: path.posix.join(path.posix.dirname(from), fileName).replace(/\.js$/, '.ts') });
    }
  }
  return edges;
}

const ENTRY_POINTS = ['src/app.ts', 'src/server.ts', 'src/serve.ts', 'src/cluster.ts'];
const under = (dir: string) => (file: string) => file.startsWith(`${dir}/`);
const oneOf = (files: string[]) => (file: string) => files.includes(file);
const any =
  (...tests: Array<(file: string) => boolean>) =>
  (file: string) =>
    tests.some((t) => t(file));

const RULES: Array<{ name: string; from: (file: string) => boolean; never: (file: string) => boolean }> = [
  {
    name: 'modules/ never import plugins/, the entry points or scripts/',
    from: under('src/modules'),
    never: any(under('src/plugins'), under('src/scripts'), oneOf(ENTRY_POINTS)),
  },
  {
    name: 'db/ never imports modules/, plugins/, the entry points or scripts/',
    from: under('src/db'),
    never: any(under('src/modules'), under('src/plugins'), under('src/scripts'), oneOf(ENTRY_POINTS)),
  },
  {
    // Helpers stand alone: reading the process's configuration is config/'s, not a helper's.
    name: 'lib/ imports only lib/',
    from: under('src/lib'),
    never: (file) => !under('src/lib')(file),
  },
  {
    name: 'config/ imports only config/',
    from: any(oneOf(['src/config.ts']), under('src/config')),
    never: (file) => file !== 'src/config.ts' && !under('src/config')(file),
  },
  {
    name: 'plugins/ never import the entry points or scripts/',
    from: under('src/plugins'),
    never: any(under('src/scripts'), oneOf(ENTRY_POINTS)),
  },
  {
    // Scripts (migrate, create-admin) log through it, and a cluster's primary runs without the app.
    name: 'logger.ts and cluster.ts never load the app, its plugins or its modules',
    from: oneOf(['src/logger.ts', 'src/cluster.ts']),
    never: any(under('src/modules'), under('src/plugins'), oneOf(['src/app.ts', 'src/serve.ts'])),
  },
];

function violations(sources: Sources): string[] {
  return importEdges(sources).flatMap(({ from, to }) =>
    RULES.filter((rule) => rule.from(from) && rule.never(to)).map((rule) => `${from} imports ${to}: ${rule.name}`),
  );
}

const moduleOf = (file: string) => /^src\/modules\/([^/]+)\//.exec(file)?.[1];

/** Pairs of modules that import each other, directly or through others: [a, b] with a < b. */
function moduleCycles(sources: Sources): string[][] {
  const next = new Map<string, Set<string>>();
  for (const { from, to } of importEdges(sources)) {
    const [a, b] = [moduleOf(from), moduleOf(to)];
    if (a && b && a !== b) next.set(a, (next.get(a) ?? new Set()).add(b));
  }
  const reaches = (a: string, b: string, seen = new Set<string>()): boolean =>
    [...(next.get(a) ?? [])].some((m) => m === b || (!seen.has(m) && seen.add(m) && reaches(m, b, seen)));
  const modules = [...next.keys()].sort();
  return modules.flatMap((a) => modules.filter((b) => a < b && reaches(a, b) && reaches(b, a)).map((b) => [a, b]));
}

/** Modules composed by their own index.ts (a Fastify plugin that builds the repository and service once). */
const COMPOSED_MODULES = ['tasks', 'admin', 'users', 'sessions', 'auth', 'events', 'projects'];

/** Each composed module's repository factories (`export function create…Repository`), by name. */
function repositoryFactories(sources: Sources, modules = COMPOSED_MODULES): Array<{ name: string; module: string }> {
  return Object.entries(sources).flatMap(([file, text]) => {
    const module = moduleOf(file);
    if (!module || !modules.includes(module)) return [];
    return [...text.matchAll(/^export (?:async )?function (create\w+Repository)\b/gm)].map(([, name]) => ({
      name: name as string,
      module,
    }));
  });
}

/** Files outside a module that name its repository factory (an import, a re-export, a call): only the module builds it. */
function foreignRepositoryBuilders(sources: Sources): string[] {
  const factories = repositoryFactories(sources);
  return Object.entries(sources).flatMap(([file, text]) =>
    factories
      .filter(({ name, module }) => moduleOf(file) !== module && new RegExp(`\\b${name}\\b`).test(text))
      .map(({ name, module }) => `${file} names ${name}: only modules/${module}/ builds its repository`),
  );
}

describe('one composition pattern', () => {
  const sources = readSources();

  it('finds the repository factories of the composed modules', () => {
    expect(repositoryFactories(sources)).toEqual(
      expect.arrayContaining([
        { name: 'createTasksRepository', module: 'tasks' },
        { name: 'createAdminRepository', module: 'admin' },
        { name: 'createUsersRepository', module: 'users' },
        { name: 'createSessionsRepository', module: 'sessions' },
        { name: 'createOutboxRepository', module: 'events' },
        { name: 'createProjectsRepository', module: 'projects' },
      ]),
    );
  });

  it('only a module builds its repository (its index.ts decorates it for the rest)', () => {
    expect(foreignRepositoryBuilders(sources)).toEqual([]);
  });

  it('fails on a repository built elsewhere', () => {
    const planted: Sources = {
      ...sources,
      'src/plugins/maintenance.ts': `import { createTasksRepository } from '../modules/tasks/repository.js';
const tasks = createTasksRepository(app.db);`,
      'src/modules/users/stats.ts': "export { createAdminRepository } from '../admin/repository.js';",
    };
    expect(foreignRepositoryBuilders(planted).map((v) => v.split(':')[0])).toEqual([
      'src/plugins/maintenance.ts names createTasksRepository',
      'src/modules/users/stats.ts names createAdminRepository',
    ]);
  });
});

describe('import direction', () => {
  const sources = readSources();

  it('reads the imports of src/ (every one resolves to a file)', () => {
    const edges = importEdges(sources);
    expect(edges).toContainEqual({ from: 'src/app.ts', to: 'src/plugins/errors.ts' });
    expect(edges).toContainEqual({ from: 'src/modules/tasks/index.ts', to: 'src/modules/tasks/service.ts' });
    expect(edges.filter(({ to }) => !(to in sources))).toEqual([]);
  });

  it('holds in src/', () => {
    expect(violations(sources)).toEqual([]);
  });

  it('leaves no loop between modules', () => {
    expect(moduleCycles(sources)).toEqual([]);
    expect(
      moduleCycles({
        'src/modules/events/a.ts': "import type { Task } from '../tasks/schemas.js';",
        'src/modules/tasks/b.ts': "import { newEvent } from '../events/events.js';",
      }),
    ).toEqual([['events', 'tasks']]);
  });

  it('fails on a wrong import, whatever its form', () => {
    const wrong: Sources = {
      'src/modules/tasks/a.ts': "import type { CurrentUser } from '../../plugins/auth.js';",
      'src/modules/tasks/b.ts': "export { buildApp } from '../../app.js';",
      'src/modules/tasks/c.ts': "const serve = () => import('../../serve.js');",
      'src/db/d.ts': "import { TASK_STATUSES } from '../modules/tasks/schemas.js';",
      'src/lib/e.ts': "import metrics from '../plugins/metrics.js';",
      'src/lib/e2.ts': "import { loadConfig } from '../config.js';",
      'src/config/e3.ts': "import { createAjv } from '../lib/ajv.js';",
      'src/plugins/f.ts': "import { runPrimary } from '../cluster.js';",
      'src/logger.ts': "import { REDACTED_PATHS } from './app.js';",
      'src/cluster.ts': "import { METRICS_REQUEST } from './plugins/metrics.js';",
    };
    expect(violations(wrong).map((v) => v.split(':')[0])).toEqual([
      'src/modules/tasks/a.ts imports src/plugins/auth.ts',
      'src/modules/tasks/b.ts imports src/app.ts',
      'src/modules/tasks/c.ts imports src/serve.ts',
      'src/db/d.ts imports src/modules/tasks/schemas.ts',
      'src/lib/e.ts imports src/plugins/metrics.ts',
      'src/lib/e2.ts imports src/config.ts',
      'src/config/e3.ts imports src/lib/ajv.ts',
      'src/plugins/f.ts imports src/cluster.ts',
      'src/logger.ts imports src/app.ts',
      'src/cluster.ts imports src/plugins/metrics.ts',
    ]);
    // Downward imports are fine.
    expect(
      violations({
        'src/plugins/g.ts': "import { createAjv } from '../lib/ajv.js';",
        'src/modules/users/h.ts': "import { loggable } from '../../db/errors.js';",
        'src/app.ts': "import errors from './plugins/errors.js';",
      }),
    ).toEqual([]);
  });
});
