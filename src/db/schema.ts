import { sql } from 'drizzle-orm';
import {
  type AnyPgColumn,
  bigint,
  bigserial,
  boolean,
  check,
  customType,
  index,
  integer,
  json,
  jsonb,
  pgEnum,
  pgTable,
  primaryKey,
  smallint,
  text,
  timestamp,
  uniqueIndex,
  uuid,
} from 'drizzle-orm/pg-core';
import { PROJECT_ROLES, ROLES, TASK_PRIORITIES, TASK_STATUSES, TOKEN_SCOPES, WEBHOOK_DELIVERY_STATUSES } from './enums.js';

const bytea = customType<{ data: Buffer }>({ dataType: () => 'bytea' });
/** A full (epoch-qualified) transaction id, as text: pg_current_xact_id()'s type. */
const xid8 = customType<{ data: string }>({ dataType: () => 'xid8' });

const timestamps = {
  createdAt: timestamp('created_at', { withTimezone: true, mode: 'date' }).notNull().defaultNow(),
  // Kept current by the set_updated_at trigger (migration 0001), whoever writes the row.
  updatedAt: timestamp('updated_at', { withTimezone: true, mode: 'date' }).notNull().defaultNow(),
};

export const userRole = pgEnum('user_role', ROLES);
// Enum order is the sort order: sorting by priority or status follows it.
export const taskStatus = pgEnum('task_status', TASK_STATUSES);
export const taskPriority = pgEnum('task_priority', TASK_PRIORITIES);
export const projectRole = pgEnum('project_role', PROJECT_ROLES);
export const webhookDeliveryStatus = pgEnum('webhook_delivery_status', WEBHOOK_DELIVERY_STATUSES);

export const users = pgTable(
  'users',
  {
    id: bigint('id', { mode: 'number' }).primaryKey().generatedAlwaysAsIdentity(),
    username: text('username').notNull(),
    email: text('email').notNull(),
    hashedPassword: text('hashed_password').notNull(),
    role: userRole('role').notNull().default('user'),
    isActive: boolean('is_active').notNull().default(true),
    // Bumped by the users_bump_credentials_version trigger (migration 0012) whenever the password
    // changes or the account is deactivated: a login whose session recorded another value is dead.
    credentialsVersion: integer('credentials_version').notNull().default(1),
    // Whether the current email has been confirmed through the link mailed to it (modules/email-verification);
    // a change of email makes it false until the new address is confirmed.
    emailVerified: boolean('email_verified').notNull().default(false),
    ...timestamps,
  },
  (t) => [
    uniqueIndex('users_username_lower_key').on(sql`lower(${t.username})`),
    uniqueIndex('users_email_key').on(t.email),
    check('users_email_lower_case', sql`${t.email} = lower(${t.email})`),
    check('users_username_length', sql`char_length(${t.username}) BETWEEN 3 AND 50`),
  ],
);

