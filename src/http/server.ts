// The HTTP server: Fastify with TypeBox schemas, one error mapper, one log line per request, the routes by
// resource, and the realtime sessions of its connections (the WebSocket gateway attaches to the same server).
import { randomUUID } from 'node:crypto';
import swagger from '@fastify/swagger';
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import Fastify, {
  LogController,
  type FastifyInstance,
  type FastifyBaseLogger,
  type RawServerDefault,
} from 'fastify';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { errorCatalogue, OncelyError, type ErrorCode } from '../errors.js';
import { prototypeKeyMessage, textHoldsPrototypeKey } from '../ingest/prototype-keys.js';
import { redactUrl } from '../observability/logger.js';
import { createSessions, type Sessions } from '../realtime/sessions.js';
import type { Services } from '../services.js';
import { clientErrorHandler, errorHandler, frameworkErrorHandler, notFoundHandler } from './error-mapper.js';
import { rateLimitedAuth } from './auth.js';
import { trustProxyOption } from './client-address.js';
import { openapiOptions } from './openapi.js';
import { registerRateLimits } from './rate-limits.js';
import { requestLoggerFactory } from './request-logger.js';
import { createValidatorCompiler } from './request-validator.js';
import { registerAppRoutes } from './routes/apps.js';
import { registerBatchRoutes } from './routes/batch.js';
import { registerCallbackRoutes } from './routes/callbacks.js';
import { registerConsumerRoutes } from './routes/consumers.js';
import { registerConversationRoutes } from './routes/conversations.js';
import { registerIdempotencyRoutes } from './routes/idempotency.js';
import { registerMeRoutes } from './routes/me.js';
import { registerMessageRoutes } from './routes/messages.js';
import { registerSyncRoutes } from './routes/sync.js';
import { registerSystemRoutes } from './routes/system.js';
import { registerWebClientRoutes } from './routes/web-client.js';
import { registerWebhookRoutes } from './routes/webhooks.js';

export type TypedApp = FastifyInstance<
  RawServerDefault,
  IncomingMessage,
  ServerResponse,
  FastifyBaseLogger,
  TypeBoxTypeProvider
>;

declare module 'fastify' {
  interface FastifyInstance {
    /** Refuses every further request with 503 `shutting_down`; the first step of a shutdown. */
    beginClose(): void;
    /** The realtime sessions of this server's connections (SSE and long-poll here, WebSocket on its upgrade). */
    sessions: Sessions;
  }
}

