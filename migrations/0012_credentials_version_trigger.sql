-- A password change (a reset too) and a deactivation end every login made before them: the
-- credentials version moves on, whichever code path (or administrator at a psql prompt) made the
-- change, and a session counts only while it recorded the current version. Reactivation does not
-- move it back, so logins from before the deactivation stay dead.
CREATE FUNCTION bump_credentials_version() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
  NEW.credentials_version := OLD.credentials_version + 1;
  RETURN NEW;
END;
$$;--> statement-breakpoint
CREATE TRIGGER users_bump_credentials_version BEFORE UPDATE OF hashed_password, is_active ON users
  FOR EACH ROW
  WHEN (NEW.hashed_password IS DISTINCT FROM OLD.hashed_password OR (OLD.is_active AND NOT NEW.is_active))
  EXECUTE FUNCTION bump_credentials_version();
