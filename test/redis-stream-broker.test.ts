// Redis Streams specifics against a real redis-server: entries a dead consumer left pending are taken over
// (XAUTOCLAIM) with their delivery count (XPENDING), and a restarted consumer resumes its own pending ones.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createRedisStreamBroker } from '../src/consumers/redis-stream-broker.js';
import { redisStreamClient, type BrokerClient } from './broker-clients.js';
import { redisBinary, startRedis, type TestBroker } from './brokers.js';

describe.skipIf(!redisBinary())('redis stream broker', () => {
  let redis: TestBroker;
  let producer: BrokerClient;

  beforeAll(async () => {
    redis = await startRedis();
    producer = await redisStreamClient(redis.url);
  }, 30_000);

  afterAll(async () => {
    await producer?.close();
    await redis?.destroy();
  });

  const broker = (stream: string, consumer: string, claimIdleMs?: number) =>
    createRedisStreamBroker({ url: redis.url, stream, group: 'g', consumer, claimIdleMs });
  const window = { batchSize: 10, batchesInFlight: 2 };

  it("takes over a dead consumer's pending entries once they are idle, counting the delivery", async () => {
    const dying = await broker('takeover', 'dies').connect(window);
    await producer.publish('takeover', ['"a"', '"b"']);
    const never = new AbortController().signal;
    const taken = await dying.receive(10, never);
    expect(taken.map((d) => [d.payload, d.deliveryCount])).toEqual([
      ['"a"', 1],
      ['"b"', 1],
    ]);
    await dying.close(); // gone without acknowledging

    const heir = await broker('takeover', 'heir', 200).connect(window);
    const again = await heir.receive(10, never);
    expect(again.map((d) => [d.payload, d.deliveryCount])).toEqual([
      ['"a"', 2],
      ['"b"', 2],
    ]);
    await heir.ack(again);
    expect(await heir.lag()).toBe(0);
    await heir.close();
  });

  it('a consumer restarted under its name first gets back what it had pending', async () => {
    const first = await broker('resume', 'same').connect(window);
    await producer.publish('resume', ['"x"']);
    const never = new AbortController().signal;
    expect((await first.receive(10, never)).map((d) => d.payload)).toEqual(['"x"']);
    await first.close();
    const second = await broker('resume', 'same').connect(window);
    const back = await second.receive(10, never);
    expect(back.map((d) => [d.payload, d.deliveryCount])).toEqual([['"x"', 2]]);
    await second.ack(back);
    await second.close();
  });
});
