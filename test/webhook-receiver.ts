// A real webhook receiver for the tests, in the test process: an HTTP server on loopback that verifies every
// delivery with the `standardwebhooks` package, dedupes by webhook-id, and can be told to fail, time out,
// answer slowly or answer 410 — per request, so a test scripts a receiver's bad day.
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Webhook } from 'standardwebhooks';

export type Behaviour = 'ok' | 'fail' | 'hang' | 'gone' | { delayMs: number };

export interface Received {
  id: string;
  timestamp: string;
  signature: string;
  payload: { type: string; timestamp: string; data: Record<string, any> };
  /** Which of the receiver's secrets verified it (index into `secrets`). */
  verifiedBy: number[];
}

export interface TestReceiver {
  url: string;
  port: number;
  /** Every verified request, repeats included, in arrival order. */
  requests: Received[];
  /** The first arrival of each webhook-id, in arrival order (what a deduping receiver applies). */
  unique: Map<string, Received>;
  /** Requests refused because no secret verified them. */
  unverified: number;
  /** Decides how to answer a request; default always `ok` (204). */
  behave: (r: Received, attempt: number) => Behaviour;
  /** Secrets to verify with; a request verifying with none is answered 401 and counted. */
  secrets: string[];
  /** Requests held open right now (`hang`); the most at once is `maxHolding`. */
  holding: number;
  maxHolding: number;
  close(): Promise<void>;
}

export async function startReceiver(secrets: string[] = []): Promise<TestReceiver> {
  const held = new Set<ServerResponse>();
  const attempts = new Map<string, number>();
  const state: TestReceiver = {
    url: '',
    port: 0,
    requests: [],
    unique: new Map(),
    unverified: 0,
    behave: () => 'ok',
    secrets,
    holding: 0,
    maxHolding: 0,
    close: async () => undefined,
  };

  async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const chunks: Buffer[] = [];
    for await (const chunk of req) chunks.push(chunk as Buffer);
    const body = Buffer.concat(chunks).toString('utf8');
    const headers = {
      'webhook-id': String(req.headers['webhook-id'] ?? ''),
      'webhook-timestamp': String(req.headers['webhook-timestamp'] ?? ''),
      'webhook-signature': String(req.headers['webhook-signature'] ?? ''),
    };
    const verifiedBy: number[] = [];
    state.secrets.forEach((secret, i) => {
      try {
        new Webhook(secret).verify(body, headers);
        verifiedBy.push(i);
      } catch {
        /* not this secret */
      }
    });
    if (verifiedBy.length === 0) {
      state.unverified++;
      res.writeHead(401).end();
      return;
    }
    const received: Received = {
      id: headers['webhook-id'],
      timestamp: headers['webhook-timestamp'],
      signature: headers['webhook-signature'],
      payload: JSON.parse(body) as Received['payload'],
      verifiedBy,
    };
    const attempt = (attempts.get(received.id) ?? 0) + 1;
    attempts.set(received.id, attempt);
    const behaviour = state.behave(received, attempt);
    if (behaviour === 'hang') {
      state.holding++;
      state.maxHolding = Math.max(state.maxHolding, state.holding);
      held.add(res);
      res.on('close', () => {
        state.holding--;
        held.delete(res);
      });
      return;
    }
    if (typeof behaviour === 'object') await new Promise((r) => setTimeout(r, behaviour.delayMs));
    if (behaviour === 'fail') return void res.writeHead(500).end('no');
    if (behaviour === 'gone') return void res.writeHead(410).end();
    // Only a request answered 2xx counts as received: that is what the sender may treat as delivered.
    state.requests.push(received);
    if (!state.unique.has(received.id)) state.unique.set(received.id, received);
    res.writeHead(204).end();
  }

  const server = createServer((req, res) => {
    handle(req, res).catch(() => res.writeHead(500).end());
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  state.port = (server.address() as AddressInfo).port;
  state.url = `http://127.0.0.1:${state.port}/hook`;
  state.close = async () => {
    for (const res of held) res.destroy();
    server.closeAllConnections();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  };
  return state;
}
