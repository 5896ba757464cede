import { readFile } from 'node:fs/promises';
import { describe, expect, it } from 'vitest';
import { DEPLOY_NGINX_CONF, nginxConfigFor } from './scale-out/nginx.js';

/** The scale-out test runs nginx on a configuration generated from deploy/nginx.conf; these check the generation. */
describe('the nginx configuration of the scale-out test', () => {
  const target = { upstreamPorts: [41001, 41002], listenPort: 41000, dir: '/tmp/nginx-x' };

  it('changes only the upstream servers, the listen port and the paths of deploy/nginx.conf', async () => {
    const source = await readFile(DEPLOY_NGINX_CONF, 'utf8');
    const conf = nginxConfigFor(source, target);
    expect(conf).toMatch(
      /^\s*server 127\.0\.0\.1:41001 max_fails=\d+ fail_timeout=\w+;\n\s*server 127\.0\.0\.1:41002 max_fails/m,
    );
    expect(conf).not.toContain('api:8000');
    expect(conf).toMatch(/^\s*listen 127\.0\.0\.1:41000;$/m);
    expect(conf).not.toMatch(/^\s*listen 80;/m);
    expect(conf).toMatch(/^pid \/tmp\/nginx-x\/nginx\.pid;$/m);
    for (const directive of ['error_log', 'access_log']) {
      const paths = [...conf.matchAll(new RegExp(`^\\s*${directive} (\\S+)`, 'gm'))].map((m) => m[1]);
      expect(paths.length).toBeGreaterThan(0);
      expect(paths.every((p) => p?.startsWith('/tmp/nginx-x/'))).toBe(true);
    }
    for (const temp of ['client_body', 'proxy', 'fastcgi', 'uwsgi', 'scgi']) {
      expect(conf).toMatch(new RegExp(`^\\s*${temp}_temp_path /tmp/nginx-x/`, 'm'));
    }
    // Everything else is the deployed file, line for line.
    const untouched = (text: string) =>
      text.split('\n').filter((line) => !/^\s*(server \S+:\d+|listen|pid|error_log|access_log|\w+_temp_path)\b/.test(line));
    expect(untouched(conf)).toEqual(untouched(source));
    expect(conf).toMatch(/^\s*keepalive \d+;/m);
    expect(conf).toMatch(/^\s*proxy_next_upstream error timeout http_502 http_503 http_504;/m);
    expect(conf).not.toMatch(/^\s*proxy_next_upstream\b[^;]*non_idempotent/m);
  });

  it('passes the stream on unbuffered, and logs its path without the query (where a stream ticket goes)', async () => {
    const source = await readFile(DEPLOY_NGINX_CONF, 'utf8');
    const stream = /^\s*location ~ \^\/api\/v1\/stream\/\?\$ \{([^}]*)\}/m.exec(source)?.[1] ?? '';
    expect(stream).toMatch(/^\s*proxy_buffering off;$/m);
    expect(stream).toMatch(/^\s*proxy_pass http:\/\/task_api;$/m);
    const logFormat = /^\s*log_format proxied ([^;]*);/m.exec(source)?.[1] ?? '';
    expect(logFormat).not.toContain('$request ');
    expect(logFormat).not.toContain('$request"');
    expect(logFormat).not.toContain('$args');
    expect(logFormat).toContain('$task_api_logged_target');
    expect(source).toMatch(/^\s*~\^\/api\/v1\/stream\/\?\$ \$uri;$/m);
  });

  it('fails loudly when a line it must replace is missing or repeated', () => {
    const minimal = [
      'pid /run/nginx.pid;',
      'error_log /dev/stderr;',
      'http {',
      '    access_log /dev/stdout;',
      '    upstream task_api {',
      '        server api:8000;',
      '    }',
      '    server {',
      '        listen 80;',
      '    }',
      '}',
    ].join('\n');
    expect(() => nginxConfigFor(minimal, target)).not.toThrow();
    expect(() => nginxConfigFor(minimal.replace('server api:8000;', 'server app:8000;'), target)).toThrow(/server api:8000/);
    expect(() => nginxConfigFor(minimal.replace('listen 80;', 'listen 8080;'), target)).toThrow(/listen 80/);
    expect(() => nginxConfigFor(minimal.replace('listen 80;', 'listen 80;\nlisten 80;'), target)).toThrow(/found 2/);
    expect(() => nginxConfigFor(minimal.replace('pid /run/nginx.pid;\n', ''), target)).toThrow(/pid/);
    expect(() => nginxConfigFor(minimal.replace('    access_log /dev/stdout;\n', ''), target)).toThrow(/access_log/);
  });
});
