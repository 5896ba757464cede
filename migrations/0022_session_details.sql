ALTER TABLE "auth_sessions" ADD COLUMN "user_agent" text;--> statement-breakpoint
ALTER TABLE "auth_sessions" ADD COLUMN "address" text;--> statement-breakpoint
ALTER TABLE "auth_sessions" ADD COLUMN "last_used_at" timestamp with time zone DEFAULT now() NOT NULL;--> statement-breakpoint
-- Only a change that can decide access announces itself (migration 0007): the per-request check's
-- touch of last_used_at, once a minute per session, must not evict that login from every instance's cache.
-- (A column named in UPDATE OF fires the trigger even when set to its old value: revocations stay announced.)
DROP TRIGGER auth_sessions_notify_auth_change ON auth_sessions;--> statement-breakpoint
CREATE TRIGGER auth_sessions_notify_auth_change AFTER UPDATE OF revoked_at, credentials_version, user_id OR DELETE ON auth_sessions
  FOR EACH ROW EXECUTE FUNCTION notify_auth_change();--> statement-breakpoint
-- Existing logins were last used, as far as is known, when their newest refresh token was issued (login or refresh).
UPDATE auth_sessions SET last_used_at = newest.created_at
  FROM (SELECT session_id, max(created_at) AS created_at FROM refresh_tokens GROUP BY session_id) AS newest
  WHERE newest.session_id = auth_sessions.id;