export const tasks = pgTable(
  'tasks',
  {
    id: bigint('id', { mode: 'number' }).primaryKey().generatedAlwaysAsIdentity(),
    userId: bigint('user_id', { mode: 'number' })
      .notNull()
      .references(() => users.id, { onDelete: 'cascade' }),
    title: text('title').notNull(),
    description: text('description'),
    status: taskStatus('status').notNull().default('pending'),
    priority: taskPriority('priority').notNull().default('medium'),
    // Internal (not in the API's task object): when the task last became completed, for statistics.
    // Kept by the tasks_completed_at trigger (migration 0003).
    completedAt: timestamp('completed_at', { withTimezone: true, mode: 'date' }),
    // Internal: bumped by a trigger on every change; the task's ETag, and what If-Match compares.
    version: integer('version').notNull().default(1),
    ...timestamps,
    // When the task is due, or null (no due date). Written to the millisecond, as the API shows it.
    dueAt: timestamp('due_at', { withTimezone: true, mode: 'date' }),
    // The project the task is in, or null: then it is its creator's alone. A project with tasks cannot
    // be deleted under them (RESTRICT): its tasks are deleted first, each with its event.
    projectId: bigint('project_id', { mode: 'number' }).references((): AnyPgColumn => projects.id, { onDelete: 'restrict' }),
  },
  (t) => [
    // Serves the default listing (a user's tasks, newest first) straight from the index.
    index('tasks_user_id_created_at_idx').on(t.userId, t.createdAt.desc().nullsFirst(), t.id.desc().nullsFirst()),
    index('tasks_user_id_status_idx').on(t.userId, t.status),
    // Every user's tasks newest first (an admin's default list, by offset or cursor) and the statistics' 7-day range.
    index('tasks_created_at_id_idx').on(t.createdAt.desc().nullsFirst(), t.id.desc().nullsFirst()),
    // A project's tasks, newest first; only tasks in a project have an entry.
    index('tasks_project_id_created_at_idx')
      .on(t.projectId, t.createdAt.desc().nullsFirst(), t.id.desc().nullsFirst())
      .where(sql`${t.projectId} IS NOT NULL`),
    index('tasks_completed_at_idx').on(t.completedAt).where(sql`${t.completedAt} IS NOT NULL`),
    // A user's list filtered by due date (ranges, overdue, has_due) or sorted by it: ascending (nulls
    // last, ties by id) is this index's own order; descending is a sort of that user's tasks.
    index('tasks_user_id_due_at_idx').on(t.userId, t.dueAt, t.id),
    // The same across users (an admin's list) and the statistics' overdue count (a range below now()).
    index('tasks_due_at_idx').on(t.dueAt, t.id),
    // q (ILIKE '%text%') across every user's tasks: pg_trgm's GIN indexes (the extension: migration 0016).
    index('tasks_title_trgm_idx').using('gin', t.title.op('gin_trgm_ops')),
    index('tasks_description_trgm_idx').using('gin', t.description.op('gin_trgm_ops')),
    check('tasks_title_length', sql`char_length(${t.title}) BETWEEN 1 AND 200`),
  ],
);

/**
 * A user's label vocabulary: one row per label, whatever the case it is written in (the unique index
 * is on lower(name)); the first spelling is kept. Tasks carry labels through task_labels.
 */
export const labels = pgTable(
  'labels',
  {
    id: bigint('id', { mode: 'number' }).primaryKey().generatedAlwaysAsIdentity(),
    userId: bigint('user_id', { mode: 'number' })
      .notNull()
      .references(() => users.id, { onDelete: 'cascade' }),
    name: text('name').notNull(),
  },
  (t) => [
    uniqueIndex('labels_user_id_lower_name_key').on(t.userId, sql`lower(${t.name})`),
    // q matches label names too (ILIKE '%text%'): pg_trgm's GIN index.
    index('labels_name_trgm_idx').using('gin', t.name.op('gin_trgm_ops')),
    check('labels_name_length', sql`char_length(${t.name}) BETWEEN 1 AND 50`),
  ],
);

/** Which task carries which label (of its owner's vocabulary). */
export const taskLabels = pgTable(
  'task_labels',
  {
    taskId: bigint('task_id', { mode: 'number' })
      .notNull()
      .references(() => tasks.id, { onDelete: 'cascade' }),
    labelId: bigint('label_id', { mode: 'number' })
      .notNull()
      .references(() => labels.id, { onDelete: 'cascade' }),
  },
  // The primary key serves "the labels of a task"; the index, "the tasks with label X".
  (t) => [primaryKey({ columns: [t.taskId, t.labelId] }), index('task_labels_label_id_task_id_idx').on(t.labelId, t.taskId)],
);

/**
 * A project: a name and a description. Its owner is not a column here but the one member whose role is
 * `owner` (project_members): the fact is written once, so a hand-over changes two member rows and
 * nothing can disagree with them.
 */
