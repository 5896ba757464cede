CREATE TABLE "task_counts" (
	"user_id" bigint NOT NULL,
	"shard" smallint NOT NULL,
	"status" "task_status" NOT NULL,
	"priority" "task_priority" NOT NULL,
	"n" bigint DEFAULT 0 NOT NULL,
	CONSTRAINT "task_counts_user_id_status_priority_shard_pk" PRIMARY KEY("user_id","status","priority","shard")
);
--> statement-breakpoint
ALTER TABLE "task_counts" ADD CONSTRAINT "task_counts_user_id_users_id_fk" FOREIGN KEY ("user_id") REFERENCES "public"."users"("id") ON DELETE cascade ON UPDATE no action;