// Invariants 1 and 2 across crashes: the server process is killed with SIGKILL three times while clients
// keep sending with retries (the same Idempotency-Key on every retry); afterwards every acknowledged key
// exists exactly once, nothing exists twice, and the conversation's seqs run without gaps.
import { afterAll, describe, expect, it } from 'vitest';
import { rmSync } from 'node:fs';
import {
  adminToken,
  client,
  freePort,
  spawnServer,
  tempDir,
  text,
  waitFor,
  type ServerProcess,
} from './harness.js';

const workers = 8;
const acksPerLife = 60;
const kills = 3;

const dir = tempDir('oncely-kill9-');
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('kill -9 while clients keep sending', () => {
  it('every acknowledged key exists exactly once after three SIGKILLs and restarts', async () => {
    const port = await freePort();
    let server: ServerProcess = await spawnServer(dir, port);
    const url = server.url;
    const admin = client(url, adminToken);
    const app = await admin.post('/v1/apps', { name: 'kill9' });
    expect(app.status).toBe(201);
    const api = client(url, app.body.apiKey as string);
    for (const u of ['alice', 'bob']) expect((await api.put(`/v1/users/${u}`, {})).status).toBe(201);
    const conv = await api.post('/v1/conversations', { kind: 'group', members: ['alice', 'bob'] });
    expect(conv.status).toBe(201);
    const convId = conv.body.id as string;

    const acked = new Map<string, { id: string; seq: number }>();
    let replayed = 0;
    let failedAttempts = 0;
    let stopping = false;

    /** Sends one key until the server acknowledges it, retrying after connection errors and 5xx. */
    async function sendUntilAcked(key: string): Promise<void> {
      for (;;) {
        const res = await api
          .post(
            `/v1/conversations/${convId}/messages`,
            { from: 'alice', body: text(key) },
            { 'idempotency-key': key },
          )
          .catch(() => undefined);
        if (res && (res.status === 201 || res.status === 200)) {
          if (res.status === 200) replayed++;
          const prior = acked.get(key);
          // A repeat must answer with the first answer, never a second message.
          if (prior) expect(res.body.id).toBe(prior.id);
          acked.set(key, { id: res.body.id, seq: res.body.seq });
          return;
        }
        // Anything but a crash symptom is a bug, not something to retry.
        if (res && res.status < 500) throw new Error(`unexpected ${res.status}: ${JSON.stringify(res.body)}`);
        failedAttempts++;
        await new Promise((r) => setTimeout(r, 25));
      }
    }

    const load = Array.from({ length: workers }, async (_, w) => {
      for (let n = 0; !stopping; n++) await sendUntilAcked(`w${w}-${n}`);
    });

    for (let life = 0; life < kills; life++) {
      const target = acked.size + acksPerLife;
      await waitFor(() => acked.size >= target, 30_000, 10);
      await server.kill('SIGKILL');
      server = await spawnServer(dir, port);
    }
    const target = acked.size + acksPerLife;
    await waitFor(() => acked.size >= target, 30_000, 10);
    stopping = true;
    await Promise.all(load);

    // The crashes really interrupted sends: some attempts failed and were retried.
    expect(failedAttempts).toBeGreaterThan(0);

    const bodies: string[] = [];
    const seqs: number[] = [];
    for (let after = 0; ;) {
      const page = await api.get(`/v1/conversations/${convId}/messages?after=${after}&limit=1000`);
      expect(page.status).toBe(200);
      for (const e of page.body.items as Array<{ seq: number; body: { text: string } }>) {
        seqs.push(e.seq);
        bodies.push(e.body.text);
      }
      if (!page.body.hasMore) break;
      after = seqs[seqs.length - 1]!;
    }
    const counts = new Map<string, number>();
    for (const b of bodies) counts.set(b, (counts.get(b) ?? 0) + 1);
    const twice = [...counts].filter(([, n]) => n > 1);
    expect(twice).toEqual([]);
    const missing = [...acked.keys()].filter((k) => !counts.has(k));
    expect(missing).toEqual([]);
    // Every stored message was sent by a worker and acknowledged (workers retry until they are).
    expect(bodies.length).toBe(acked.size);
    expect(seqs).toEqual(Array.from({ length: seqs.length }, (_, i) => i + 1));
    for (const [key, ack] of acked) {
      const record = await api.get(`/v1/idempotency-keys/${key}`);
      expect(record.status).toBe(200);
      expect(record.body.result.id).toBe(ack.id);
      expect(record.body.result.seq).toBe(ack.seq);
    }
    console.info(
      `kill -9: ${acked.size} messages, ${failedAttempts} failed attempts retried, ${replayed} replays`,
    );
    await server.kill('SIGTERM');
    expect(server.child.exitCode).toBe(0);
  }, 120_000); // four cold starts of the server process; slow when the machine is busy
});