export const projects = pgTable(
  'projects',
  {
    id: bigint('id', { mode: 'number' }).primaryKey().generatedAlwaysAsIdentity(),
    name: text('name').notNull(),
    description: text('description'),
    ...timestamps,
  },
  (t) => [
    // The list's sort keys, each with id for its ties (read backwards for a descending sort): an
    // admin's page, by offset or cursor, reads an index range instead of sorting every project.
    index('projects_created_at_id_idx').on(t.createdAt, t.id),
    index('projects_updated_at_id_idx').on(t.updatedAt, t.id),
    index('projects_lower_name_id_idx').on(sql`lower(${t.name})`, t.id),
    check('projects_name_length', sql`char_length(${t.name}) BETWEEN 1 AND 100`),
    check('projects_description_length', sql`char_length(${t.description}) <= 10000`),
  ],
);

/**
 * Who is in a project, and as what. At most one owner per project (the partial unique index); at
 * least one is checked at commit by the project_members_one_owner constraint trigger (migration
 * 0017), so a hand-over may demote and promote within its transaction.
 */
export const projectMembers = pgTable(
  'project_members',
  {
    projectId: bigint('project_id', { mode: 'number' })
      .notNull()
      .references(() => projects.id, { onDelete: 'cascade' }),
    userId: bigint('user_id', { mode: 'number' })
      .notNull()
      .references(() => users.id, { onDelete: 'cascade' }),
    role: projectRole('role').notNull(),
    createdAt: timestamp('created_at', { withTimezone: true, mode: 'date' }).notNull().defaultNow(),
  },
  (t) => [
    // The key answers "this user's role in project P"; the index, "the projects this user is in".
    primaryKey({ columns: [t.projectId, t.userId] }),
    index('project_members_user_id_project_id_idx').on(t.userId, t.projectId),
    uniqueIndex('project_members_one_owner_key').on(t.projectId).where(sql`${t.role} = 'owner'`),
  ],
);

/**
 * One row per login. Access tokens carry its id (`sid`), refresh tokens belong to it: revoking
 * the session refuses both, on every instance, and survives restarts.
 */
export const authSessions = pgTable(
  'auth_sessions',
  {
    id: uuid('id').primaryKey().defaultRandom(),
    userId: bigint('user_id', { mode: 'number' })
      .notNull()
      .references(() => users.id, { onDelete: 'cascade' }),
    createdAt: timestamp('created_at', { withTimezone: true, mode: 'date' }).notNull().defaultNow(),
    expiresAt: timestamp('expires_at', { withTimezone: true, mode: 'date' }).notNull(),
    revokedAt: timestamp('revoked_at', { withTimezone: true, mode: 'date' }),
    revokedReason: text('revoked_reason'),
    // The user's credentials_version when this login proved the password; valid only while they are equal.
    credentialsVersion: integer('credentials_version').notNull(),
    // What the session list shows its owner: the client's User-Agent (cut to 512 characters) and its
    // address already masked to a network (IPv4 /24, IPv6 /48): the full address is never stored.
    userAgent: text('user_agent'),
    address: text('address'),
    // Advanced by the per-request check at most once a minute (sessions repository), not on every request.
    lastUsedAt: timestamp('last_used_at', { withTimezone: true, mode: 'date' }).notNull().defaultNow(),
  },
  (t) => [index('auth_sessions_user_id_idx').on(t.userId)],
);

/** Opaque refresh tokens, stored as SHA-256 digests; `used_at` marks a rotated (spent) one. */
export const refreshTokens = pgTable(
  'refresh_tokens',
  {
    id: bigint('id', { mode: 'number' }).primaryKey().generatedAlwaysAsIdentity(),
    sessionId: uuid('session_id')
      .notNull()
      .references(() => authSessions.id, { onDelete: 'cascade' }),
    tokenHash: bytea('token_hash').notNull(),
    createdAt: timestamp('created_at', { withTimezone: true, mode: 'date' }).notNull().defaultNow(),
    expiresAt: timestamp('expires_at', { withTimezone: true, mode: 'date' }).notNull(),
    usedAt: timestamp('used_at', { withTimezone: true, mode: 'date' }),
  },
  (t) => [uniqueIndex('refresh_tokens_token_hash_key').on(t.tokenHash), index('refresh_tokens_session_id_idx').on(t.sessionId)],
);