export async function buildHttpServer(s: Services): Promise<TypedApp> {
  const app = Fastify({
    loggerInstance: s.logger as FastifyBaseLogger,
    bodyLimit: s.config.bodyLimitBytes,
    // Slow or silent clients do not hold connections (README "Configuration"): the whole request within the
    // request timeout, no silence longer than the idle timeout; checked often enough to be timely.
    requestTimeout: s.config.http.requestTimeoutMs,
    connectionTimeout: s.config.http.idleTimeoutMs,
    keepAliveTimeout: s.config.http.keepAliveTimeoutMs,
    http: {
      headersTimeout: s.config.http.requestTimeoutMs,
      requestTimeout: s.config.http.requestTimeoutMs,
      connectionsCheckingInterval: Math.min(30_000, Math.max(50, s.config.http.requestTimeoutMs / 4)),
    },
    logController: new LogController({ disableRequestLogging: true }),
    // A request's child logger is made only if the request logs (request-logger.ts).
    childLoggerFactory: requestLoggerFactory,
    requestIdHeader: 'x-request-id',
    // Behind a reverse proxy: request.ip (logged) is the client's, not the proxy's (README "Running in production").
    trustProxy: trustProxyOption(s.config.trustProxy),
    genReqId: () => randomUUID(),
    // Closing is answered below in the error shape (Fastify's own 503 body is not).
    return503OnClosing: false,
    forceCloseConnections: true,
    // Long enough for every id the schemas allow (idempotency keys: 255), so a too-long id gets the schema's 400.
    routerOptions: { maxParamLength: 512 },
    // The router's and the HTTP parser's refusals in the error shape too.
    frameworkErrors: frameworkErrorHandler,
    clientErrorHandler,
  }).withTypeProvider<TypeBoxTypeProvider>();
  app.setValidatorCompiler(createValidatorCompiler());
  app.server.maxConnections = s.config.http.maxConnections;

  // From the start of a shutdown, a request that still arrives on an open connection is refused with 503
  // and Retry-After (a load balancer sends the retry elsewhere), not run against parts being closed.
  let closing = false;
  app.decorate('beginClose', () => {
    closing = true;
  });
  app.addHook('preClose', async () => {
    closing = true;
  });
  // A callback hook, not async: it runs for every request and costs no promise while not closing.
  app.addHook('onRequest', (_request, reply, done) => {
    if (!closing) return done();
    const code = 'shutting_down' satisfies ErrorCode;
    reply
      .status(errorCatalogue[code].status)
      .header('connection', 'close')
      .header('retry-after', '1')
      .send({ error: { code, message: 'this instance is shutting down; retry' } });
  });

  // An empty JSON body is treated as no body, so bodiless POSTs (recall) work from any client.
  const defaultJson = app.getDefaultJsonParser('error', 'error');
  app.removeContentTypeParser('application/json');
  // The API speaks JSON only: a text/plain body is refused with 415, not parsed into a string.
  app.removeContentTypeParser('text/plain');
  app.addContentTypeParser('application/json', { parseAs: 'string' }, (request, body, done) => {
    if (body === '' || (typeof body === 'string' && body.trim() === '')) return done(null, undefined);
    const text = body.toString();
    defaultJson(request, text, (err, parsed) => {
      // Fastify's parser refuses prototype keys without saying so: the message every entry point gives.
      if (err && textHoldsPrototypeKey(text)) {
        return done(
          OncelyError.of('invalid_json', `the body is not acceptable JSON: ${prototypeKeyMessage}`),
        );
      }
      done(err, parsed);
    });
  });

  // A bodiless request validates as an empty object: optional-only bodies need no `{}` from the client,
  // and a required field still gets its own clear message.
  app.addHook('preValidation', (request, _reply, done) => {
    if (request.body === undefined || request.body === null) request.body = {};
    done();
  });

  app.setErrorHandler(errorHandler);
  app.setNotFoundHandler(notFoundHandler);
  // Callback hooks, not async ones: they run for every request, and a callback costs no promise.
  app.addHook('onSend', (request, reply, payload, done) => {
    reply.header('x-request-id', request.id);
    // Every answer is what its Content-Type says: a browser never guesses a script out of a JSON body.
    reply.header('x-content-type-options', 'nosniff');
    done(null, payload);
  });
  // One line per request; the URL loses any token it carries, headers are never logged.
  app.addHook('onResponse', (request, reply, done) => {
    if (s.logger.isLevelEnabled('info')) {
      request.log.info(
        {
          method: request.method,
          url: redactUrl(request.url),
          ip: request.ip,
          statusCode: reply.statusCode,
          ms: Math.round(reply.elapsedTime * 10) / 10,
        },
        'request',
      );
    }
    done();
  });

  await app.register(swagger, openapiOptions);

  // Routes authenticate through the rate limits (per app, per user, failures per address); so do realtime
  // sessions, whatever transport opens them (a WebSocket upgrade, an SSE `?token=`).
  const limits = await registerRateLimits(app, s.config.rateLimits, s.config.redisUrl);
  const sessions = createSessions({
    realtime: s.realtime,
    auth: s.auth,
    limits,
    clock: s.clock,
    logger: s.logger,
    metrics: s.metrics,
    frames: { ingest: s.ingest, receipts: s.receipts, recall: s.recall, typing: s.typing },
    // Told of users' first and last sessions here; absent: presence is off.
    ...(s.config.presence ? { presence: s.presence } : {}),
    options: {
      heartbeatMs: s.config.wsHeartbeatMs,
      authTimeoutMs: s.config.wsAuthTimeoutMs,
      maxConnectionsPerUser: s.config.maxConnectionsPerUser,
      sendBufferLimitBytes: s.config.sendBufferLimitBytes,
      longPollMaxMs: s.config.longPollMaxMs,
    },
  });
  app.decorate('sessions', sessions);

  const routeModules: Array<(app: TypedApp, s: Services) => void | Promise<void>> = [
    registerSystemRoutes,
    registerAppRoutes,
    registerConversationRoutes,
    registerMessageRoutes,
    (app, s) => registerSyncRoutes(app, s, sessions),
    registerIdempotencyRoutes,
    registerMeRoutes,
    registerBatchRoutes,
    registerCallbackRoutes,
    registerConsumerRoutes,
    registerWebhookRoutes,
    // Last: the browser app's files, under every API path.
    registerWebClientRoutes,
  ];
  const routed: Services = { ...s, auth: rateLimitedAuth(s.auth, limits) };
  for (const register of routeModules) {
    await register(app, routed);
  }
  return app;
}
