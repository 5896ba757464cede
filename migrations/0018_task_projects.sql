ALTER TABLE "task_counts" ADD COLUMN "project_id" bigint DEFAULT 0 NOT NULL;--> statement-breakpoint
ALTER TABLE "task_counts" DROP CONSTRAINT "task_counts_user_id_status_priority_shard_pk";--> statement-breakpoint
ALTER TABLE "task_counts" ADD CONSTRAINT "task_counts_user_id_project_id_status_priority_shard_pk" PRIMARY KEY("user_id","project_id","status","priority","shard");--> statement-breakpoint
ALTER TABLE "tasks" ADD COLUMN "project_id" bigint;--> statement-breakpoint
ALTER TABLE "tasks" ADD CONSTRAINT "tasks_project_id_projects_id_fk" FOREIGN KEY ("project_id") REFERENCES "public"."projects"("id") ON DELETE restrict ON UPDATE no action;--> statement-breakpoint
CREATE INDEX "task_counts_project_id_idx" ON "task_counts" USING btree ("project_id") WHERE "task_counts"."project_id" <> 0;--> statement-breakpoint
CREATE INDEX "tasks_created_at_id_idx" ON "tasks" USING btree ("created_at" DESC NULLS FIRST,"id" DESC NULLS FIRST);--> statement-breakpoint
DROP INDEX "tasks_created_at_idx";--> statement-breakpoint
CREATE INDEX "tasks_project_id_created_at_idx" ON "tasks" USING btree ("project_id","created_at" DESC NULLS FIRST,"id" DESC NULLS FIRST) WHERE "tasks"."project_id" IS NOT NULL;--> statement-breakpoint
-- task_counts now counts by project too (0: in no project), so a member's list totals its projects'
-- tasks from the counters. A move between projects is a change of counter row like a change of
-- status: the two rows are touched in a fixed order (project, status, priority), never deadlocking.
CREATE OR REPLACE FUNCTION count_tasks() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
  IF TG_OP = 'UPDATE' AND (coalesce(NEW.project_id, 0), NEW.status, NEW.priority) < (coalesce(OLD.project_id, 0), OLD.status, OLD.priority) THEN
    INSERT INTO task_counts (user_id, project_id, shard, status, priority, n)
      VALUES (NEW.user_id, coalesce(NEW.project_id, 0), NEW.id % 4, NEW.status, NEW.priority, 1)
      ON CONFLICT (user_id, project_id, status, priority, shard) DO UPDATE SET n = task_counts.n + 1;
    UPDATE task_counts SET n = n - 1
      WHERE user_id = OLD.user_id AND project_id = coalesce(OLD.project_id, 0) AND shard = OLD.id % 4
        AND status = OLD.status AND priority = OLD.priority;
    RETURN NULL;
  END IF;
  IF TG_OP IN ('UPDATE', 'DELETE') THEN
    UPDATE task_counts SET n = n - 1
      WHERE user_id = OLD.user_id AND project_id = coalesce(OLD.project_id, 0) AND shard = OLD.id % 4
        AND status = OLD.status AND priority = OLD.priority;
  END IF;
  IF TG_OP IN ('INSERT', 'UPDATE') THEN
    INSERT INTO task_counts (user_id, project_id, shard, status, priority, n)
      VALUES (NEW.user_id, coalesce(NEW.project_id, 0), NEW.id % 4, NEW.status, NEW.priority, 1)
      ON CONFLICT (user_id, project_id, status, priority, shard) DO UPDATE SET n = task_counts.n + 1;
  END IF;
  RETURN NULL;
END;
$$;--> statement-breakpoint
DROP TRIGGER tasks_count_update ON tasks;--> statement-breakpoint
CREATE TRIGGER tasks_count_update AFTER UPDATE OF status, priority, project_id ON tasks
  FOR EACH ROW WHEN (OLD.status IS DISTINCT FROM NEW.status OR OLD.priority IS DISTINCT FROM NEW.priority
    OR OLD.project_id IS DISTINCT FROM NEW.project_id)
  EXECUTE FUNCTION count_tasks();
