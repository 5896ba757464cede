-- task_counts follows tasks: +1 where a task arrives, -1 where it leaves (insert, delete, or an
-- update that changes status or priority). An update touches its two counter rows in a fixed order
-- (by status, then priority), so concurrent updates may wait for each other but never deadlock.
CREATE FUNCTION count_tasks() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
  IF TG_OP = 'UPDATE' AND (NEW.status, NEW.priority) < (OLD.status, OLD.priority) THEN
    INSERT INTO task_counts (user_id, shard, status, priority, n) VALUES (NEW.user_id, NEW.id % 4, NEW.status, NEW.priority, 1)
      ON CONFLICT (user_id, status, priority, shard) DO UPDATE SET n = task_counts.n + 1;
    UPDATE task_counts SET n = n - 1
      WHERE user_id = OLD.user_id AND shard = OLD.id % 4 AND status = OLD.status AND priority = OLD.priority;
    RETURN NULL;
  END IF;
  IF TG_OP IN ('UPDATE', 'DELETE') THEN
    UPDATE task_counts SET n = n - 1
      WHERE user_id = OLD.user_id AND shard = OLD.id % 4 AND status = OLD.status AND priority = OLD.priority;
  END IF;
  IF TG_OP IN ('INSERT', 'UPDATE') THEN
    INSERT INTO task_counts (user_id, shard, status, priority, n) VALUES (NEW.user_id, NEW.id % 4, NEW.status, NEW.priority, 1)
      ON CONFLICT (user_id, status, priority, shard) DO UPDATE SET n = task_counts.n + 1;
  END IF;
  RETURN NULL;
END;
$$;--> statement-breakpoint
CREATE TRIGGER tasks_count_insert_delete AFTER INSERT OR DELETE ON tasks
  FOR EACH ROW EXECUTE FUNCTION count_tasks();--> statement-breakpoint
CREATE TRIGGER tasks_count_update AFTER UPDATE OF status, priority ON tasks
  FOR EACH ROW WHEN (OLD.status IS DISTINCT FROM NEW.status OR OLD.priority IS DISTINCT FROM NEW.priority)
  EXECUTE FUNCTION count_tasks();--> statement-breakpoint
INSERT INTO task_counts (user_id, shard, status, priority, n)
  SELECT user_id, id % 4, status, priority, count(*) FROM tasks GROUP BY 1, 2, 3, 4;
