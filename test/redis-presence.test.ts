// Presence across instances through a real Redis: two instances' presences share the state; only the
// first session anywhere and the last one anywhere publish a change, once; an instance that stops renewing
// (killed) has its users go offline within two heartbeats, published by another instance's reaper.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ManualClock } from '../src/clock.js';
import { createLogger } from '../src/observability/logger.js';
import type { BusMessage } from '../src/realtime/bus.js';
import { createMemoryBus } from '../src/realtime/memory-bus.js';
import type { Presence } from '../src/realtime/presence.js';
import { createRedisPresence } from '../src/realtime/redis-presence.js';
import { waitFor } from './harness.js';
import { redisBinary, startRedis, type TestBroker } from './brokers.js';

const logger = createLogger('silent');

describe.skipIf(!redisBinary())('presence in Redis', () => {
  let redis: TestBroker;
  const opened: Presence[] = [];
  beforeAll(async () => {
    redis = await startRedis({ fsync: 'everysec' });
  });
  afterAll(async () => {
    for (const p of opened) await p.close();
    await redis.destroy();
  });

  /** One instance's presence with its own (in-process) bus, recording what it publishes. */
  async function instance(clock: ManualClock, refreshMs: number, prefix: string) {
    const bus = createMemoryBus();
    const heard: Array<Extract<BusMessage, { kind: 'presence' }>> = [];
    await bus.subscribe({
      message: (m) => void (m.kind === 'presence' && heard.push(m)),
      lost: () => undefined,
    });
    const presence = await createRedisPresence({ url: redis.url, bus, clock, logger, refreshMs, prefix });
    opened.push(presence);
    return { presence, heard };
  }

  it('a session on one instance is online for another; only the first open and last close anywhere publish', async () => {
    const clock = new ManualClock();
    const prefix = `t1-${Date.now()}:`;
    const a = await instance(clock, 60_000, prefix);
    const b = await instance(clock, 60_000, prefix);
    expect(await b.presence.states('app', ['u1'])).toEqual([
      { userId: 'u1', online: false, lastSeenAt: null },
    ]);

    a.presence.opened('app', 'u1');
    await waitFor(() => a.heard.length === 1);
    expect(a.heard[0]).toMatchObject({ userId: 'u1', online: true, at: clock.now() });
    expect((await b.presence.states('app', ['u1']))[0]).toMatchObject({ online: true });

    // A second instance's session changes nothing; the first one closing neither.
    b.presence.opened('app', 'u1');
    a.presence.closed('app', 'u1');
    await waitFor(async () => (await b.presence.states('app', ['u1']))[0]!.online);
    clock.advance(1_000);
    b.presence.closed('app', 'u1');
    await waitFor(() => b.heard.length === 1);
    expect(b.heard[0]).toMatchObject({ userId: 'u1', online: false, at: clock.now() });
    expect(a.heard).toHaveLength(1);
    expect(await a.presence.states('app', ['u1'])).toEqual([
      { userId: 'u1', online: false, lastSeenAt: new Date(clock.now()).toISOString() },
    ]);
  });

  it('an instance that stops renewing has its users offline within two heartbeats, published once', async () => {
    const clock = new ManualClock();
    const prefix = `t2-${Date.now()}:`;
    const heartbeat = 60_000;
    // "killed" renews every heartbeat of real time, which never comes during the test: as if killed right
    // after its session opened. The others reap every 13 ms of real time, against the shared manual clock.
    const killed = await instance(clock, heartbeat, prefix);
    const b = await instance(clock, 50, prefix);
    const c = await instance(clock, 50, prefix);
    killed.presence.opened('app', 'k1');
    await waitFor(async () => (await b.presence.states('app', ['k1']))[0]!.online);
    const openedAt = clock.now();

    clock.advance(heartbeat);
    expect((await b.presence.states('app', ['k1']))[0]!.online).toBe(true);
    clock.advance(heartbeat);
    await waitFor(() => b.heard.length + c.heard.length > 0);
    expect((await c.presence.states('app', ['k1']))[0]).toMatchObject({
      online: false,
      lastSeenAt: new Date(openedAt).toISOString(),
    });
    // Let both reapers run a few more times: the change is published by one of them, once.
    const settle = Date.now() + 300;
    await waitFor(() => Date.now() > settle);
    expect([...b.heard, ...c.heard]).toEqual([
      { kind: 'presence', appId: 'app', userId: 'k1', online: false, at: openedAt },
    ]);
  });
});
