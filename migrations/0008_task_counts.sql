CREATE TABLE "task_counts" (
	"shard" smallint NOT NULL,
	"status" "task_status" NOT NULL,
	"priority" "task_priority" NOT NULL,
	"n" bigint DEFAULT 0 NOT NULL,
	CONSTRAINT "task_counts_shard_status_priority_pk" PRIMARY KEY("shard","status","priority")
);
