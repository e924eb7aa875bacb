// The HTTP transports of the realtime stream, over the same cursors as the WebSocket: long-poll
// `GET /v1/sync` (answers at once when events exist, else waits for the bus to wake it) and Server-Sent
// Events `GET /v1/events` (`id:` is the cursor; `Last-Event-ID` resumes).
import { Type } from '@sinclair/typebox';
import type { FastifyRequest } from 'fastify';
import type { UserPrincipal } from '../../apps/principal.js';
import { OncelyError } from '../../errors.js';
import type { ConnectionRelease } from '../../realtime/connection-registry.js';
import type { Delivery, ReceiptDelivery, SignalDelivery, Subscriber } from '../../realtime/hub.js';
import { watchExpiry } from '../../realtime/token-expiry.js';
import type { Services } from '../../services.js';
import type { TypedApp } from '../server.js';
import { asUser, bearer, errors, Event } from '../schemas.js';

/** Most events in one long-poll answer; the client asks again at once when there were this many. */
const syncPageSize = 500;

export function registerSyncRoutes(app: TypedApp, s: Services): void {
  /** Long-polls and SSE streams count with WebSockets in the user's connection limit. */
  async function reserveConnection(
    user: { appId: string; userId: string },
    kind: 'session' | 'poll',
  ): Promise<ConnectionRelease> {
    const { appId, userId } = user;
    const max = s.config.maxConnectionsPerUser;
    const place = await (kind === 'session'
      ? realtime.reserveSession(appId, userId, max)
      : realtime.connections.reserve(appId, userId, max));
    if (place) return place;
    metrics.realtimeDisconnects.inc({ reason: 'too_many_connections' });
    throw OncelyError.of(
      'too_many_connections',
      `a user may hold ${s.config.maxConnectionsPerUser} connections; this new one is refused`,
    );
  }

  const { realtime, metrics } = s;

  /** A user token from the Authorization header, or `?token=` (EventSource cannot set headers). */
  async function userOf(request: FastifyRequest, queryToken: string | undefined): Promise<UserPrincipal> {
    if (request.headers.authorization || !queryToken) return s.auth.user(request);
    const p = await s.auth.principalOf(queryToken);
    if (p.kind !== 'user') throw OncelyError.of('user_token_required', 'this endpoint needs a user token');
    return p;
  }

  // A HEAD of a stream would open it (and hold one of the user's connections) to send nothing: refused at once.
  for (const url of ['/v1/sync', '/v1/events']) {
    app.head(url, { schema: { hide: true } }, async (_request, reply) => {
      reply.header('allow', 'GET');
      throw OncelyError.of('method_not_allowed', `${url} is a stream: GET it`);
    });
  }

  app.get(
    '/v1/sync',
    {
      exposeHeadRoute: false,
      schema: {
        summary: 'Long-poll: the events after the cursor, waiting up to timeoutMs for the first',
        security: bearer,
        querystring: Type.Object(
          {
            cursor: Type.Optional(Type.String({ maxLength: 256 })),
            timeoutMs: Type.Optional(Type.Integer({ minimum: 0, maximum: 30_000 })),
          },
          { additionalProperties: false },
        ),
        response: {
          200: Type.Object({ events: Type.Array(Event), cursor: Type.String() }),
          ...errors(asUser, 'invalid_request', 'invalid_cursor'),
        },
      },
    },
    async (request) => {
      const user = await s.auth.user(request);
      const { cursor } = request.query;
      // Without a cursor: no events, and the cursor of now (history is read per conversation).
      if (cursor === undefined) return { events: [], cursor: realtime.cursor(realtime.now()) };
      const after = await realtime.position(cursor);
      // Never waits past the token's expiry (the next poll then needs a fresh token).
      const timeoutMs = Math.max(
        0,
        Math.min(
          request.query.timeoutMs ?? s.config.longPollMaxMs,
          s.config.longPollMaxMs,
          (user.expiresAt ?? Infinity) - s.clock.now(),
        ),
      );
      // A waiting long-poll holds a connection like a socket does: it counts in the user's limit (but an
      // SSE or WebSocket session, not a poll, makes its user online).
      const releasePlace = await reserveConnection(user, 'poll');

      let wake: () => void = () => undefined;
      const woken = new Promise<void>((resolve) => (wake = resolve));
      const waiter: Subscriber & { closed: boolean } = {
        appId: user.appId,
        userId: user.userId,
        closed: false,
        deliver: () => wake(),
        receipt: () => undefined,
      };
      // Attached before the read: an event committed after the read wakes us, none falls between.
      await realtime.hub.attach(waiter);
      metrics.connections.inc({ transport: 'longpoll' });
      const end = () => wake();
      const untrack = realtime.track(end);
      request.raw.once('close', end);
      try {
        let page = await realtime.reader.userEvents(user.appId, user.userId, after, syncPageSize);
        if (page.events.length === 0 && timeoutMs > 0) {
          const timer = setTimeout(wake, timeoutMs);
          await woken;
          clearTimeout(timer);
          page = await realtime.reader.userEvents(user.appId, user.userId, after, syncPageSize);
        }
        // `through` is past every event of the user the read could see, found or not: the cursor moves there.
        return { events: page.events.map((e) => e.event), cursor: realtime.cursor(page.through) };
      } finally {
        waiter.closed = true;
        realtime.hub.detach(waiter);
        untrack();
        request.raw.off('close', end);
        metrics.connections.dec({ transport: 'longpoll' });
        releasePlace();
      }
    },
  );

  app.get(
    '/v1/events',
    {
      exposeHeadRoute: false,
      schema: {
        summary: 'Server-Sent Events: the stream of the user; id is the cursor, Last-Event-ID resumes',
        security: bearer,
        headers: Type.Object({ 'last-event-id': Type.Optional(Type.String({ maxLength: 256 })) }),
        querystring: Type.Object(
          {
            cursor: Type.Optional(Type.String({ maxLength: 256 })),
            token: Type.Optional(Type.String({ maxLength: 4096 })),
          },
          { additionalProperties: false },
        ),
        response: {
          200: {
            description:
              'A text/event-stream: `ready`, then one `data:` per event with `id:` its cursor, receipts, and `: ping` heartbeats',
            content: { 'text/event-stream': { schema: Type.String() } },
          },
          ...errors(asUser, 'invalid_request', 'invalid_cursor', 'too_many_connections'),
        },
      },
    },
    async (request, reply) => {
      const user = await userOf(request, request.query.token);
      const cursor = request.headers['last-event-id'] || request.query.cursor;
      const resumeFrom = cursor ? await realtime.position(cursor) : undefined;
      const releasePlace = await reserveConnection(user, 'session');
      const res = reply.raw;
      reply.hijack();
      res.writeHead(200, {
        'content-type': 'text/event-stream; charset=utf-8',
        'cache-control': 'no-cache, no-transform',
        connection: 'keep-alive',
        'x-accel-buffering': 'no',
        'x-request-id': request.id,
      });
      metrics.connections.inc({ transport: 'sse' });
      let ended = false;
      const write = (chunk: string | Buffer) => {
        if (ended) return;
        res.write(chunk);
        if (res.writableLength > s.config.sendBufferLimitBytes) {
          // Too slow: end the stream; EventSource reconnects with Last-Event-ID and resumes.
          metrics.realtimeDisconnects.inc({ reason: 'slow_consumer' });
          res.write('data: {"type":"error","code":"slow_consumer","message":"the reader fell behind"}\n\n');
          finish();
          // The end waits behind the unread data; a reader that never drains is cut off.
          setTimeout(() => res.destroy(), 5_000).unref();
        }
      };
      const subscription = realtime.subscribe(user.appId, user.userId, {
        event: (d: Delivery) =>
          write(Buffer.concat([Buffer.from(`id: ${d.cursor}\ndata: `), d.frame, Buffer.from('\n\n')])),
        receipt: (r: ReceiptDelivery) =>
          write(Buffer.concat([Buffer.from('data: '), r.frame, Buffer.from('\n\n')])),
        // Named events (`typing`, `presence`): not sequenced, so no `id:` that would move Last-Event-ID.
        signal: (d: SignalDelivery) =>
          write(Buffer.concat([Buffer.from(`event: ${d.type}\ndata: `), d.frame, Buffer.from('\n\n')])),
        full: () => res.writableLength > s.config.sendBufferLimitBytes / 2,
        drained: () =>
          res.writableLength > s.config.sendBufferLimitBytes / 4
            ? new Promise((resolve) => res.once('drain', () => resolve()))
            : Promise.resolve(),
        overflow: () => finish(),
      });
      const heartbeat = setInterval(() => write(': ping\n\n'), s.config.wsHeartbeatMs);
      // The stream lasts as long as its token; EventSource cannot send a fresh one, so it reconnects with one.
      const expiry = watchExpiry(s.clock, user.expiresAt, () => {
        metrics.realtimeDisconnects.inc({ reason: 'token_expired' });
        write('data: {"type":"error","code":"token_expired","message":"the token has expired"}\n\n');
        finish();
      });
      function finish() {
        if (ended) return;
        ended = true;
        clearInterval(heartbeat);
        expiry.close();
        subscription.close();
        untrack();
        releasePlace();
        metrics.connections.dec({ transport: 'sse' });
        res.end();
      }
      const untrack = realtime.track(finish);
      res.on('close', finish);
      // Gone while its place was being reserved: 'close' has passed already.
      if (request.raw.socket.destroyed) finish();
      write('retry: 2000\n\n');
      try {
        const now = await subscription.start();
        if (resumeFrom === undefined) {
          const ready = realtime.cursor(now);
          write(
            `id: ${ready}\ndata: ${JSON.stringify({ type: 'ready', userId: user.userId, cursor: ready })}\n\n`,
          );
          subscription.goLive();
        } else {
          write(
            `data: ${JSON.stringify({ type: 'ready', userId: user.userId, cursor: realtime.cursor(resumeFrom) })}\n\n`,
          );
          await subscription.resume(resumeFrom);
        }
      } catch (err) {
        request.log.error({ err }, 'event stream failed');
        finish();
      }
    },
  );
}
