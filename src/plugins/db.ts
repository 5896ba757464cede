import type { FastifyInstance } from 'fastify';
import fp from 'fastify-plugin';
import type pg from 'pg';
import { createDatabase, createPool, type Database } from '../db/pool.js';

declare module 'fastify' {
  interface FastifyInstance {
    pool: pg.Pool;
    db: Database;
  }
}

async function db(app: FastifyInstance) {
  const pool = createPool(app.config.databaseUrl, {
    max: app.config.dbPoolMax,
    statementTimeoutMs: app.config.dbStatementTimeoutMs,
    connectionTimeoutMs: app.config.dbConnectionTimeoutMs,
  });
  // An idle client losing its connection (database restart) must not crash the process.
  pool.on('error', (err) => app.log.warn({ err: { message: err.message } }, 'idle database connection lost'));
  app.decorate('pool', pool);
  app.decorate('db', createDatabase(pool));
  app.addHook('onClose', async () => {
    await pool.end();
  });
}

export default fp(db, { name: 'db', dependencies: ['config'] });
