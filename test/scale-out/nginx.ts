import { type ChildProcess, spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { chmod, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { freePort } from '../../src/lib/net.js';

export const DEPLOY_NGINX_CONF = path.resolve('deploy/nginx.conf');

/** NGINX_BIN, or Debian's nginx (in /usr/sbin, which a non-root PATH often lacks), or nginx on the PATH. */
const NGINX_BIN = process.env.NGINX_BIN ?? (existsSync('/usr/sbin/nginx') ? '/usr/sbin/nginx' : 'nginx');

const TEMP_PATHS = ['client_body_temp_path', 'proxy_temp_path', 'fastcgi_temp_path', 'uwsgi_temp_path', 'scgi_temp_path'];

export interface NginxTarget {
  /** Ports on 127.0.0.1 of the task-api instances, in place of the deployment's `server api:8000` line. */
  upstreamPorts: number[];
  /** Port on 127.0.0.1 that nginx listens on, in place of `listen 80`. */
  listenPort: number;
  /** Directory for the pid file, the logs and the temporary files. */
  dir: string;
}

/** Replaces every match of `pattern`; throws when there are not `expected` matches ('some': at least one). */
function replaceExactly(
  source: string,
  pattern: RegExp,
  expected: number | 'some',
  replacement: (...groups: string[]) => string,
  what: string,
): string {
  const count = [...source.matchAll(new RegExp(pattern.source, `${pattern.flags.replace('g', '')}g`))].length;
  if (expected === 'some' ? count === 0 : count !== expected) {
    throw new Error(`deploy/nginx.conf: expected ${expected === 'some' ? 'at least one' : expected} ${what}, found ${count}`);
  }
  return source.replace(new RegExp(pattern.source, `${pattern.flags.replace('g', '')}g`), (_m, ...groups) =>
    replacement(...(groups as string[])),
  );
}

/**
 * The deployment's nginx.conf made runnable on this machine: the upstream's `server api:8000 …;`
 * becomes one line per local port (its parameters kept), `listen 80` a local port, and the pid file,
 * logs and temporary paths move into `dir`. Everything else is the deployed file as it is. A pattern
 * that no longer matches is an error, so a change to deploy/nginx.conf cannot slip past the test.
 */
export function nginxConfigFor(source: string, target: NginxTarget): string {
  const { dir } = target;
  let conf = replaceExactly(
    source,
    /^([ \t]*)server[ \t]+api:8000\b([^;\n]*);/m,
    1,
    (indent, params) => target.upstreamPorts.map((port) => `${indent}server 127.0.0.1:${port}${params};`).join('\n'),
    '`server api:8000` line in the upstream',
  );
  conf = replaceExactly(
    conf,
    /^([ \t]*)listen[ \t]+80;/m,
    1,
    (indent) => `${indent}listen 127.0.0.1:${target.listenPort};`,
    '`listen 80;`',
  );
  conf = replaceExactly(conf, /^pid[ \t]+[^;\n]+;/m, 1, () => `pid ${dir}/nginx.pid;`, 'top-level `pid`');
  conf = replaceExactly(
    conf,
    /^([ \t]*)error_log[ \t]+[^ \t;\n]+/m,
    'some',
    (indent) => `${indent}error_log ${dir}/error.log`,
    '`error_log`',
  );
  conf = replaceExactly(
    conf,
    /^([ \t]*)access_log[ \t]+[^ \t;\n]+/m,
    'some',
    (indent) => `${indent}access_log ${dir}/access.log`,
    '`access_log`',
  );
  for (const name of TEMP_PATHS) {
    if (new RegExp(`^[ \\t]*${name}\\b`, 'm').test(conf)) {
      conf = replaceExactly(
        conf,
        new RegExp(`^([ \\t]*)${name}[ \\t]+[^;\\n]+;`, 'm'),
        1,
        (indent) => `${indent}${name} ${dir}/${name};`,
        name,
      );
    }
  }
  const missing = TEMP_PATHS.filter((name) => !new RegExp(`^[ \\t]*${name}\\b`, 'm').test(conf));
  conf = replaceExactly(
    conf,
    /^http[ \t]*\{[ \t]*$/m,
    1,
    () => ['http {', ...missing.map((name) => `    ${name} ${dir}/${name};`)].join('\n'),
    '`http {` block',
  );
  return conf;
}

export interface RunningNginx {
  baseUrl: string;
  dir: string;
  /** nginx's error log so far (for failure messages). */
  errorLog(): Promise<string>;
  stop(): Promise<void>;
}

function getStatus(url: string): Promise<number> {
  return new Promise((resolve) => {
    http
      .get(url, { agent: false, timeout: 2_000 }, (res) => {
        res.resume();
        res.on('end', () => resolve(res.statusCode ?? 0));
      })
      .on('timeout', function (this: http.ClientRequest) {
        this.destroy();
      })
      .on('error', () => resolve(0));
  });
}

/**
 * A real nginx (the system's binary) in front of the given ports, configured from deploy/nginx.conf,
 * in the foreground as a child process. Resolves once it answers /healthz through the upstream.
 */
export async function startNginx(upstreamPorts: number[], timeoutMs = 20_000): Promise<RunningNginx> {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'task-api-nginx-'));
  // As root, nginx's workers run as an unprivileged user, which must reach the temporary paths.
  await chmod(dir, 0o755);
  const listenPort = await freePort();
  const conf = nginxConfigFor(await readFile(DEPLOY_NGINX_CONF, 'utf8'), { upstreamPorts, listenPort, dir });
  const confPath = path.join(dir, 'nginx.conf');
  await writeFile(confPath, conf);

  let output = '';
  const child: ChildProcess = spawn(NGINX_BIN, ['-p', dir, '-c', confPath, '-g', 'daemon off;'], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  child.stdout?.on('data', (c) => {
    output += c;
  });
  child.stderr?.on('data', (c) => {
    output += c;
  });
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const spawnError = new Promise<Error>((resolve) => child.once('error', resolve));
  const errorLog = () => readFile(path.join(dir, 'error.log'), 'utf8').catch(() => '');
  const stop = async () => {
    if (child.exitCode === null && child.signalCode === null) {
      child.kill('SIGTERM');
      await Promise.race([exited, sleep(5_000).then(() => child.kill('SIGKILL'))]);
    }
    await rm(dir, { recursive: true, force: true });
  };

  const baseUrl = `http://127.0.0.1:${listenPort}`;
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (child.exitCode !== null) {
      const log = await errorLog();
      await stop();
      throw new Error(`nginx exited with ${child.exitCode}:\n${output}\n${log}`);
    }
    const failed = await Promise.race([spawnError, sleep(0).then(() => undefined)]);
    if (failed) {
      await stop();
      throw new Error(`nginx could not be started (is Debian's nginx package installed?): ${failed.message}`);
    }
    if ((await getStatus(`${baseUrl}/healthz`)) === 200) break;
    if (Date.now() > deadline) {
      const log = await errorLog();
      await stop();
      throw new Error(`nginx did not answer in ${timeoutMs} ms:\n${output}\n${log}`);
    }
    await sleep(100);
  }
  return { baseUrl, dir, errorLog, stop };
}
