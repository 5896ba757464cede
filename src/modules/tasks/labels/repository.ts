import { sql } from 'drizzle-orm';
import type { Database } from '../../../db/pool.js';
import { executePrepared } from '../../../db/prepared.js';
import { labels, taskLabels, tasks } from '../../../db/schema.js';
import type { Actor } from '../../events/events.js';
import type { Work } from '../../events/unit-of-work.js';
import { visibleTo } from '../access.js';
import { returnedColumns } from '../columns.js';
import { taskOutbox } from '../events.js';
import type { LabelDeleted, LabelRenamed } from './events.js';
import type { LabelSummary } from './schemas.js';

/**
 * Lock order, everywhere: a task's row, then its labels' rows in lower(name) order. A task write
 * locks its task (the UPDATE, or the row it has just inserted) before it touches labels; a rename or
 * a delete locks the tasks that carry the label before the label itself. So no two writes wait on
 * each other in a loop.
 */

/**
 * Makes `names` (trimmed) the labels of a task of `ownerId`, in its transaction (the task's row
 * already locked): each name is found in the owner's vocabulary, in any case, or added as sent
 * (the first of several spellings in one list wins). Returns whether the task's labels changed.
 *
 * The upsert's DO UPDATE (a no-op) locks an existing label and returns it even when it was
 * committed after this statement's snapshot, so a concurrent first use of a name, or a concurrent
 * delete, cannot leave the task without a label it was given.
 */
// Lists go as one JSON parameter: a JS array in a template would become one parameter per element.
export async function setTaskLabels(work: Work, taskId: number, ownerId: number, names: string[]): Promise<boolean> {
  const { rows } = await executePrepared<{ changes: number }>(
    work.db,
    sql`WITH wanted AS (
      SELECT DISTINCT ON (lower(w.name)) w.name, w.ord
      FROM json_array_elements_text(${JSON.stringify(names)}::json) WITH ORDINALITY AS w(name, ord)
      ORDER BY lower(w.name), w.ord
    ), chosen AS (
      INSERT INTO ${labels} (user_id, name)
      SELECT ${ownerId}::bigint, wanted.name FROM wanted ORDER BY lower(wanted.name)
      ON CONFLICT (user_id, lower(name)) DO UPDATE SET name = ${labels}.name
      RETURNING id
    ), removed AS (
      DELETE FROM ${taskLabels} WHERE task_id = ${taskId} AND label_id NOT IN (SELECT id FROM chosen)
      RETURNING 1
    ), attached AS (
      INSERT INTO ${taskLabels} (task_id, label_id) SELECT ${taskId}::bigint, id FROM chosen
      ON CONFLICT DO NOTHING
      RETURNING 1
    )
    SELECT ((SELECT count(*) FROM removed) + (SELECT count(*) FROM attached))::int AS changes`,
  );
  return (rows[0]?.changes ?? 0) > 0;
}

interface FoundLabel {
  // A bigint: as pg returns it, only ever sent back as a parameter.
  id: number | string;
  name: string;
}

