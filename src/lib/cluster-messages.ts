/**
 * Message types between the primary and its workers (WORKERS > 1). Here, not beside their handlers,
 * so that the primary (cluster.ts) does not load the app and its plugins to know them.
 */
export const METRICS_REQUEST = 'task-api:metrics-request';
export const METRICS_RESPONSE = 'task-api:metrics-response';
export const SHUTDOWN_MESSAGE = 'task-api:shutdown';