/** Responses of POST /tasks kept for 24 hours per (user, Idempotency-Key), for replaying retries. */
export const idempotencyKeys = pgTable(
  'idempotency_keys',
  {
    userId: bigint('user_id', { mode: 'number' })
      .notNull()
      .references(() => users.id, { onDelete: 'cascade' }),
    key: text('key').notNull(),
    requestHash: bytea('request_hash').notNull(),
    responseStatus: integer('response_status').notNull(),
    responseBody: jsonb('response_body').notNull(),
    createdAt: timestamp('created_at', { withTimezone: true, mode: 'date' }).notNull().defaultNow(),
  },
  (t) => [primaryKey({ columns: [t.userId, t.key] }), index('idempotency_keys_created_at_idx').on(t.createdAt)],
);

/**
 * Task counts per user, status and priority, kept by triggers (migration 0009): statistics and the
 * X-Total-Count of a list read counters instead of counting tasks, so their cost does not grow with
 * the number of tasks. Each key is spread over 4 shards (task id mod 4), so one user's concurrent
 * writes rarely wait on the same counter row.
 */
export const taskCounts = pgTable(
  'task_counts',
  {
    userId: bigint('user_id', { mode: 'number' })
      .notNull()
      .references(() => users.id, { onDelete: 'cascade' }),
    // The tasks' project, 0 for tasks in none (a key column cannot be null). No foreign key: a
    // project's rows go to 0 with its tasks and stay as harmless zeros, as a user's do.
    projectId: bigint('project_id', { mode: 'number' }).notNull().default(0),
    shard: smallint('shard').notNull(),
    status: taskStatus('status').notNull(),
    priority: taskPriority('priority').notNull(),
    n: bigint('n', { mode: 'number' }).notNull().default(0),
  },
  // The key answers a creator's counts (with or outside projects); the index, a project's.
  (t) => [
    primaryKey({ columns: [t.userId, t.projectId, t.status, t.priority, t.shard] }),
    index('task_counts_project_id_idx').on(t.projectId).where(sql`${t.projectId} <> 0`),
  ],
);

/**
 * Every event, as written (modules/events): a row is inserted in the same statement or transaction
 * as the change it describes, and never changed after; `event_outbox_pending` says which are still
 * to be published. `id` orders the events; `aggregate_key` ('task:12', 'user:3') names whose order
 * must be kept. The payload is `json`, not `jsonb`: it is the message body verbatim (key order as
 * documented), never queried inside, and cheaper to write. Published rows are kept for
 * EVENTS_RETENTION_HOURS after they were written, then pruned.
 */
export const eventOutbox = pgTable(
  'event_outbox',
  {
    id: bigserial('id', { mode: 'number' }).primaryKey(),
    eventId: uuid('event_id').notNull(),
    type: text('type').notNull(),
    aggregateKey: text('aggregate_key').notNull(),
    payload: json('payload').notNull(),
    createdAt: timestamp('created_at', { withTimezone: true, mode: 'date' }).notNull().defaultNow(),
    // The writing transaction's id: the webhook feed reads the outbox in (xid, id) order, only rows of
    // transactions older than every running one (modules/webhooks/repository.ts explains why).
    xid: xid8('xid').notNull().default(sql`pg_current_xact_id()`),
  },
  // Pruning finds the old rows by age: rows arrive in time order, so a BRIN index (a few pages,
  // next to nothing to maintain per insert) is enough. The feed reads past its cursor in (xid, id) order.
  (t) => [index('event_outbox_created_at_idx').using('brin', t.createdAt), index('event_outbox_xid_id_idx').on(t.xid, t.id)],
);

/**
 * The events not yet published: one small row per event, deleted by the publisher once the broker
 * has confirmed it. Kept apart from the event itself so that marking a batch sent deletes a few
 * bytes per event instead of rewriting each event's row (payload and all) and its indexes.
 * No foreign key: the row is written by the same statement as its event, and pruning never
 * deletes an event that still has one.
 */
