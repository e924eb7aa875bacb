// The batch path against a real store without HTTP: statements per batch, and a key claimed by another
// instance between the batch's lookup and its transaction.
import { rmSync } from 'node:fs';
import type { KyselyPlugin } from 'kysely';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { createBatch, type BatchItem } from '../src/batch/batch.js';
import { systemClock } from '../src/clock.js';
import { createConversations } from '../src/conversations/conversations.js';
import { createEventLog } from '../src/conversations/event-log.js';
import { createIngest } from '../src/ingest/ingest.js';
import { createLogger } from '../src/observability/logger.js';
import { createMetrics } from '../src/observability/metrics.js';
import { createMemoryBus } from '../src/realtime/memory-bus.js';
import type { Store, Tx } from '../src/store/store.js';
import { dropDatabase, openStore, tempDir } from './harness.js';

let dir: string;
let store: Store;

/** The same store, counting every statement sent to the database (each result is one statement's). */
function counting(base: Store) {
  const counter = { n: 0 };
  const plugin: KyselyPlugin = {
    transformQuery: (args) => args.node,
    transformResult: async (args) => {
      counter.n++;
      return args.result;
    },
  };
  const db = base.db.withPlugin(plugin);
  const wrapped: Store = { ...base, db, transaction: (fn) => db.transaction().execute(fn) };
  return { store: wrapped, counter };
}

function parts(s: Store) {
  const metrics = createMetrics();
  const bus = createMemoryBus();
  const logger = createLogger('silent');
  const events = createEventLog({ store: s });
  const conversations = createConversations({ store: s, bus, clock: systemClock, events });
  const ingest = createIngest({
    store: s,
    bus,
    clock: systemClock,
    metrics,
    logger,
    events,
    conversations,
    idempotencyTtlSeconds: 3600,
    messageBodyMaxBytes: 65536,
    groupCommitMaxSize: 512,
    groupCommitInFlight: 1,
  });
  const batch = createBatch({
    ingest,
    clock: systemClock,
    metrics,
    maxItems: 1000,
    defaultMode: 'partial',
  });
  return { batch, conversations };
}

const item = (key: string, conversationId = 'g1'): BatchItem => ({
  idempotencyKey: key,
  from: 'alice',
  conversationId,
  body: { type: 'text', text: key },
});

beforeEach(async () => {
  dir = tempDir();
  store = await openStore(dir, { ONCELY_DURABILITY: 'normal' });
  await store.db
    .insertInto('apps')
    .values({ id: 'app1', name: 'a', token_secret: 'x', created_at: 0 })
    .execute();
  await store.db
    .insertInto('users')
    .values(
      ['alice', 'bob'].map((id) => ({
        app_id: 'app1',
        id,
        display_name: null,
        created_at: 0,
        updated_at: 0,
      })),
    )
    .execute();
  const { conversations } = parts(store);
  for (const id of ['g1', 'g2', 'g3'])
    await conversations.create('app1', { id, kind: 'group', members: ['alice', 'bob'] });
});
afterEach(async () => {
  await store.close();
  rmSync(dir, { recursive: true, force: true });
  await dropDatabase(dir);
});

describe('batch statements', () => {
  it('a batch costs the same number of statements for 20 items as for 400 (no N+1)', async () => {
    const { store: s, counter } = counting(store);
    const { batch } = parts(s);
    const cost = async (n: number, prefix: string) => {
      const items = Array.from({ length: n }, (_, i) => item(`${prefix}-${i}`, ['g1', 'g2', 'g3'][i % 3]));
      counter.n = 0;
      const answer = await batch.send('app1', { items });
      expect(answer.summary.created).toBe(n);
      return counter.n;
    };
    const small = await cost(20, 's');
    const large = await cost(400, 'l');
    expect(large).toBe(small);
    expect(small).toBeLessThanOrEqual(12);
    // Repeats are answered from one lookup.
    counter.n = 0;
    const again = await batch.send('app1', {
      items: Array.from({ length: 400 }, (_, i) => item(`l-${i}`, ['g1', 'g2', 'g3'][i % 3])),
    });
    expect(again.summary.duplicate).toBe(400);
    expect(counter.n).toBe(1);
  });
});

describe('batch races', () => {
  it('keys claimed by another instance between lookup and transaction are answered as duplicates', async () => {
    const other = parts(store).batch;
    // This instance's transaction starts only after "another instance" has committed keys k-0 … k-4.
    const racing: Store = {
      ...store,
      transaction: async <T>(fn: (tx: Tx) => Promise<T>) => {
        await other.send('app1', { items: Array.from({ length: 5 }, (_, i) => item(`k-${i}`)) });
        return store.transaction(fn);
      },
    };
    const { batch } = parts(racing);
    const answer = await batch.send('app1', { items: Array.from({ length: 10 }, (_, i) => item(`k-${i}`)) });
    expect(answer.results.map((r) => r.status)).toEqual([
      ...Array(5).fill('duplicate'),
      ...Array(5).fill('created'),
    ]);
    const rows = await store.db
      .selectFrom('events')
      .select(['seq'])
      .where('conversation_id', '=', 'g1')
      .orderBy('seq')
      .execute();
    expect(rows.map((r) => Number(r.seq))).toEqual([1, 2, 3, 4, 5, 6, 7, 8, 9, 10]);
  });
});
