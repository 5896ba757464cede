-- Existing users are at version 1, and so are their existing logins. Sessions get no default after
-- that: a login must record the version it read, never a value picked for it.
ALTER TABLE "auth_sessions" ADD COLUMN "credentials_version" integer DEFAULT 1 NOT NULL;--> statement-breakpoint
ALTER TABLE "auth_sessions" ALTER COLUMN "credentials_version" DROP DEFAULT;--> statement-breakpoint
ALTER TABLE "users" ADD COLUMN "credentials_version" integer DEFAULT 1 NOT NULL;
