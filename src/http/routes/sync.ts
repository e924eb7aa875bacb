// The HTTP transports of the realtime stream, over the same cursors as the WebSocket: long-poll
// `GET /v1/sync` (answers at once when events exist, else waits for the bus to wake it) and Server-Sent
// Events `GET /v1/events` (`id:` is the cursor; `Last-Event-ID` resumes). They move bytes; the rules of a
// session (auth, limits, resume, heartbeat, slow readers, token expiry) are the realtime sessions'.
import { Type } from '@sinclair/typebox';
import type { Sessions } from '../../realtime/sessions.js';
import type { Transport } from '../../realtime/session.js';
import type { Services } from '../../services.js';
import { bearerToken } from '../auth.js';
import type { TypedApp } from '../server.js';
import { OncelyError } from '../../errors.js';
import { asUser, bearer, errors, Event } from '../schemas.js';

/**
 * One SSE message (`id:`, then `data:`). A fanned-out frame (an event) comes to every member's stream in a
 * row: its text is built once for all of them.
 */
function sseMessages(): (frame: Buffer, cursor?: string) => Buffer {
  let last: { frame: Buffer; cursor?: string; text: Buffer } | undefined;
  return (frame, cursor) => {
    if (last?.frame === frame && last.cursor === cursor) return last.text;
    const head = cursor ? `id: ${cursor}\ndata: ` : 'data: ';
    last = { frame, cursor, text: Buffer.concat([Buffer.from(head), frame, Buffer.from('\n\n')]) };
    return last.text;
  };
}

/** Typing and presence messages (`event:`, then `data:`), one text for every stream that gets the same. */
function sseSignals(): (frames: readonly Buffer[], event: string) => Buffer {
  let last: { frames: readonly Buffer[]; text: Buffer } | undefined;
  return (frames, event) => {
    if (last?.frames === frames) return last.text;
    const head = Buffer.from(`event: ${event}\ndata: `);
    const end = Buffer.from('\n\n');
    last = { frames, text: Buffer.concat(frames.flatMap((frame) => [head, frame, end])) };
    return last.text;
  };
}

export function registerSyncRoutes(app: TypedApp, s: Services, sessions: Sessions): void {
  const sseMessage = sseMessages();
  const sseSignal = sseSignals();
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
    async (request) =>
      sessions.poll({
        user: await s.auth.user(request),
        cursor: request.query.cursor,
        timeoutMs: request.query.timeoutMs,
        gone(end) {
          if (request.raw.socket.destroyed) end();
          request.raw.once('close', end);
          return () => request.raw.off('close', end);
        },
      }),
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
      // EventSource cannot set headers: the token may come as `?token=`; the same checks and limits apply.
      const token = bearerToken(request) ?? request.query.token;
      if (!token)
        throw OncelyError.of('missing_token', 'this endpoint needs "Authorization: Bearer <token>"');
      const admission = await sessions.admit({
        token,
        address: request.ip,
        cursor: request.headers['last-event-id'] || request.query.cursor,
      });
      const res = reply.raw;
      reply.hijack();
      res.writeHead(200, {
        'content-type': 'text/event-stream; charset=utf-8',
        'cache-control': 'no-cache, no-transform',
        connection: 'keep-alive',
        'x-accel-buffering': 'no',
        'x-request-id': request.id,
      });
      res.write('retry: 2000\n\n');
      const transport: Transport = {
        name: 'sse',
        answersPings: false,
        write(frame, cursor) {
          if (res.writableEnded) return;
          res.write(sseMessage(frame, cursor));
        },
        signals(frames, event) {
          if (res.writableEnded) return;
          res.write(sseSignal(frames, event));
        },
        buffered: () => res.writableLength,
        ping: () => void (res.writableEnded || res.write(': ping\n\n')),
        // EventSource reconnects by itself (with Last-Event-ID): the `error` event before the end says why.
        close: () => void res.end(),
        terminate: () => res.destroy(),
      };
      const session = sessions.start(transport, admission);
      res.on('close', () => session.closed());
      // Gone while it was being admitted: 'close' has passed already.
      if (request.raw.socket.destroyed) session.closed();
    },
  );
}
