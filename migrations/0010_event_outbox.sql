CREATE TABLE "event_outbox" (
	"id" bigserial PRIMARY KEY NOT NULL,
	"event_id" uuid NOT NULL,
	"type" text NOT NULL,
	"aggregate_key" text NOT NULL,
	"payload" json NOT NULL,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL,
	"sent_at" timestamp with time zone
);
--> statement-breakpoint
CREATE INDEX "event_outbox_unsent_idx" ON "event_outbox" USING btree ("id") WHERE "event_outbox"."sent_at" IS NULL;--> statement-breakpoint
CREATE INDEX "event_outbox_unsent_aggregate_idx" ON "event_outbox" USING btree ("aggregate_key","id") WHERE "event_outbox"."sent_at" IS NULL;--> statement-breakpoint
CREATE INDEX "event_outbox_sent_at_idx" ON "event_outbox" USING btree ("sent_at") WHERE "event_outbox"."sent_at" IS NOT NULL;