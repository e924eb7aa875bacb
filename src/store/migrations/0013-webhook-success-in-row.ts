// Migration 0013: a delivery's successful attempt is kept in its own row (when and how long), not as a row of
// webhook_attempts: a success then costs the delivery one statement, and the attempts table holds failures.
import type { Kysely, Migration } from 'kysely';

export const webhookSuccessInRow: Migration = {
  async up(db: Kysely<unknown>) {
    await db.schema.alterTable('webhook_deliveries').addColumn('last_attempt_at', 'bigint').execute();
    await db.schema.alterTable('webhook_deliveries').addColumn('last_duration_ms', 'integer').execute();
  },
};
