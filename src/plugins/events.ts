import type { FastifyInstance } from 'fastify';
import fp from 'fastify-plugin';
import { Counter, Gauge } from 'prom-client';
import type { Events } from '../modules/events/events.js';
import { createPublisher } from '../modules/events/publisher.js';
import { createOutboxRepository } from '../modules/events/repository.js';
import { createUnitOfWork, type UnitOfWork } from '../modules/events/unit-of-work.js';

declare module 'fastify' {
  interface FastifyInstance {
    /** Undefined when AMQP_URL is unset: no outbox rows are written and no publisher runs. */
    events: Events | undefined;
    /** Every write runs in it: with AMQP_URL set it records the write's events and wakes the publisher. */
    unitOfWork: UnitOfWork;
  }
}

/**
 * Task events (README, "Events (RabbitMQ)"): with AMQP_URL set, every instance runs a publisher
 * (in each worker when WORKERS > 1) that sends the outbox to RabbitMQ, from when the server is
 * ready until it closes. Writes go through `unitOfWork`, which records their events when it is set.
 */
async function events(app: FastifyInstance) {
  const { amqpUrl, events: options } = app.config;
  if (amqpUrl === undefined) {
    app.decorate('events', undefined);
    app.decorate('unitOfWork', createUnitOfWork(app.db, { recordEvents: false }));
    return;
  }
  const outbox = createOutboxRepository(app.db);
  const registers = [app.metricsRegistry];
  const published = new Counter({
    name: 'events_published_total',
    help: 'Events published and confirmed by RabbitMQ',
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
  const publisher = createPublisher({
    url: amqpUrl,
    exchange: options.exchange,
    batchSize: options.batchSize,
    pollIntervalMs: options.pollIntervalMs,
    outbox,
    log: app.log.child({ component: 'events' }),
    onPublished: (n) => published.inc(n),
    onFailure: () => failures.inc(),
  });
  app.decorate('unitOfWork', createUnitOfWork(app.db, { recordEvents: true, wake: publisher.wake }));
  app.decorate('events', {
    wake: publisher.wake,
    get brokerConnected() {
      return publisher.connected;
    },
  });
  app.addHook('onReady', () => publisher.start());
  app.addHook('onClose', () => publisher.close());
}

export default fp(events, { name: 'events', dependencies: ['db', 'metrics'] });
