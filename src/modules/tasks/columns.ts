import { type SQL, sql } from 'drizzle-orm';
import { PgBigInt53, PgTimestamp } from 'drizzle-orm/pg-core';
import { isoTimestamp } from '../../db/json.js';
import { labels, taskLabels, tasks } from '../../db/schema.js';

/**
 * A task as the API shows it: its fields, in the API's order, each from its column. The one list the
 * reads, the hand-written writes (what they return) and the events' bodies (what they carry) derive from.
 */
export const taskColumns = {
  id: tasks.id,
  user_id: tasks.userId,
  title: tasks.title,
  description: tasks.description,
  status: tasks.status,
  priority: tasks.priority,
  due_at: tasks.dueAt,
  project_id: tasks.projectId,
  created_at: tasks.createdAt,
  updated_at: tasks.updatedAt,
};

/** A task and its version (the ETag), which the API body does not show. */
export const recordColumns = { ...taskColumns, version: tasks.version };

/**
 * A task's labels as a JSON array, sorted by name case-insensitively (the API's order), from the
 * task's id (a column or `relation.id`). A task without labels has `[]`.
 */
export const labelsOf = (taskId: SQL): SQL<string[]> =>
  sql<string[]>`(SELECT coalesce(json_agg(l.name ORDER BY lower(l.name), l.name), '[]'::json)
    FROM ${taskLabels} tl JOIN ${labels} l ON l.id = tl.label_id WHERE tl.task_id = ${taskId})`;

/** What a read selects: a task as the API shows it (its columns and its labels). */
export const taskFields = { ...taskColumns, labels: labelsOf(sql`${tasks.id}`) };
/** A task, its labels and its version. */
export const recordFields = { ...taskFields, version: tasks.version };

type Field = keyof typeof recordColumns;
const RECORD_FIELDS = Object.keys(recordColumns) as Field[];
const isTimestamp = (field: Field) => recordColumns[field] instanceof PgTimestamp;
const isBigint = (field: Field) => recordColumns[field] instanceof PgBigInt53;

/** `RETURNING`/`SELECT` list of a hand-written statement: a record's columns under the API's names, optionally qualified. */
export function returnedColumns(qualifier?: string): SQL {
  const prefix = qualifier === undefined ? '' : `${qualifier}.`;
  return sql.raw(
    RECORD_FIELDS.map((field) => {
      const column = recordColumns[field].name;
      return column === field ? `${prefix}${column}` : `${prefix}${column} AS ${field}`;
    }).join(', '),
  );
}

/** A SELECT list over a write's `changed` CTE: a record's columns and the task's labels. */
export const returnedRecord = (relation: string): SQL =>
  sql`${returnedColumns()}, ${labelsOf(sql.raw(`${relation}.id`))} AS labels`;

/** A hand-written statement's row (timestamps and bigints come raw from pg) mapped as Drizzle maps its columns. */
export function fromDriver<T extends Record<Field, unknown>>(row: Record<Field, unknown>): T {
  const mapped: Record<string, unknown> = { ...row };
  for (const field of RECORD_FIELDS) {
    const value = row[field];
    if (value === null || value === undefined) continue;
    if (isTimestamp(field) || isBigint(field)) mapped[field] = recordColumns[field].mapFromDriverValue(value as never);
  }
  return mapped as T;
}

/**
 * A task's JSON as the API writes it, built in SQL from a relation whose columns carry the API's
 * names (a write's `changed` CTE): its fields in order, timestamps as Date.toISOString writes them.
 */
export function taskJson(relation: string): SQL {
  const fields = (Object.keys(taskColumns) as Field[]).map((field) => {
    const value = sql.raw(`${relation}.${field}`);
    return isTimestamp(field) ? sql`${isoTimestamp(value)} AS ${sql.raw(field)}` : value;
  });
  fields.push(sql`${labelsOf(sql.raw(`${relation}.id`))} AS labels`);
  return sql`(SELECT row_to_json(shown)::text FROM (SELECT ${sql.join(fields, sql`, `)}) shown)`;
}

/** The column behind an API field of a task. */
export const columnOf = (field: string): string => {
  const column = (recordColumns as Record<string, { name: string } | undefined>)[field];
  if (!column) throw new Error(`not a task field: ${field}`);
  return column.name;
};
