CREATE TYPE "public"."project_role" AS ENUM('owner', 'editor', 'viewer');--> statement-breakpoint
CREATE TABLE "project_members" (
	"project_id" bigint NOT NULL,
	"user_id" bigint NOT NULL,
	"role" "project_role" NOT NULL,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL,
	CONSTRAINT "project_members_project_id_user_id_pk" PRIMARY KEY("project_id","user_id")
);
--> statement-breakpoint
CREATE TABLE "projects" (
	"id" bigint PRIMARY KEY GENERATED ALWAYS AS IDENTITY (sequence name "projects_id_seq" INCREMENT BY 1 MINVALUE 1 MAXVALUE 9223372036854775807 START WITH 1 CACHE 1),
	"name" text NOT NULL,
	"description" text,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL,
	"updated_at" timestamp with time zone DEFAULT now() NOT NULL,
	CONSTRAINT "projects_name_length" CHECK (char_length("projects"."name") BETWEEN 1 AND 100),
	CONSTRAINT "projects_description_length" CHECK (char_length("projects"."description") <= 10000)
);
--> statement-breakpoint
ALTER TABLE "project_members" ADD CONSTRAINT "project_members_project_id_projects_id_fk" FOREIGN KEY ("project_id") REFERENCES "public"."projects"("id") ON DELETE cascade ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "project_members" ADD CONSTRAINT "project_members_user_id_users_id_fk" FOREIGN KEY ("user_id") REFERENCES "public"."users"("id") ON DELETE cascade ON UPDATE no action;--> statement-breakpoint
CREATE INDEX "project_members_user_id_project_id_idx" ON "project_members" USING btree ("user_id","project_id");--> statement-breakpoint
CREATE UNIQUE INDEX "project_members_one_owner_key" ON "project_members" USING btree ("project_id") WHERE "project_members"."role" = 'owner';--> statement-breakpoint
CREATE TRIGGER projects_set_updated_at BEFORE UPDATE ON projects
  FOR EACH ROW WHEN (OLD IS DISTINCT FROM NEW) EXECUTE FUNCTION set_updated_at();--> statement-breakpoint
-- Exactly one owner per project: the partial unique index refuses a second one at once; this check,
-- run at commit, refuses none, so a hand-over may demote the old owner and promote the new one in
-- either order within its transaction. A project deleted in the transaction (its members cascade) is fine.
CREATE FUNCTION project_has_one_owner() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE
  checked bigint;
BEGIN
  -- A record's fields are resolved when read: each table's rows are read in a branch of their own.
  IF TG_TABLE_NAME = 'projects' THEN
    checked := NEW.id;
  ELSIF TG_OP = 'DELETE' THEN
    checked := OLD.project_id;
  ELSE
    checked := NEW.project_id;
  END IF;
  IF EXISTS (SELECT 1 FROM projects WHERE id = checked)
     AND (SELECT count(*) FROM project_members WHERE project_id = checked AND role = 'owner') <> 1 THEN
    RAISE EXCEPTION 'project % must have exactly one owner', checked
      USING ERRCODE = 'check_violation', CONSTRAINT = 'project_members_one_owner';
  END IF;
  RETURN NULL;
END;
$$;--> statement-breakpoint
CREATE CONSTRAINT TRIGGER projects_one_owner AFTER INSERT ON projects
  DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION project_has_one_owner();--> statement-breakpoint
CREATE CONSTRAINT TRIGGER project_members_one_owner AFTER INSERT OR UPDATE OR DELETE ON project_members
  DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION project_has_one_owner();
