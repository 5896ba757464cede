ALTER TABLE "tasks" ADD COLUMN "due_at" timestamp with time zone;--> statement-breakpoint
CREATE INDEX "tasks_user_id_due_at_idx" ON "tasks" USING btree ("user_id","due_at","id");--> statement-breakpoint
CREATE INDEX "tasks_due_at_idx" ON "tasks" USING btree ("due_at","id");