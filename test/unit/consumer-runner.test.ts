// The runner's rules against an in-memory broker: acknowledge after the handler, redeliver passing failures
// up to the delivery limit, dead-letter poison and exhausted messages with a reason, reconnect by itself.
import { describe, expect, it } from 'vitest';
import type { Broker, BrokerConnection, DeadLetter, Delivery } from '../../src/consumers/broker.js';
import { createConsumerRunner, type BatchHandler } from '../../src/consumers/consumer-runner.js';
import { waitFor } from '../harness.js';

/** A broker in memory: one queue, delivery counts, dead letters; `drop()` breaks the live connection. */
function memoryBroker(payloads: string[]) {
  let seq = 0;
  const ready: Delivery[] = payloads.map((payload) => ({ id: String(++seq), payload, deliveryCount: 1 }));
  const acked: string[] = [];
  const dead: DeadLetter[] = [];
  const deliveries = new Map<string, number>();
  let connects = 0;
  let drop: ((err: Error) => void) | undefined;
  const broker: Broker = {
    kind: 'memory',
    async connect(): Promise<BrokerConnection> {
      connects++;
      const lost = new Promise<Error>((resolve) => (drop = resolve));
      let isLost = false;
      void lost.then(() => (isLost = true));
      return {
        lost,
        async receive(max, signal) {
          await waitFor(() => ready.length > 0 || signal.aborted || isLost, 5000, 1);
          if (isLost) throw new Error('lost');
          const batch = ready.splice(0, max);
          for (const d of batch) deliveries.set(d.payload, (deliveries.get(d.payload) ?? 0) + 1);
          return batch;
        },
        async ack(ds) {
          acked.push(...ds.map((d) => d.payload));
        },
        async retry(ds, delayMs) {
          setTimeout(
            () => ready.push(...ds.map((d) => ({ ...d, deliveryCount: d.deliveryCount + 1 }))),
            delayMs,
          );
        },
        async deadLetter(letters) {
          dead.push(...letters);
        },
        async lag() {
          return ready.length;
        },
        async close() {},
      };
    },
  };
  return {
    broker,
    acked,
    dead,
    deliveries,
    connects: () => connects,
    drop: () => drop?.(new Error('connection reset')),
    push: (payload: string, deliveryCount = 1) => ready.push({ id: String(++seq), payload, deliveryCount }),
  };
}

const fast = { initialMs: 1, maxMs: 5 };

describe('consumer runner', () => {
  it('acknowledges what the handler accepted and dead-letters what it refused, counting each', async () => {
    const b = memoryBroker(['ok-1', 'bad', 'ok-2']);
    const handle: BatchHandler = async (ds) =>
      ds.map((d) =>
        d.payload === 'bad'
          ? { kind: 'dead', reason: 'invalid_item', message: 'no' }
          : { kind: 'ack', outcome: 'created' },
      );
    const runner = createConsumerRunner({ name: 't', broker: b.broker, handle, backoff: fast });
    runner.start();
    await waitFor(() => b.acked.length === 2 && b.dead.length === 1);
    await runner.close();
    expect(b.dead[0]).toMatchObject({ reason: 'invalid_item', delivery: { payload: 'bad' } });
    expect(runner.status()).toMatchObject({
      received: 3,
      acked: { created: 2 },
      deadLettered: 1,
      retried: 0,
    });
    expect(runner.status().state).toBe('stopped');
  });

  it('redelivers a passing failure, and dead-letters it on its last allowed delivery with the cause', async () => {
    const b = memoryBroker(['flaky']);
    const handle: BatchHandler = async (ds) =>
      ds.map(() => ({ kind: 'retry', reason: 'store_unavailable', message: 'database is down' }));
    const runner = createConsumerRunner({
      name: 't',
      broker: b.broker,
      handle,
      maxDeliveries: 3,
      backoff: fast,
    });
    runner.start();
    await waitFor(() => b.dead.length === 1);
    await runner.close();
    expect(b.deliveries.get('flaky')).toBe(3);
    expect(b.dead[0]!.reason).toBe('max_deliveries_exceeded');
    expect(b.dead[0]!.message).toContain('store_unavailable: database is down');
    expect(runner.status()).toMatchObject({ retried: 2, deadLettered: 1 });
  });

  it('a message delivered past the limit is dead-lettered without reaching the handler', async () => {
    const b = memoryBroker([]);
    b.push('crashes-its-consumer', 6);
    const seen: string[] = [];
    const handle: BatchHandler = async (ds) => {
      seen.push(...ds.map((d) => d.payload));
      return ds.map(() => ({ kind: 'ack', outcome: 'created' }));
    };
    const runner = createConsumerRunner({
      name: 't',
      broker: b.broker,
      handle,
      maxDeliveries: 5,
      backoff: fast,
    });
    runner.start();
    await waitFor(() => b.dead.length === 1);
    await runner.close();
    expect(seen).toEqual([]);
    expect(b.dead[0]!.reason).toBe('max_deliveries_exceeded');
  });

  it('a handler that throws fails the whole batch as passing, so it is redelivered', async () => {
    const b = memoryBroker(['a', 'b']);
    let calls = 0;
    const handle: BatchHandler = async (ds) => {
      if (calls++ === 0) throw new Error('boom');
      return ds.map(() => ({ kind: 'ack', outcome: 'created' }));
    };
    const runner = createConsumerRunner({ name: 't', broker: b.broker, handle, backoff: fast });
    runner.start();
    await waitFor(() => b.acked.length === 2);
    await runner.close();
    expect(runner.status()).toMatchObject({ retried: 2, acked: { created: 2 }, deadLettered: 0 });
  });

  it('reconnects by itself after the connection is lost, and waits while not ready', async () => {
    const b = memoryBroker([]);
    let readyToGo = false;
    const runner = createConsumerRunner({
      name: 't',
      broker: b.broker,
      handle: async (ds) => ds.map(() => ({ kind: 'ack', outcome: 'created' })),
      backoff: fast,
      ready: async () => {
        if (!readyToGo) throw new Error('app a1 does not exist');
      },
    });
    runner.start();
    await waitFor(() => runner.status().lastError === 'app a1 does not exist');
    expect(runner.status().state).toBe('reconnecting');
    expect(b.connects()).toBe(0);
    readyToGo = true;
    await waitFor(() => runner.status().state === 'running');
    b.drop();
    await waitFor(() => b.connects() === 2 && runner.status().state === 'running');
    b.push('after');
    await waitFor(() => b.acked.includes('after'));
    await runner.close();
  });
});
