/**
 * The baseline: the bare minimum for the hot path of GET /tasks. A JWT verified with fast-jwt and
 * the same page-of-20 query task-api runs for the token's user, on a pg pool of the same size;
 * no user lookup, logging, rate limiting, metrics or validation. task-api's figures are read as
 * ratios to this server's, measured in the same run on the same machine.
 */
import { createVerifier } from 'fast-jwt';
import Fastify from 'fastify';
import pg from 'pg';

const pool = new pg.Pool({ connectionString: process.env.DATABASE_URL, max: Number(process.env.DB_POOL_MAX ?? 10) });
const verify = createVerifier({
  key: process.env.JWT_SECRET as string,
  algorithms: ['HS256'],
  allowedAud: 'task-api',
  allowedIss: 'task-api',
  cache: 1000,
});

const PAGE = `SELECT id, user_id, title, description, status, priority, created_at, updated_at, count(*) OVER () AS total
  FROM tasks WHERE user_id = $1 ORDER BY created_at DESC, id DESC LIMIT $2 OFFSET $3`;

const app = Fastify({ logger: false });
app.get('/api/v1/tasks', async (request, reply) => {
  const token = request.headers.authorization?.slice('Bearer '.length) ?? '';
  let sub: string;
  try {
    sub = (verify(token) as { sub: string }).sub;
  } catch {
    return reply.code(401).send({ detail: 'Could not validate credentials' });
  }
  const { rows } = await pool.query(PAGE, [sub, 20, 0]);
  reply.header('x-total-count', String(rows[0]?.total ?? 0));
  return rows.map(({ total: _, ...task }) => task);
});

await app.listen({ host: '127.0.0.1', port: Number(process.env.PORT) });
process.on('SIGTERM', async () => {
  await app.close();
  await pool.end();
  process.exit(0);
});
