// An example of the receiving side of oncely's webhooks — seed 000's customer server done right. It verifies
// the Standard Webhooks signature over the raw body, then in ONE database transaction records the webhook-id
// and applies the effect (here: stores the message). A repeat finds the id and changes nothing; an effect that
// fails rolls the record back with it, so the sender's retry applies it later. It answers 2xx only after the
// commit. Run it with
//   WEBHOOK_SECRET=whsec_… PORT=3000 npx tsx examples/webhook-receiver/receiver.ts
import { createServer, type Server } from 'node:http';
import BetterSqlite3 from 'better-sqlite3';
import { Webhook, WebhookVerificationError } from 'standardwebhooks';

/** How long a webhook-id is remembered: longer than oncely retries (about 1.5 days) and than any replay window. */
export const rememberMs = 7 * 24 * 3600 * 1000;

export interface WebhookPayload {
  type: string;
  timestamp: string;
  data: { id: string; conversationId: string; seq: number; senderId: string | null; body: unknown };
}

export interface ReceiverOptions {
  /** Every secret that may sign (two during a rotation). */
  secrets: string[];
  /** SQLite file of this receiver, or `:memory:`. */
  filename: string;
  /** The business effect, run inside the transaction; throwing rolls everything back (answered 500). */
  apply?: (db: BetterSqlite3.Database, event: WebhookPayload) => void;
  now?: () => number;
}

/** Stores each message once: the example's business effect. */
function storeMessage(db: BetterSqlite3.Database, event: WebhookPayload): void {
  if (event.type !== 'message.created') return;
  db.prepare(
    'insert into inbox (message_id, conversation_id, seq, sender_id, body) values (?, ?, ?, ?, ?)',
  ).run(
    event.data.id,
    event.data.conversationId,
    event.data.seq,
    event.data.senderId,
    JSON.stringify(event.data.body),
  );
}

export function createWebhookReceiver(options: ReceiverOptions): {
  server: Server;
  db: BetterSqlite3.Database;
} {
  const now = options.now ?? Date.now;
  const apply = options.apply ?? storeMessage;
  const hooks = options.secrets.map((s) => new Webhook(s));
  const db = new BetterSqlite3(options.filename);
  db.pragma('journal_mode = WAL');
  db.exec(`
    create table if not exists seen_webhooks (webhook_id text primary key, received_at integer not null);
    create index if not exists seen_webhooks_age on seen_webhooks (received_at);
    create table if not exists inbox (
      message_id text primary key, conversation_id text not null, seq integer not null,
      sender_id text, body text not null);
  `);
  const remember = db.prepare(
    'insert into seen_webhooks (webhook_id, received_at) values (?, ?) on conflict do nothing',
  );
  const forget = db.prepare('delete from seen_webhooks where received_at < ?');

  // Record-and-check and the effect commit together or not at all: two deliveries of one id racing each other
  // cannot both apply it, and a crash between the two leaves neither.
  const handle = db.transaction((id: string, event: WebhookPayload): 'ok' | 'duplicate' => {
    if (remember.run(id, now()).changes === 0) return 'duplicate';
    apply(db, event);
    return 'ok';
  });

  function verify(body: string, headers: Record<string, string>): WebhookPayload {
    let lastError: unknown;
    for (const hook of hooks) {
      try {
        return hook.verify(body, headers) as WebhookPayload;
      } catch (err) {
        lastError = err;
      }
    }
    throw lastError ?? new WebhookVerificationError('no secret');
  }

  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const reply = (status: number, body: unknown) =>
        res.writeHead(status, { 'content-type': 'application/json' }).end(JSON.stringify(body));
      const headers = {
        'webhook-id': String(req.headers['webhook-id'] ?? ''),
        'webhook-timestamp': String(req.headers['webhook-timestamp'] ?? ''),
        'webhook-signature': String(req.headers['webhook-signature'] ?? ''),
      };
      let event: WebhookPayload;
      try {
        // The signature covers the exact bytes: verify before parsing anything.
        event = verify(Buffer.concat(chunks).toString('utf8'), headers);
      } catch {
        return reply(401, { error: 'invalid signature' });
      }
      try {
        const outcome = handle(headers['webhook-id'], event);
        return reply(200, outcome === 'ok' ? { status: 'ok' } : { status: 'ignored', reason: 'duplicate' });
      } catch {
        // Nothing was recorded: the sender retries and the effect is applied then.
        return reply(500, { error: 'not processed' });
      }
    });
  });
  const sweep = setInterval(() => forget.run(now() - rememberMs), 3600_000);
  sweep.unref();
  server.on('close', () => {
    clearInterval(sweep);
    db.close();
  });
  return { server, db };
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const secrets = (process.env.WEBHOOK_SECRET ?? '').split(',').filter(Boolean);
  if (secrets.length === 0) throw new Error('set WEBHOOK_SECRET to the whsec_ secret of your endpoint');
  const { server } = createWebhookReceiver({ secrets, filename: process.env.DATABASE ?? 'receiver.db' });
  server.listen(Number(process.env.PORT ?? 3000), () =>
    console.log('webhook receiver listening', server.address()),
  );
}
