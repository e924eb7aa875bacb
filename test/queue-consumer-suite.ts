// The queue consumers contract, run once per broker (RabbitMQ, Redis Streams, JetStream) against a real
// broker and the real server as a child process: repeats create nothing, poison is dead-lettered with its
// reason, a SIGKILL mid-consumption loses and doubles nothing, and a broker restart is ridden out.
import { rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ConsumerKind } from '../src/config.js';
import { brokerClients, type BrokerClient } from './broker-clients.js';
import type { TestBroker } from './brokers.js';
import {
  adminToken,
  client,
  freePort,
  spawnServer,
  tempDir,
  waitFor,
  type Client,
  type ServerProcess,
} from './harness.js';

const tests = ['dups', 'poison', 'kill', 'restart'] as const;

export function queueConsumerSuite(kind: ConsumerKind, startBroker: (() => Promise<TestBroker>) | undefined) {
  describe.skipIf(!startBroker)(`queue consumer: ${kind}`, () => {
    const dir = tempDir(`oncely-${kind}-`);
    const name = (test: (typeof tests)[number]) => `${kind}-${test}`;
    let broker: TestBroker;
    let server: ServerProcess;
    let port: number;
    let env: Record<string, string>;
    let api: Client;
    let admin: Client;
    let producer: BrokerClient;
    const conv: Record<string, string> = {};

    const item = (test: string, key: string, extra: Record<string, unknown> = {}) =>
      JSON.stringify({
        idempotencyKey: key,
        from: 'alice',
        conversationId: conv[test],
        body: { type: 'text', text: key },
        ...extra,
      });

    async function status(test: (typeof tests)[number]) {
      const res = await admin.get('/v1/consumers');
      expect(res.status).toBe(200);
      return (res.body.items as Array<Record<string, any>>).find((c) => c.name === name(test))!;
    }

    /** The consumer's `oncely_consumer_*` series, by outcome (or the series' one value). */
    async function metrics(test: (typeof tests)[number]) {
      const text = (await admin.get<string>('/metrics')).body;
      const out: Record<string, number> = {};
      for (const line of text.split('\n')) {
        const m = /^oncely_consumer_(\w+)\{([^}]*)\} (\S+)$/.exec(line);
        if (!m || !m[2]!.includes(`consumer="${name(test)}"`)) continue;
        const outcome = /outcome="(\w+)"/.exec(m[2]!)?.[1];
        out[outcome ?? m[1]!] = Number(m[3]);
      }
      return out;
    }

    /** Every message of a conversation, in seq order (paged like any client). */
    async function bodies(test: string): Promise<string[]> {
      const out: string[] = [];
      for (let after = 0; ;) {
        const page = await api.get(`/v1/conversations/${conv[test]}/messages?after=${after}&limit=1000`);
        expect(page.status).toBe(200);
        for (const e of page.body.items as Array<{ seq: number; body: { text: string } }>) {
          out.push(e.body.text);
          after = e.seq;
        }
        if (!page.body.hasMore) return out;
      }
    }

    beforeAll(async () => {
      broker = await startBroker!();
      port = await freePort();
      // The app exists before the consumers that write for it are configured.
      server = await spawnServer(dir, port);
      admin = client(server.url, adminToken);
      const app = await admin.post('/v1/apps', { name: kind });
      api = client(server.url, app.body.apiKey);
      for (const u of ['alice', 'bob']) await api.put(`/v1/users/${u}`, {});
      for (const t of tests) {
        const res = await api.post('/v1/conversations', { kind: 'group', members: ['alice', 'bob'] });
        conv[t] = res.body.id;
      }
      await server.kill('SIGTERM');
      const file = join(dir, 'consumers.json');
      const consumers = tests.map((t) => ({
        name: name(t),
        kind,
        url: broker.url,
        appId: app.body.id,
        source: t,
      }));
      writeFileSync(file, JSON.stringify(consumers));
      env = { ONCELY_CONSUMERS_FILE: file };
      server = await spawnServer(dir, port, env);
      for (const t of tests) await waitFor(async () => (await status(t)).state === 'running', 30_000);
      producer = await brokerClients[kind](broker.url);
      // RabbitMQ's start and two cold starts of the server on a busy shared machine have taken over 120 s.
    }, 300_000);

    afterAll(async () => {
      await producer?.close().catch(() => undefined);
      await server?.kill('SIGTERM');
      await broker?.destroy();
      rmSync(dir, { recursive: true, force: true });
    }, 60_000);

    it('a republished message creates one message; its key is found in the queue scope', async () => {
      const keys = Array.from({ length: 200 }, (_, i) => `dup-${i}`);
      const republished = keys.filter((_, i) => i % 10 < 3);
      await producer.publish(
        'dups',
        keys.map((k) => item('dups', k)),
      );
      await producer.publish(
        'dups',
        republished.map((k) => item('dups', k)),
      );
      await waitFor(async () => {
        const s = await status('dups');
        return s.created + s.duplicate === keys.length + republished.length;
      }, 30_000);
      const s = await status('dups');
      expect([s.created, s.duplicate, s.deadLettered]).toEqual([keys.length, republished.length, 0]);
      // The metrics say the same as the status.
      const m = await metrics('dups');
      expect(m).toMatchObject({
        received: s.received,
        created: keys.length,
        duplicate: republished.length,
        running: 1,
      });
      expect(m.lag === undefined || m.lag >= 0).toBe(true);
      expect((await bodies('dups')).sort()).toEqual([...keys].sort());
      const record = await api.get(`/v1/idempotency-keys/dup-7?scope=queue:${name('dups')}`);
      expect(record.status).toBe(200);
      expect(record.body.scope).toBe(`queue:${name('dups')}`);
      expect((await api.get('/v1/idempotency-keys/dup-7')).status).toBe(404);
    });

    it('poison goes to the dead letters at once, with its reason and original payload', async () => {
      const poison: Array<[string, string]> = [
        ['not json {', 'invalid_json'],
        [JSON.stringify({ idempotencyKey: 'p-1', from: 'alice' }), 'invalid_item'],
        [item('poison', 'p-2', { conversationId: 'no-such-conversation' }), 'conversation_not_found'],
        [
          item('poison', 'p-3', { body: { type: 'text', text: 'another payload' } }),
          'idempotency_key_reused',
        ],
        // Nested 5,000 deep (too deep for JSON.stringify to write): refused before anything recursive reads it.
        [
          `{"idempotencyKey":"p-5","from":"alice","conversationId":"${conv.poison}",` +
            `"body":{"type":"custom","data":${'['.repeat(5000)}${']'.repeat(5000)}}}`,
          'body_too_deep',
        ],
      ];
      await producer.publish('poison', [item('poison', 'p-3')]);
      await waitFor(async () => (await status('poison')).created === 1);
      await producer.publish('poison', [...poison.map(([p]) => p), item('poison', 'p-4')]);
      await waitFor(async () => {
        const s = await status('poison');
        return s.deadLettered === poison.length && s.created === 2;
      }, 30_000);
      const dead = await producer.deadLetters('poison');
      expect(dead.map((d) => [d.payload, d.reason]).sort()).toEqual([...poison].sort());
      for (const d of dead) expect(d.message).not.toBe('');
      expect((await status('poison')).retried).toBe(0);
      expect((await bodies('poison')).sort()).toEqual(['p-3', 'p-4']);
    });

    it('killed with SIGKILL mid-consumption and restarted, every message exists exactly once', async () => {
      const keys = Array.from({ length: 6000 }, (_, i) => `kill-${i}`);
      const payloads = keys.flatMap((k, i) =>
        i % 10 < 3 ? [item('kill', k), item('kill', k)] : [item('kill', k)],
      );
      const publishing = producer.publish('kill', payloads);
      for (let life = 0; life < 2; life++) {
        await waitFor(async () => (await status('kill')).created >= 500, 60_000, 5);
        await server.kill('SIGKILL');
        server = await spawnServer(dir, port, env);
      }
      await publishing;
      await waitFor(async () => (await bodies('kill')).length >= keys.length, 60_000, 200);
      await waitFor(async () => {
        const s = await status('kill');
        return s.lag === 0 && s.received === s.created + s.duplicate + s.deadLettered + s.retried;
      }, 30_000);
      const stored = await bodies('kill');
      expect(stored.length).toBe(keys.length);
      expect(new Set(stored).size).toBe(keys.length);
      expect(await producer.deadLetters('kill')).toEqual([]);
    }, 180_000);

    it('a broker restart is ridden out: the consumer reconnects and goes on by itself', async () => {
      await producer.publish(
        'restart',
        ['a', 'b'].map((k) => item('restart', `restart-${k}`)),
      );
      await waitFor(async () => (await status('restart')).created === 2);
      await producer.close().catch(() => undefined);
      const before = (await status('restart')).since;
      await broker.restart();
      await waitFor(
        async () => {
          const s = await status('restart');
          return s.state === 'running' && s.since !== before;
        },
        60_000,
        100,
      );
      producer = await brokerClients[kind](broker.url);
      await producer.publish(
        'restart',
        ['c', 'd'].map((k) => item('restart', `restart-${k}`)),
      );
      // Counted once acknowledged, just after the commit that makes the message visible.
      await waitFor(async () => (await status('restart')).created === 4, 60_000, 100);
      expect((await status('restart')).state).toBe('running');
      expect((await bodies('restart')).sort()).toEqual(['a', 'b', 'c', 'd'].map((k) => `restart-${k}`));
    }, 180_000);
  });
}
