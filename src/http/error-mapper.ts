// The one place errors become HTTP answers: {"error":{"code","message"}} with the status the catalogue gives
// the code (errors.ts). Known failures keep their stable code; anything unexpected is logged and answered 500
// without details. Fastify's own refusals — made before any handler runs, by the router (frameworkErrors), the
// body parsers, the body limit, and the HTTP parser itself (clientErrorHandler) — get the same shape.
import type { Socket } from 'node:net';
import type { FastifyError, FastifyReply, FastifyRequest } from 'fastify';
import { errorCatalogue, OncelyError, rawHttpError, type ErrorCode } from '../errors.js';
import { describeValidationError } from './validation-messages.js';

interface ErrorAnswer {
  status: number;
  code: string;
  message: string;
}

const answer = (code: ErrorCode, message: string): ErrorAnswer => ({
  status: errorCatalogue[code].status,
  code,
  message,
});

/** Fastify's error codes that a client can cause, with what they mean to that client. */
const fastifyCodes: Record<string, () => ErrorAnswer> = {
  FST_ERR_CTP_INVALID_JSON_BODY: () => answer('invalid_json', 'the body is not valid JSON'),
  FST_ERR_CTP_EMPTY_JSON_BODY: () => answer('invalid_json', 'the body is empty'),
  FST_ERR_CTP_BODY_TOO_LARGE: () =>
    answer('body_too_large', 'the request body is larger than this server accepts'),
  FST_ERR_CTP_INVALID_MEDIA_TYPE: () =>
    answer('unsupported_media_type', 'the API takes JSON: send the body with Content-Type: application/json'),
  FST_ERR_CTP_INVALID_CONTENT_LENGTH: () =>
    answer('invalid_content_length', 'the body is not as long as its Content-Length says'),
  FST_ERR_BAD_URL: () =>
    answer('invalid_url', 'the URL path is not valid: a percent-encoded part does not decode to UTF-8 text'),
  FST_ERR_MAX_PARAM_LENGTH: () =>
    answer('path_parameter_too_long', 'a path parameter is longer than any id this API accepts'),
  FST_ERR_ASYNC_CONSTRAINT: () => answer('invalid_request', 'the request matches no variant of this route'),
};

export function toErrorAnswer(error: unknown): ErrorAnswer {
  if (error instanceof OncelyError) return { status: error.status, code: error.code, message: error.message };
  const fe = error as FastifyError;
  if (fe.validation) return answer('invalid_request', describeValidationError(fe));
  const known = fe.code ? fastifyCodes[fe.code] : undefined;
  if (known) return known();
  if (error instanceof SyntaxError && (fe.statusCode === 400 || /JSON/.test(error.message))) {
    // The JSON parser's own refusals, e.g. a `__proto__` key: its message says which.
    return answer('invalid_json', `the body is not acceptable JSON: ${error.message}`);
  }
  if (typeof fe.statusCode === 'number' && fe.statusCode >= 400 && fe.statusCode < 500) {
    // A refusal no code above names (the page's file server: a range not satisfiable): its own 4xx status.
    return { status: fe.statusCode, code: 'bad_request' satisfies ErrorCode, message: fe.message };
  }
  return answer('internal_error', 'internal error');
}

export function errorHandler(error: unknown, request: FastifyRequest, reply: FastifyReply): void {
  const answer = toErrorAnswer(error);
  if (error instanceof OncelyError && error.retryAfterSeconds !== undefined) {
    reply.header('retry-after', String(error.retryAfterSeconds));
    // A passing outage is expected, not a bug: one line without the stack.
    request.log.warn(
      { code: answer.code, cause: (error.cause as Error | undefined)?.message },
      answer.message,
    );
  } else if (answer.status >= 500) request.log.error({ err: error }, 'request failed');
  reply.status(answer.status).send({ error: { code: answer.code, message: answer.message } });
}

/** Fastify's `frameworkErrors`: the router's refusals (a malformed URL, a path parameter over the limit). */
export function frameworkErrorHandler(
  error: FastifyError,
  request: FastifyRequest,
  reply: FastifyReply,
): void {
  errorHandler(error, request, reply);
}

export function notFoundHandler(request: FastifyRequest, reply: FastifyReply): void {
  const { status, code, message } = answer(
    'route_not_found',
    `no route ${request.method} ${request.url.split('?')[0]}`,
  );
  reply.status(status).send({ error: { code, message } });
}

/** Requests Node's HTTP parser refuses (malformed, headers too large, too slow): answered on the socket. */
export function clientErrorHandler(err: NodeJS.ErrnoException, socket: Socket): void {
  if (err.code === 'ECONNRESET' || socket.destroyed) return;
  if (socket.writable) {
    socket.write(
      err.code === 'HPE_HEADER_OVERFLOW'
        ? rawHttpError('headers_too_large', 'the request headers are larger than this server accepts')
        : err.code === 'ERR_HTTP_REQUEST_TIMEOUT'
          ? rawHttpError('request_timeout', 'the request did not arrive in time')
          : rawHttpError('malformed_request', 'the request is not valid HTTP/1.1'),
    );
  }
  socket.destroy();
}
