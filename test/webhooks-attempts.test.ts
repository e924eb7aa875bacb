// A delivery's attempts across migration 0013, on the project's store: rows written by the earlier schema
// (every attempt an attempts row) read the same after the upgrade; a success is then kept in the delivery's
// row and shown as its last attempt, and becomes an attempts row when the delivery is retried.
import { Migrator } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../src/config.js';
import { createStore } from '../src/main.js';
import { migrationsFor } from '../src/store/migrations/index.js';
import type { Store } from '../src/store/store.js';
import { createDeliveries, type AttemptOutcome } from '../src/webhooks/deliveries.js';
import { dropDatabase, tempDir } from './harness.js';
import { databaseUrl } from './test-store.js';

const appId = 'app_upgrade';
const endpointId = 'hook';
let dir: string;
let store: Store;

beforeAll(async () => {
  dir = tempDir();
  store = createStore(loadConfig({ ONCELY_DATA_DIR: dir, ONCELY_DATABASE_URL: await databaseUrl(dir) }));
  // The schema as it was before 0013.
  const { '0013_webhook_success_in_row': _, ...before } = migrationsFor(store);
  const { error } = await new Migrator({
    db: store.db,
    provider: { getMigrations: async () => before },
    allowUnorderedMigrations: true,
  }).migrateToLatest();
  expect(error).toBeUndefined();
  const t = 1_700_000_000_000;
  await store.db
    .insertInto('webhook_endpoints')
    .values({
      app_id: appId,
      id: endpointId,
      url: 'https://example.com/hook',
      events: null,
      enabled: 1,
      ordered: 0,
      secrets: '[]',
      disabled_reason: null,
      created_at: t,
      updated_at: t,
    })
    .execute();
  const row = (id: string, state: 'succeeded' | 'failed', attempts: number, lastStatus: number) => ({
    id,
    app_id: appId,
    endpoint_id: endpointId,
    event_id: `event-${id}`,
    conversation_id: 'c1',
    seq: 1,
    ordered: 0,
    state,
    tries_left: 0,
    attempt_count: attempts,
    next_attempt_at: t,
    lease_token: null,
    last_status: lastStatus,
    last_error: state === 'failed' ? `HTTP ${lastStatus}` : null,
    created_at: t,
    finished_at: t + 10,
  });
  await store.db
    .insertInto('webhook_deliveries')
    .values([row('d1', 'succeeded', 2, 204), row('d2', 'failed', 1, 500)])
    .execute();
  await store.db
    .insertInto('webhook_attempts')
    .values([
      { delivery_id: 'd1', n: 1, attempted_at: t, status_code: 500, duration_ms: 3, error: 'HTTP 500' },
      { delivery_id: 'd1', n: 2, attempted_at: t + 5, status_code: 204, duration_ms: 4, error: null },
      { delivery_id: 'd2', n: 1, attempted_at: t, status_code: 500, duration_ms: 2, error: 'HTTP 500' },
    ])
    .execute();
  // The upgrade.
  expect(await store.migrate()).toContain('0013_webhook_success_in_row');
});

afterAll(async () => {
  await store.close();
  await dropDatabase(dir);
});

const statuses = async (id: string) =>
  (await createDeliveries({ store }).get(appId, id)).attempts.map((a) => [a.n, a.statusCode]);

describe('webhook attempts across migration 0013', () => {
  it('reads the rows of the earlier schema as they were', async () => {
    expect(await statuses('d1')).toEqual([
      [1, 500],
      [2, 204],
    ]);
    expect(await statuses('d2')).toEqual([[1, 500]]);
  });

  it('keeps a success in the delivery row, and moves it to the attempts when the delivery is retried', async () => {
    const deliveries = createDeliveries({ store });
    const now = Date.now();
    const succeed = async (id: string, status: number) => {
      const [claimed] = await deliveries.claim(now, 60_000, 10);
      expect(claimed?.id).toBe(id);
      const outcome: AttemptOutcome = {
        delivery: claimed!,
        attemptedAt: now,
        statusCode: status,
        durationMs: 7,
        error: null,
        succeeded: true,
        retryAt: undefined,
      };
      await deliveries.record([outcome], now);
    };
    await deliveries.retry(appId, 'd2', now);
    await succeed('d2', 200);
    const kept = await store.db
      .selectFrom('webhook_attempts')
      .select('n')
      .where('delivery_id', '=', 'd2')
      .execute();
    expect(kept.map((a) => Number(a.n))).toEqual([1]);
    const d2 = await deliveries.get(appId, 'd2');
    expect(d2).toMatchObject({ state: 'succeeded', attemptCount: 2, lastStatus: 200, lastError: null });
    expect(d2.attempts[1]).toMatchObject({ n: 2, statusCode: 200, durationMs: 7, error: null });
    // A retry of the success: the kept attempt becomes an attempts row, the next one is kept in its place.
    await deliveries.retry(appId, 'd2', now);
    expect(await statuses('d2')).toEqual([
      [1, 500],
      [2, 200],
    ]);
    await succeed('d2', 204);
    expect(await statuses('d2')).toEqual([
      [1, 500],
      [2, 200],
      [3, 204],
    ]);
  });
});
