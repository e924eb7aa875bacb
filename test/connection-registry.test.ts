// The per-user connection limit's registry, run against every adapter: in memory (one instance), and in
// Redis with two instances on a real redis-server, where the limit holds across both and a dead instance's
// connections stop counting at their expiry.
import { Redis } from 'ioredis';
import { afterAll, describe, expect, it } from 'vitest';
import { createLogger } from '../src/observability/logger.js';
import {
  createMemoryConnectionRegistry,
  type ConnectionRegistry,
} from '../src/realtime/connection-registry.js';
import { createRedisConnectionRegistry } from '../src/realtime/redis-connection-registry.js';
import { redisBinary, startRedis } from './brokers.js';
import { waitFor } from './harness.js';

const logger = createLogger('silent');
const redis = redisBinary() ? await startRedis() : undefined;
afterAll(() => redis?.destroy());

const open: ConnectionRegistry[] = [];
afterAll(() => Promise.all(open.map((r) => r.close())));
const track = (r: ConnectionRegistry) => (open.push(r), r);

/** Two instances' registries (the same one twice in memory). */
const adapters: Array<[string, () => Promise<[ConnectionRegistry, ConnectionRegistry]>]> = [
  [
    'memory',
    async () => {
      const r = track(createMemoryConnectionRegistry());
      return [r, r];
    },
  ],
  ...(redis
    ? ([
        [
          'redis',
          async () => {
            const prefix = `t${Math.random().toString(36).slice(2)}:`;
            const open = () => createRedisConnectionRegistry({ url: redis.url, prefix, logger });
            return [track(await open()), track(await open())];
          },
        ],
      ] as Array<[string, () => Promise<[ConnectionRegistry, ConnectionRegistry]>]>)
    : []),
];

describe.each(adapters)('connection registry: %s', (_name, make) => {
  it('holds a user to the limit over every instance; a release frees a place; users and apps are apart', async () => {
    const [a, b] = await make();
    const first = await a.reserve('app', 'u', 3);
    const second = await b.reserve('app', 'u', 3);
    const third = await a.reserve('app', 'u', 3);
    expect([first, second, third].every((r) => typeof r === 'function')).toBe(true);
    expect(await b.reserve('app', 'u', 3)).toBeUndefined();
    expect(await a.reserve('app', 'u', 3)).toBeUndefined();
    expect(await a.reserve('app', 'other', 3)).toBeDefined();
    expect(await b.reserve('app2', 'u', 3)).toBeDefined();
    second!();
    second!(); // a second release frees nothing more
    await waitFor(async () => {
      const r = await a.reserve('app', 'u', 3);
      return r !== undefined;
    });
    expect(await b.reserve('app', 'u', 3)).toBeUndefined();
  });

  it('concurrent reservations of the last places never pass the limit', async () => {
    const [a, b] = await make();
    const tries = await Promise.all(
      Array.from({ length: 20 }, (_, i) => (i % 2 ? a : b).reserve('app', 'race', 5)),
    );
    expect(tries.filter((r) => r !== undefined)).toHaveLength(5);
  });
});

describe.skipIf(!redis)('connection registry: redis expiry', () => {
  it('live connections keep counting past the entry lifetime; a dead instance’s stop counting at theirs', async () => {
    const prefix = `x${Math.random().toString(36).slice(2)}:`;
    const open = () => createRedisConnectionRegistry({ url: redis!.url, prefix, logger, entryTtlMs: 1_500 });
    const a = track(await open());
    const b = track(await open());
    expect(await a.reserve('app', 'u', 1)).toBeDefined();
    const renewedUntil = Date.now() + 4_000;
    await waitFor(() => Date.now() > renewedUntil, 5_000, 50);
    expect(await b.reserve('app', 'u', 1)).toBeUndefined(); // a renews its own

    // An instance killed with its connections open: its entry is never renewed nor removed.
    const raw = new Redis(redis!.url);
    await raw.zadd(`${prefix}connections:3:app:dead`, Date.now() + 1_500, 'dead-instance:conn');
    await raw.quit();
    expect(await b.reserve('app', 'dead', 1)).toBeUndefined();
    await waitFor(async () => (await b.reserve('app', 'dead', 1)) !== undefined, 10_000, 50);
  });
});
