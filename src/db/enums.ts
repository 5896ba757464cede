/**
 * The values of each enumerated column, written once: the database enums (db/schema.ts), the API's
 * schemas, the list filters and the statistics are all built from these lists. Their order is the
 * enum's order in PostgreSQL, so sorting by status or priority follows it; a new value goes through
 * a migration (`npm run db:generate`).
 */
export const TASK_STATUSES = ['pending', 'in_progress', 'completed'] as const;
export const TASK_PRIORITIES = ['low', 'medium', 'high'] as const;
export const ROLES = ['user', 'admin'] as const;
/** A member's role in a project: the one owner, editors (may rename and describe), viewers (may read). */
export const PROJECT_ROLES = ['owner', 'editor', 'viewer'] as const;
/** The roles that may change a project and create, change, move and delete its tasks; the others only read. */
export const PROJECT_EDITING_ROLES = ['owner', 'editor'] as const satisfies readonly (typeof PROJECT_ROLES)[number][];

/**
 * What a personal access token may be granted (modules/access-tokens). A `write` scope covers the
 * `read` of the same resource; `admin` is for an admin's token and reaches the admin routes. A route
 * names the one scope it needs (its `config.scope`); a route naming none refuses every token.
 */
export const TOKEN_SCOPES = ['tasks:read', 'tasks:write', 'projects:read', 'projects:write', 'profile:read', 'admin'] as const;

/**
 * Where a webhook delivery stands: waiting (a first attempt or a retry), delivered (a 2xx), failed (every
 * attempt failed, or the webhook was disabled first), skipped (the owner could not see the resource when it was due).
 */
export const WEBHOOK_DELIVERY_STATUSES = ['pending', 'delivered', 'failed', 'skipped'] as const;

export type TaskStatus = (typeof TASK_STATUSES)[number];
export type TaskPriority = (typeof TASK_PRIORITIES)[number];
export type Role = (typeof ROLES)[number];
export type ProjectRole = (typeof PROJECT_ROLES)[number];
export type TokenScope = (typeof TOKEN_SCOPES)[number];
export type WebhookDeliveryStatus = (typeof WEBHOOK_DELIVERY_STATUSES)[number];