export const eventOutboxPending = pgTable(
  'event_outbox_pending',
  {
    id: bigint('id', { mode: 'number' }).primaryKey(),
    aggregateKey: text('aggregate_key').notNull(),
  },
  // The publisher's "is an earlier event of this task still unsent?" probe.
  (t) => [index('event_outbox_pending_aggregate_idx').on(t.aggregateKey, t.id)],
);

/**
 * Password reset tokens (modules/password-reset): 256 random bits mailed to the account's address,
 * stored as their SHA-256 digest (a plain hash is right for a high-entropy token). A token is live
 * while `used_at` is null and `expires_at` is ahead; a newer request deletes the user's live ones,
 * and the maintenance job deletes expired and used rows.
 */
export const passwordResetTokens = pgTable(
  'password_reset_tokens',
  {
    id: bigint('id', { mode: 'number' }).primaryKey().generatedAlwaysAsIdentity(),
    userId: bigint('user_id', { mode: 'number' })
      .notNull()
      .references(() => users.id, { onDelete: 'cascade' }),
    tokenHash: bytea('token_hash').notNull(),
    createdAt: timestamp('created_at', { withTimezone: true, mode: 'date' }).notNull().defaultNow(),
    expiresAt: timestamp('expires_at', { withTimezone: true, mode: 'date' }).notNull(),
    usedAt: timestamp('used_at', { withTimezone: true, mode: 'date' }),
  },
  (t) => [
    uniqueIndex('password_reset_tokens_token_hash_key').on(t.tokenHash),
    index('password_reset_tokens_user_id_idx').on(t.userId),
    index('password_reset_tokens_expires_at_idx').on(t.expiresAt),
  ],
);

/**
 * Mails waiting to be sent (modules/mail): written in the transaction of the change that asks for
 * them, sent by a background sender that claims due rows with FOR UPDATE SKIP LOCKED (safe with
 * several instances), and deleted once sent or given up. `params` holds the template's ordinary
 * values; `secret` the one secret a mail carries (a reset token), encrypted with AES-256-GCM under a
 * key derived from JWT_SECRET, so the queue never holds a live token in the clear. A mail whose
 * `expires_at` has passed (its token is dead) is dropped unsent.
 */
export const mailQueue = pgTable(
  'mail_queue',
  {
    id: bigint('id', { mode: 'number' }).primaryKey().generatedAlwaysAsIdentity(),
    template: text('template').notNull(),
    recipient: text('recipient').notNull(),
    params: jsonb('params').notNull(),
    secret: bytea('secret'),
    attempts: integer('attempts').notNull().default(0),
    nextAttemptAt: timestamp('next_attempt_at', { withTimezone: true, mode: 'date' }).notNull().defaultNow(),
    expiresAt: timestamp('expires_at', { withTimezone: true, mode: 'date' }),
    createdAt: timestamp('created_at', { withTimezone: true, mode: 'date' }).notNull().defaultNow(),
  },
  (t) => [index('mail_queue_next_attempt_at_idx').on(t.nextAttemptAt)],
);

/**
 * Email verification tokens (modules/email-verification): like reset tokens, 256 random bits mailed
 * to an address and stored as their SHA-256 digest. `email` is the address the token proves: it
 * verifies the account only while that is still the account's email. A newer token replaces the
 * account's older ones; the maintenance job deletes expired rows.
 */
export const emailVerificationTokens = pgTable(
  'email_verification_tokens',
  {
    id: bigint('id', { mode: 'number' }).primaryKey().generatedAlwaysAsIdentity(),
    userId: bigint('user_id', { mode: 'number' })
      .notNull()
      .references(() => users.id, { onDelete: 'cascade' }),
    email: text('email').notNull(),
    tokenHash: bytea('token_hash').notNull(),
    createdAt: timestamp('created_at', { withTimezone: true, mode: 'date' }).notNull().defaultNow(),
    expiresAt: timestamp('expires_at', { withTimezone: true, mode: 'date' }).notNull(),
  },
  (t) => [
    uniqueIndex('email_verification_tokens_token_hash_key').on(t.tokenHash),
    index('email_verification_tokens_user_id_idx').on(t.userId),
    index('email_verification_tokens_expires_at_idx').on(t.expiresAt),
  ],
);

