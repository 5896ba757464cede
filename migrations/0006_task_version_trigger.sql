-- Every change to a task bumps its version: the ETag clients send back in If-Match.
CREATE FUNCTION bump_version() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
  NEW.version := OLD.version + 1;
  RETURN NEW;
END;
$$;--> statement-breakpoint
CREATE TRIGGER tasks_bump_version BEFORE UPDATE ON tasks
  FOR EACH ROW WHEN (OLD IS DISTINCT FROM NEW) EXECUTE FUNCTION bump_version();
