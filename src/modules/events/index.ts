import type { FastifyInstance } from 'fastify';
import fp from 'fastify-plugin';
import { Counter, Gauge, Histogram } from 'prom-client';
import { createDatabase, createPool } from '../../db/pool.js';
import type { Events } from './events.js';
import { createPublisher } from './publisher.js';
import { createOutboxRepository, type OutboxRepository } from './repository.js';
import { createUnitOfWork, outboxConsumers, type UnitOfWork } from './unit-of-work.js';

declare module 'fastify' {
  interface FastifyInstance {
    /** Undefined when AMQP_URL is unset: no publisher runs, and no outbox row is marked pending. */
    events: Events | undefined;
    /**
     * Every write runs in it: with a consumer of the outbox (AMQP_URL set, or webhooks on) it records
     * the write's events and, after the commit, wakes this instance's consumers.
     */
    unitOfWork: UnitOfWork;
    /** A consumer of the outbox in this instance (the webhook feed) asks here to be woken after each commit. */
    wakeAfterCommits(wake: () => void): void;
    /** The outbox, built once here, events on or off (maintenance prunes sent rows through it). */
    outboxRepository: OutboxRepository;
  }
}

/**
 * The events module (README, "Events (RabbitMQ)"): with AMQP_URL set, every instance runs a publisher
 * (in each worker when WORKERS > 1) that sends the outbox to RabbitMQ, from when the server is
 * ready until it closes. Writes go through `unitOfWork`, which records their events whenever the
 * outbox has a consumer: the publisher, the webhooks (modules/webhooks) or the live stream
 * (modules/stream), both on by default.
 */
async function events(app: FastifyInstance) {
  const { amqpUrl, events: options } = app.config;
  const outbox = createOutboxRepository(app.db);
  app.decorate('outboxRepository', outbox);
  const wakes: Array<() => void> = [];
  app.decorate('wakeAfterCommits', (wake: () => void) => {
    wakes.push(wake);
  });
  const wakeAll = () => {
    for (const wake of wakes) wake();
  };
  app.decorate('unitOfWork', createUnitOfWork(app.db, { consumers: outboxConsumers(app.config), wake: wakeAll }));
  if (amqpUrl === undefined) {
    app.decorate('events', undefined);
    return;
  }
  // The metrics plugin's registry (a declared dependency): the publisher's counters join /metrics.
  const registers = [app.metricsRegistry];
  const published = new Counter({
    name: 'events_published_total',
    help: 'Events published and confirmed by RabbitMQ',
    registers,
  });
  const batchSizes = new Histogram({
    name: 'events_publish_batch_size',
    help: 'Events per published batch (how much each round of the publisher carried; at most EVENTS_BATCH_SIZE)',
    buckets: [1, 2, 5, 10, 20, 50, 100, 200, 500],
    registers,
  });
  const failures = new Counter({
    name: 'events_publish_failures_total',
    help: 'Publishing rounds that failed (broker or database); their events stay in the outbox and are retried',
    registers,
  });
  new Gauge({
    name: 'events_outbox_pending',
    help: 'Events in the outbox not yet published (all instances share the outbox)',
    registers,
    // Every worker reads the same table: with several, show the figure once rather than their sum.
    aggregator: 'max',
    async collect() {
      try {
        this.set(await outbox.pendingCount());
      } catch {
        // The database is down: /readyz says so; the last figure stays.
      }
    },
  });
  // The publisher's own connection, apart from the pool requests use: a round of publishing holds
  // its connection while RabbitMQ confirms, which would otherwise take one of DB_POOL_MAX from the
  // requests for as long as writes keep coming. Its commits (the sent marks) need no WAL flush.
  const publisherPool = createPool(app.config.databaseUrl, {
    max: 1,
    applicationName: 'task-api-publisher',
    statementTimeoutMs: app.config.dbStatementTimeoutMs,
    connectionTimeoutMs: app.config.dbConnectionTimeoutMs,
    asynchronousCommit: true,
  });
  publisherPool.on('error', (err) => app.log.warn({ err: { message: err.message } }, 'idle publisher database connection lost'));
  const publisher = createPublisher({
    url: amqpUrl,
    exchange: options.exchange,
    batchSize: options.batchSize,
    pollIntervalMs: options.pollIntervalMs,
    outbox: createOutboxRepository(createDatabase(publisherPool)),
    log: app.log.child({ component: 'events' }),
    onPublished: (n) => {
      published.inc(n);
      batchSizes.observe(n);
    },
    onFailure: () => failures.inc(),
  });
  wakes.push(publisher.wake);
  app.decorate('events', {
    wake: publisher.wake,
    get brokerConnected() {
      return publisher.connected;
    },
  });
  app.addHook('onReady', () => publisher.start());
  app.addHook('onClose', async () => {
    await publisher.close();
    await publisherPool.end();
  });
}

export default fp(events, { name: 'events', dependencies: ['db', 'metrics'] });
