// Schema migrations, portable across SQLite and PostgreSQL (Kysely's schema builder only, no dialect SQL);
// where a database can store a table better, the adapter says so as a capability and the migration asks it.
// One file per migration; this list is the order they apply in. Add a new one at the end, never edit an old one.
import { Migrator, type Kysely, type Migration, type MigrationProvider } from 'kysely';
import type { Store } from '../store.js';
import { core } from './0001-core.js';
import { callbacks } from './0002-callbacks.js';
import { readIndexes } from './0003-read-indexes.js';
import { webhooks } from './0004-webhooks.js';
import { consumedMessages } from './0005-consumed-messages.js';
import { appSettings } from './0006-app-settings.js';
import { storeEpoch } from './0007-store-epoch.js';
import { memberPeriods } from './0008-member-periods.js';
import { messageExpiry } from './0009-message-expiry.js';
import { writeProbe } from './0010-write-probe.js';
import { sourceConversations } from './0011-source-conversations.js';
import { eventsByPosition } from './0012-events-by-position.js';
import { webhookSuccessInRow } from './0013-webhook-success-in-row.js';
import { streamBySeq } from './0014-stream-by-seq.js';

/** What the adapter's database can do with a table's layout; migrations choose by these, never by its name. */
export type SchemaCapabilities = Pick<Store, 'integerKeyStoresRows'>;

/**
 * By name, in the order they apply, for a database of these capabilities (exported for the tests of an
 * upgrade from an earlier schema).
 */
export const migrationsFor = (capabilities: SchemaCapabilities): Readonly<Record<string, Migration>> => ({
  '0001_core': core,
  '0002_callbacks': callbacks,
  '0003_read_indexes': readIndexes,
  '0004_webhooks': webhooks,
  '0005_consumed_messages': consumedMessages,
  '0006_app_settings': appSettings,
  '0007_store_epoch': storeEpoch,
  '0008_member_periods': memberPeriods,
  '0009_message_expiry': messageExpiry,
  '0010_write_probe': writeProbe,
  '0011_source_conversations': sourceConversations,
  '0012_events_by_position': eventsByPosition(capabilities),
  '0013_webhook_success_in_row': webhookSuccessInRow,
  '0014_stream_by_seq': streamBySeq,
});

/** Applies every pending migration; throws with the failing migration's name. */
export async function migrateToLatest(
  db: Kysely<unknown>,
  capabilities: SchemaCapabilities,
): Promise<string[]> {
  const provider: MigrationProvider = { getMigrations: async () => migrationsFor(capabilities) };
  // Migration numbers are handed out to parts built in parallel, so a database may have applied a later
  // number before an earlier one lands; each migration touches only its own tables.
  const migrator = new Migrator({ db, provider, allowUnorderedMigrations: true });
  const { error, results } = await migrator.migrateToLatest();
  if (error) {
    const failed = results?.find((r) => r.status === 'Error')?.migrationName ?? 'unknown';
    throw new Error(`migration ${failed} failed: ${(error as Error).message ?? String(error)}`);
  }
  return (results ?? []).filter((r) => r.status === 'Success').map((r) => r.migrationName);
}