/**
 * Personal access tokens (modules/access-tokens): 256 random bits after a `tap_` prefix, shown once
 * and stored as their SHA-256 digest, each with the scopes it was granted. Like a session, a token
 * records the user's credentials version when it was made and counts only while that is still the
 * user's: a password change or reset, or a deactivation, ends it. `prefix` (the first characters
 * after `tap_`) lets its owner tell tokens apart; it is no secret. Every token expires; the
 * maintenance job deletes expired rows.
 */
export const personalAccessTokens = pgTable(
  'personal_access_tokens',
  {
    id: bigint('id', { mode: 'number' }).primaryKey().generatedAlwaysAsIdentity(),
    userId: bigint('user_id', { mode: 'number' })
      .notNull()
      .references(() => users.id, { onDelete: 'cascade' }),
    name: text('name').notNull(),
    tokenHash: bytea('token_hash').notNull(),
    prefix: text('prefix').notNull(),
    scopes: text('scopes').array().notNull(),
    credentialsVersion: integer('credentials_version').notNull(),
    createdAt: timestamp('created_at', { withTimezone: true, mode: 'date' }).notNull().defaultNow(),
    // Written at most once a minute per token, by the per-request lookup itself.
    lastUsedAt: timestamp('last_used_at', { withTimezone: true, mode: 'date' }),
    expiresAt: timestamp('expires_at', { withTimezone: true, mode: 'date' }).notNull(),
  },
  (t) => [
    uniqueIndex('personal_access_tokens_token_hash_key').on(t.tokenHash),
    uniqueIndex('personal_access_tokens_user_id_name_key').on(t.userId, t.name),
    index('personal_access_tokens_expires_at_idx').on(t.expiresAt),
    check('personal_access_tokens_name_length', sql`char_length(${t.name}) BETWEEN 1 AND 100`),
    check(
      'personal_access_tokens_scopes_known',
      sql`cardinality(${t.scopes}) >= 1 AND ${t.scopes} <@ ARRAY[${sql.raw(TOKEN_SCOPES.map((s) => `'${s}'`).join(', '))}]::text[]`,
    ),
  ],
);

/**
 * Webhooks (modules/webhooks): a user's HTTPS endpoint and the event types it wants ('*': every one).
 * `secret` is the signing secret sealed with AES-256-GCM under a key derived from JWT_SECRET (shown
 * to the user once, at creation). `active` turns false when the owner disables it or when
 * WEBHOOK_DISABLE_AFTER_FAILURES deliveries in a row have failed (`consecutive_failures`).
 */
export const webhooks = pgTable(
  'webhooks',
  {
    id: bigint('id', { mode: 'number' }).primaryKey().generatedAlwaysAsIdentity(),
    userId: bigint('user_id', { mode: 'number' })
      .notNull()
      .references(() => users.id, { onDelete: 'cascade' }),
    url: text('url').notNull(),
    description: text('description'),
    eventTypes: text('event_types').array().notNull(),
    secret: bytea('secret').notNull(),
    active: boolean('active').notNull().default(true),
    disabledReason: text('disabled_reason'),
    consecutiveFailures: integer('consecutive_failures').notNull().default(0),
    ...timestamps,
  },
  (t) => [index('webhooks_user_id_id_idx').on(t.userId, t.id)],
);

/**
 * What the webhook feed has passed: one row, the (xid, id) of the last outbox row it fanned out.
 * The fan-out worker locks it (FOR UPDATE SKIP LOCKED), so one instance at a time moves it.
 */
export const webhookFeed = pgTable(
  'webhook_feed',
  {
    id: smallint('id').primaryKey().default(1),
    xid: xid8('xid').notNull(),
    outboxId: bigint('outbox_id', { mode: 'number' }).notNull(),
  },
  (t) => [check('webhook_feed_one_row', sql`${t.id} = 1`)],
);