/** The caller's own vocabulary: listing it, renaming (or merging) and deleting labels across their tasks. */
export function createLabelsRepository(db: Database) {
  /** The owner's label of this name, in any case. */
  const find = async (work: Work, ownerId: number, name: string): Promise<FoundLabel | undefined> => {
    const { rows } = await executePrepared<FoundLabel>(
      work.db,
      sql`SELECT id, name FROM ${labels} WHERE user_id = ${ownerId} AND lower(name) = lower(${name})`,
    );
    return rows[0];
  };

  /**
   * Locks the tasks that carry the label, then the labels named (lower(name) order): the lock order
   * above. Returns the labels as they are once locked (one may have gone meanwhile).
   */
  const lockFor = async (work: Work, ownerId: number, label: FoundLabel, names: string[]): Promise<FoundLabel[]> => {
    await executePrepared(
      work.db,
      sql`SELECT id FROM ${tasks} WHERE id IN (SELECT task_id FROM ${taskLabels} WHERE label_id = ${label.id})
        ORDER BY id FOR UPDATE`,
    );
    const { rows } = await executePrepared<FoundLabel>(
      work.db,
      sql`SELECT id, name FROM ${labels}
        WHERE user_id = ${ownerId} AND lower(name) IN (SELECT lower(n) FROM json_array_elements_text(${JSON.stringify(names)}::json) AS n)
        ORDER BY lower(name) FOR UPDATE`,
    );
    return rows;
  };

  /** The tasks that carry a label now (their rows locked by lockFor, or locked here by the UPDATE). */
  const carrying = async (work: Work, labelId: FoundLabel['id']): Promise<Array<number | string>> => {
    const { rows } = await executePrepared<{ id: number | string }>(
      work.db,
      sql`SELECT task_id AS id FROM ${taskLabels} WHERE label_id = ${labelId} ORDER BY task_id`,
    );
    return rows.map((r) => r.id);
  };

  /**
   * Their label list changed: each task moves to a new version (a new ETag, a later updated_at) and
   * records a task.updated event with its labels as they now are (read after the label writes).
   */
  const touch = async (work: Work, taskIds: Array<number | string>, actor: Actor): Promise<void> => {
    if (taskIds.length === 0) return;
    await executePrepared(
      work.db,
      sql`WITH changed AS (
        UPDATE ${tasks} SET version = version + 1 WHERE id = ANY(${`{${taskIds.join(',')}}`}::bigint[])
        RETURNING ${returnedColumns()}
      ), ${work.outbox(taskOutbox('task.updated', actor))}
      SELECT count(*) FROM changed`,
    );
  };

  const taskCount = async (work: Work, labelId: FoundLabel['id']): Promise<number> => {
    const { rows } = await executePrepared<{ n: number }>(
      work.db,
      sql`SELECT count(*)::int AS n FROM ${taskLabels} WHERE label_id = ${labelId}`,
    );
    return rows[0]?.n ?? 0;
  };

  return {
    /**
     * The owner's labels, sorted by name (case-insensitively), each with how many of the tasks the owner
     * can see carry it (not a task of a project they have left).
     */
    async list(ownerId: number): Promise<LabelSummary[]> {
      const { rows } = await executePrepared<LabelSummary>(
        db,
        sql`SELECT l.name, count(${tasks.id})::int AS task_count
          FROM ${labels} l LEFT JOIN ${taskLabels} tl ON tl.label_id = l.id
          LEFT JOIN ${tasks} ON ${tasks.id} = tl.task_id AND ${visibleTo(ownerId)}
          WHERE l.user_id = ${ownerId}
          GROUP BY l.id, l.name
          ORDER BY lower(l.name), l.name`,
      );
      return rows;
    },

    /**
     * Renames the owner's label `from` to `to` on every task (run it in a transaction). When another
     * label is already called `to` (any case), the two merge into that one: a task that carried both
     * keeps one. Undefined when the owner has no label `from`; `change` undefined when the name is
     * already `to`, exactly (nothing changed).
     */
    async rename(
      work: Work,
      ownerId: number,
      from: string,
      to: string,
      actor: Actor,
    ): Promise<{ label: LabelSummary; change?: LabelRenamed | undefined } | undefined> {
      const found = await find(work, ownerId, from);
      if (!found) return undefined;
      const locked = await lockFor(work, ownerId, found, [from, to]);
      const source = locked.find((l) => l.id === found.id);
      if (!source) return undefined;
      const target = locked.find((l) => l.id !== source.id);
      const affected = await carrying(work, source.id);
      if (!target) {
        // Only the spelling changes (perhaps only its case); the same name as now changes nothing.
        if (source.name === to) return { label: { name: source.name, task_count: affected.length } };
        await executePrepared(work.db, sql`UPDATE ${labels} SET name = ${to} WHERE id = ${source.id}`);
        await touch(work, affected, actor);
        const label = { name: to, task_count: affected.length };
        return { label, change: { name: to, previousName: source.name, merged: false, taskCount: affected.length } };
      }
      await executePrepared(
        work.db,
        sql`INSERT INTO ${taskLabels} (task_id, label_id)
          SELECT task_id, ${target.id}::bigint FROM ${taskLabels} WHERE label_id = ${source.id}
          ON CONFLICT DO NOTHING`,
      );
      await executePrepared(work.db, sql`DELETE FROM ${labels} WHERE id = ${source.id}`);
      await touch(work, affected, actor);
      const label = { name: target.name, task_count: await taskCount(work, target.id) };
      return { label, change: { name: label.name, previousName: source.name, merged: true, taskCount: label.task_count } };
    },

    /**
     * Removes the owner's label from every task and from the vocabulary: its name and how many tasks
     * carried it; undefined when there is no such label.
     */
    async delete(work: Work, ownerId: number, name: string, actor: Actor): Promise<LabelDeleted | undefined> {
      const found = await find(work, ownerId, name);
      if (!found) return undefined;
      const [label] = await lockFor(work, ownerId, found, [name]);
      if (!label) return undefined;
      const affected = await carrying(work, label.id);
      await executePrepared(work.db, sql`DELETE FROM ${labels} WHERE id = ${label.id}`);
      await touch(work, affected, actor);
      return { name: label.name, taskCount: affected.length };
    },
  };
}

export type LabelsRepository = ReturnType<typeof createLabelsRepository>;
