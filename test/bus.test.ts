// The Bus contract (src/realtime/bus.ts), run against every adapter: the in-process bus, and the Redis bus
// with two instances on a real redis-server. The Redis bus's outage behaviour (drop, `lost()`, readiness)
// is proven by stopping and restarting that server.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { WireEvent } from '../src/conversations/events.js';
import { createLogger } from '../src/observability/logger.js';
import type { Bus, BusListener, BusMessage } from '../src/realtime/bus.js';
import { createMemoryBus } from '../src/realtime/memory-bus.js';
import { createRedisBus } from '../src/realtime/redis-bus.js';
import { redisBinary, startRedis, type TestBroker } from './brokers.js';
import { waitFor } from './harness.js';

const logger = createLogger('silent');
const event = (pos: number): BusMessage => ({
  kind: 'event',
  appId: 'app',
  pos,
  event: { id: `e${pos}`, conversationId: 'c', seq: pos } as WireEvent,
});

/** A listener that records what it hears. */
function recorder() {
  const heard: number[] = [];
  let lost = 0;
  const listener: BusListener = {
    message: (m) => heard.push(m.kind === 'event' ? m.pos : -1),
    lost: () => void lost++,
  };
  return { heard, listener, lost: () => lost };
}

interface Pair {
  /** Two instances' buses (the same bus twice for the in-process adapter). */
  a: Bus;
  b: Bus;
  close(): Promise<void>;
}

const redis = redisBinary() ? await startRedis() : undefined;
afterAll(() => redis?.destroy());

const adapters: Array<[string, () => Promise<Pair>]> = [
  [
    'memory',
    async () => {
      const bus = createMemoryBus();
      return { a: bus, b: bus, close: () => bus.close() };
    },
  ],
  ...(redis
    ? ([
        [
          'redis',
          async () => {
            const prefix = `t${Math.random().toString(36).slice(2)}:`;
            const [a, b] = await Promise.all([
              createRedisBus({ url: redis.url, prefix, logger }),
              createRedisBus({ url: redis.url, prefix, logger }),
            ]);
            return { a, b, close: async () => void (await Promise.all([a.close(), b.close()])) };
          },
        ],
      ] as Array<[string, () => Promise<Pair>]>)
    : []),
];

describe.each(adapters)('Bus contract: %s', (_name, open) => {
  let pair: Pair;
  beforeAll(async () => {
    pair = await open();
  });
  afterAll(() => pair.close());

  it('a publisher’s messages reach every listener of every instance once, in publish order', async () => {
    const [onA, onB] = [recorder(), recorder()];
    const offA = await pair.a.subscribe(onA.listener);
    const offB = await pair.b.subscribe(onB.listener);
    for (let i = 1; i <= 200; i++) {
      if (i % 10 === 0) await pair.a.publishMany([event(i), event(i + 1000), event(i + 2000)]);
      else await pair.a.publish(event(i));
    }
    const expected = Array.from({ length: 200 }, (_, k) => k + 1).flatMap((i) =>
      i % 10 === 0 ? [i, i + 1000, i + 2000] : [i],
    );
    await waitFor(() => onB.heard.length >= expected.length);
    expect(onA.heard).toEqual(expected);
    expect(onB.heard).toEqual(expected);
    offA();
    offB();
  });

  it('the publishing instance’s own listeners have the message when publish resolves', async () => {
    const own = recorder();
    const off = await pair.a.subscribe(own.listener);
    await pair.a.publish(event(1));
    expect(own.heard).toEqual([1]);
    off();
  });

  it('a message published after subscribe resolves is heard (the subscription is live)', async () => {
    for (let round = 0; round < 5; round++) {
      const late = recorder();
      const off = await pair.b.subscribe(late.listener);
      // Earlier tests' messages may still be arriving at b: look for this round's own.
      await pair.a.publish(event(10_000 + round));
      await waitFor(() => late.heard.includes(10_000 + round), 2_000);
      off();
    }
  });

  it('an unsubscribed listener hears nothing more', async () => {
    const r = recorder();
    const off = await pair.b.subscribe(r.listener);
    off();
    const witness = recorder();
    const offWitness = await pair.b.subscribe(witness.listener);
    await pair.a.publish(event(20_000));
    await waitFor(() => witness.heard.includes(20_000));
    expect(r.heard).toEqual([]);
    offWitness();
  });

  it('every kind of message reaches the other instance as published (receipt, typing, presence)', async () => {
    const kinds: BusMessage[] = [
      { kind: 'receipt', appId: 'app', conversationId: 'c', userId: 'u', deliveredSeq: 3, readSeq: 2 },
      { kind: 'typing', appId: 'app', conversationId: 'c', userId: 'u' },
      { kind: 'presence', appId: 'app', userId: 'u', online: true, at: 1_700_000_000_000 },
      { kind: 'presence', appId: 'app', userId: 'u', online: false, at: 1_700_000_000_500 },
    ];
    const heard: BusMessage[] = [];
    const off = await pair.b.subscribe({
      message: (m) => void (m.kind !== 'event' && heard.push(m)),
      lost: () => undefined,
    });
    await pair.a.publishMany(kinds);
    await waitFor(() => heard.length >= kinds.length);
    expect(heard).toEqual(kinds);
    off();
  });

  it('ping answers while the bus can carry messages', async () => {
    await expect(pair.a.ping()).resolves.toBeUndefined();
  });
});

describe.skipIf(!redis)('Redis bus outage', () => {
  let server: TestBroker;
  let a: Bus;
  let b: Bus;
  let dropped = 0;
  beforeAll(async () => {
    server = redis!;
    const prefix = 'outage:';
    [a, b] = await Promise.all([
      createRedisBus({ url: server.url, prefix, logger, onDropped: (n) => (dropped += n) }),
      createRedisBus({ url: server.url, prefix, logger }),
    ]);
  });
  afterAll(async () => {
    await a.close();
    await b.close();
  });

  it('while Redis is down publishes resolve, drop and are counted, and ping fails; on its return listeners are told lost() and messages flow again', async () => {
    const onA = recorder();
    const onB = recorder();
    await a.subscribe(onA.listener);
    await b.subscribe(onB.listener);
    await server.stop();
    await waitFor(
      async () =>
        (await a.ping().then(
          () => false,
          () => true,
        )) === true,
    );
    await a.publishMany([event(1), event(2)]);
    expect(onA.heard).toEqual([1, 2]); // this instance still hears its own
    expect(dropped).toBe(2);
    expect(onB.heard).toEqual([]);

    await server.restart();
    await waitFor(() => onA.lost() === 1 && onB.lost() === 1, 15_000);
    await waitFor(
      async () =>
        a.ping().then(
          () => true,
          () => false,
        ),
      5_000,
    );
    await a.publish(event(3));
    await waitFor(() => onB.heard.length === 1);
    expect(onB.heard).toEqual([3]);
    expect(onA.heard).toEqual([1, 2, 3]);
  });

  it('refuses to start when Redis cannot be reached, without naming the URL', async () => {
    const err = await createRedisBus({
      url: 'redis://:hunter2@127.0.0.1:1',
      logger,
      connectTimeoutMs: 500,
    }).catch((e: Error) => e);
    expect(err).toBeInstanceOf(Error);
    expect((err as Error).message).toMatch(/cannot reach Redis at ONCELY_REDIS_URL/);
    expect((err as Error).message).not.toMatch(/hunter2/);
  });
});