/**
 * One event to send to one webhook, and how its sending went. `payload` is the outbox row's body
 * verbatim (json keeps its text), so a delivery outlives the outbox's retention. `seq` is the outbox
 * id (0 for a test ping): a delivery waits while an earlier one of the same (webhook, aggregate_key)
 * is pending. `next_attempt_at` is also the lease of a claimed delivery (as in mail_queue).
 */
export const webhookDeliveries = pgTable(
  'webhook_deliveries',
  {
    id: bigint('id', { mode: 'number' }).primaryKey().generatedAlwaysAsIdentity(),
    webhookId: bigint('webhook_id', { mode: 'number' })
      .notNull()
      .references(() => webhooks.id, { onDelete: 'cascade' }),
    seq: bigint('seq', { mode: 'number' }).notNull(),
    eventId: uuid('event_id').notNull(),
    eventType: text('event_type').notNull(),
    aggregateKey: text('aggregate_key').notNull(),
    payload: json('payload').notNull(),
    status: webhookDeliveryStatus('status').notNull().default('pending'),
    attempts: integer('attempts').notNull().default(0),
    nextAttemptAt: timestamp('next_attempt_at', { withTimezone: true, mode: 'date' }).notNull().defaultNow(),
    lastAttemptAt: timestamp('last_attempt_at', { withTimezone: true, mode: 'date' }),
    responseStatus: integer('response_status'),
    durationMs: integer('duration_ms'),
    error: text('error'),
    createdAt: timestamp('created_at', { withTimezone: true, mode: 'date' }).notNull().defaultNow(),
  },
  (t) => [
    // The delivery worker's due rows, and its "is an earlier one of this task still pending?" probe.
    index('webhook_deliveries_due_idx').on(t.nextAttemptAt).where(sql`${t.status} = 'pending'`),
    index('webhook_deliveries_pending_order_idx').on(t.webhookId, t.aggregateKey, t.seq).where(sql`${t.status} = 'pending'`),
    // A webhook's deliveries, newest first (GET /webhooks/{id}/deliveries).
    index('webhook_deliveries_webhook_id_id_idx').on(t.webhookId, t.id),
    // Pruning finished deliveries by age.
    index('webhook_deliveries_created_at_idx').using('brin', t.createdAt),
  ],
);

/**
 * Stream tickets (modules/stream): what a browser's EventSource, which cannot send headers, puts
 * in the URL instead of its access token. 256 random bits, stored as their SHA-256 digest, bound to
 * the login (session) that asked for one: valid for 60 seconds, once (`used_at`), and only while
 * that login is. In PostgreSQL, so any instance accepts a ticket another issued.
 */
export const streamTickets = pgTable(
  'stream_tickets',
  {
    id: bigint('id', { mode: 'number' }).primaryKey().generatedAlwaysAsIdentity(),
    tokenHash: bytea('token_hash').notNull(),
    userId: bigint('user_id', { mode: 'number' })
      .notNull()
      .references(() => users.id, { onDelete: 'cascade' }),
    sessionId: uuid('session_id')
      .notNull()
      .references(() => authSessions.id, { onDelete: 'cascade' }),
    expiresAt: timestamp('expires_at', { withTimezone: true, mode: 'date' }).notNull(),
    usedAt: timestamp('used_at', { withTimezone: true, mode: 'date' }),
    createdAt: timestamp('created_at', { withTimezone: true, mode: 'date' }).notNull().defaultNow(),
  },
  (t) => [
    uniqueIndex('stream_tickets_token_hash_key').on(t.tokenHash),
    // Maintenance deletes expired tickets by age; cascades from a session or a user find theirs.
    index('stream_tickets_expires_at_idx').on(t.expiresAt),
    index('stream_tickets_session_id_idx').on(t.sessionId),
    index('stream_tickets_user_id_idx').on(t.userId),
  ],
);
