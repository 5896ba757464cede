-- Every change that can decide access is announced on the task_api_auth channel, from the database
-- itself, so every instance's cache of "this login belongs to this active user" hears of it at
-- commit time, whichever code path (or administrator at a psql prompt) made the change.
CREATE FUNCTION notify_auth_change() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
  IF TG_TABLE_NAME = 'users' THEN
    PERFORM pg_notify('task_api_auth', 'u:' || OLD.id);
  ELSE
    PERFORM pg_notify('task_api_auth', 's:' || OLD.id);
  END IF;
  RETURN NULL;
END;
$$;--> statement-breakpoint
CREATE TRIGGER users_notify_auth_change AFTER UPDATE OR DELETE ON users
  FOR EACH ROW EXECUTE FUNCTION notify_auth_change();--> statement-breakpoint
CREATE TRIGGER auth_sessions_notify_auth_change AFTER UPDATE OR DELETE ON auth_sessions
  FOR EACH ROW EXECUTE FUNCTION notify_auth_change();
