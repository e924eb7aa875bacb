// The one place errors become HTTP answers: {"error":{"code","message"}} with a fitting status.
// Known failures keep their stable code; anything unexpected is logged and answered 500 without details.
import type { FastifyError, FastifyReply, FastifyRequest } from 'fastify';
import { OncelyError } from '../errors.js';

const fastifyCodes: Record<string, { status: number; code: string }> = {
  FST_ERR_CTP_INVALID_JSON_BODY: { status: 400, code: 'invalid_json' },
  FST_ERR_CTP_EMPTY_JSON_BODY: { status: 400, code: 'invalid_json' },
  FST_ERR_CTP_BODY_TOO_LARGE: { status: 413, code: 'body_too_large' },
  FST_ERR_CTP_INVALID_MEDIA_TYPE: { status: 415, code: 'unsupported_media_type' },
  FST_ERR_CTP_INVALID_CONTENT_LENGTH: { status: 400, code: 'invalid_content_length' },
  FST_ERR_BAD_URL: { status: 400, code: 'invalid_url' },
  FST_ERR_ASYNC_CONSTRAINT: { status: 400, code: 'invalid_request' },
};

export function toErrorAnswer(error: unknown): { status: number; code: string; message: string } {
  if (error instanceof OncelyError) return { status: error.status, code: error.code, message: error.message };
  const fe = error as FastifyError;
  if (fe.validation) {
    return { status: 400, code: 'invalid_request', message: fe.message };
  }
  if (fe.code && fastifyCodes[fe.code]) {
    const known = fastifyCodes[fe.code]!;
    return { ...known, message: fe.message };
  }
  if (error instanceof SyntaxError && (fe.statusCode === 400 || /JSON/.test(error.message))) {
    return { status: 400, code: 'invalid_json', message: 'the body is not valid JSON' };
  }
  if (typeof fe.statusCode === 'number' && fe.statusCode >= 400 && fe.statusCode < 500) {
    return { status: fe.statusCode, code: 'bad_request', message: fe.message };
  }
  return { status: 500, code: 'internal_error', message: 'internal error' };
}

export function errorHandler(error: unknown, request: FastifyRequest, reply: FastifyReply): void {
  const answer = toErrorAnswer(error);
  if (answer.status >= 500) request.log.error({ err: error }, 'request failed');
  reply.status(answer.status).send({ error: { code: answer.code, message: answer.message } });
}

export function notFoundHandler(request: FastifyRequest, reply: FastifyReply): void {
  reply.status(404).send({
    error: { code: 'route_not_found', message: `no route ${request.method} ${request.url.split('?')[0]}` },
  });
}
