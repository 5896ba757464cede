CREATE TABLE "personal_access_tokens" (
	"id" bigint PRIMARY KEY GENERATED ALWAYS AS IDENTITY (sequence name "personal_access_tokens_id_seq" INCREMENT BY 1 MINVALUE 1 MAXVALUE 9223372036854775807 START WITH 1 CACHE 1),
	"user_id" bigint NOT NULL,
	"name" text NOT NULL,
	"token_hash" "bytea" NOT NULL,
	"prefix" text NOT NULL,
	"scopes" text[] NOT NULL,
	"credentials_version" integer NOT NULL,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL,
	"last_used_at" timestamp with time zone,
	"expires_at" timestamp with time zone NOT NULL,
	CONSTRAINT "personal_access_tokens_name_length" CHECK (char_length("personal_access_tokens"."name") BETWEEN 1 AND 100),
	CONSTRAINT "personal_access_tokens_scopes_known" CHECK (cardinality("personal_access_tokens"."scopes") >= 1 AND "personal_access_tokens"."scopes" <@ ARRAY['tasks:read', 'tasks:write', 'projects:read', 'projects:write', 'profile:read', 'admin']::text[])
);
--> statement-breakpoint
ALTER TABLE "personal_access_tokens" ADD CONSTRAINT "personal_access_tokens_user_id_users_id_fk" FOREIGN KEY ("user_id") REFERENCES "public"."users"("id") ON DELETE cascade ON UPDATE no action;--> statement-breakpoint
CREATE UNIQUE INDEX "personal_access_tokens_token_hash_key" ON "personal_access_tokens" USING btree ("token_hash");--> statement-breakpoint
CREATE UNIQUE INDEX "personal_access_tokens_user_id_name_key" ON "personal_access_tokens" USING btree ("user_id","name");--> statement-breakpoint
CREATE INDEX "personal_access_tokens_expires_at_idx" ON "personal_access_tokens" USING btree ("expires_at");