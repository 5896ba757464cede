import { parseArgs } from 'node:util';
import amqp from 'amqplib';
import { loadConfigOrExit } from '../config/process.js';
import type { EventBody } from '../modules/events/events.js';

const USAGE = `usage: npm run events:tail -- [BINDING_KEY] [--json]

Prints task-api's events as they arrive, one line each (time, type, subject, actor), until Ctrl-C.
BINDING_KEY selects them by routing key (the event type): '#' (the default) for all, 'task.*' for
tasks, 'user.deactivated' for one type. --json prints each message body as it was published.
Reads AMQP_URL and AMQP_EXCHANGE like the server (from the environment or .env).`;

function fail(message: string, code: number): never {
  console.error(`events:tail: ${message}`);
  process.exit(code);
}

let parsed: ReturnType<typeof parse>;
function parse() {
  return parseArgs({
    allowPositionals: true,
    options: { json: { type: 'boolean' }, help: { type: 'boolean', short: 'h' } },
  });
}
try {
  parsed = parse();
} catch (err) {
  fail(`${(err as Error).message}\n${USAGE}`, 2);
}
if (parsed.values.help) {
  console.log(USAGE);
  process.exit(0);
}
if (parsed.positionals.length > 1) fail(`one binding key at most\n${USAGE}`, 2);
const bindingKey = parsed.positionals[0] ?? '#';

const config = loadConfigOrExit('events:tail');
if (config.amqpUrl === undefined) fail('AMQP_URL is not set: events are off, there is nothing to tail', 1);

/** One line for a person: when, what, about which resource, by whom. */
function line(content: Buffer): string {
  try {
    const event = JSON.parse(content.toString('utf8')) as EventBody;
    const actor = event.actor ? `by ${event.actor.username} (#${event.actor.id})` : 'by (nobody signed in)';
    return `${event.occurred_at}  ${event.type.padEnd(18)} ${event.subject.type} #${event.subject.id}  ${actor}`;
  } catch {
    return `(not a task-api event) ${content.toString('utf8').slice(0, 200)}`;
  }
}

let connection: amqp.ChannelModel;
try {
  connection = await amqp.connect(config.amqpUrl);
} catch (err) {
  fail(`cannot connect to RabbitMQ: ${(err as Error).message}`, 1);
}
connection.on('error', () => {});
connection.on('close', () => fail('the connection to RabbitMQ closed', 1));
const channel = await connection.createChannel();
const exchange = config.events.exchange;
// The same declaration as the publisher's, so tailing before the server has started works too.
await channel.assertExchange(exchange, 'topic', { durable: true });
const { queue } = await channel.assertQueue('', { exclusive: true, autoDelete: true });
await channel.bindQueue(queue, exchange, bindingKey);
await channel.consume(
  queue,
  (message) => {
    if (message === null) fail('the queue was deleted', 1);
    console.log(parsed.values.json ? message.content.toString('utf8') : line(message.content));
  },
  { noAck: true },
);
console.error(`events:tail: listening on exchange "${exchange}" for "${bindingKey}"; Ctrl-C to stop`);

const stop = async () => {
  connection.removeAllListeners('close');
  await connection.close().catch(() => {});
  process.exit(0);
};
process.once('SIGINT', stop);
process.once('SIGTERM', stop);
