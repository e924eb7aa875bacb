// The idempotency history query: what a key did the first time, while it is retained.
import { Type } from '@sinclair/typebox';
import { OncelyError } from '../../errors.js';
import { findKey } from '../../idempotency/keys.js';
import { parseScope } from '../../idempotency/scope.js';
import type { Services } from '../../services.js';
import type { TypedApp } from '../server.js';
import { asApp, bearer, errors } from '../schemas.js';

export function registerIdempotencyRoutes(app: TypedApp, s: Services): void {
  app.get(
    '/v1/idempotency-keys/:key',
    {
      schema: {
        summary: 'The stored record of an idempotency key (404 once expired)',
        security: bearer,
        params: Type.Object({ key: Type.String({ minLength: 1, maxLength: 255 }) }),
        querystring: Type.Object(
          { scope: Type.Optional(Type.String({ maxLength: 300 })) },
          { additionalProperties: false },
        ),
        response: {
          200: Type.Object({
            key: Type.String(),
            scope: Type.String(),
            state: Type.String(),
            firstSeenAt: Type.String(),
            expiresAt: Type.String(),
            fingerprint: Type.String(),
            result: Type.Unknown(),
          }),
          ...errors(asApp, 'invalid_request', 'invalid_scope', 'idempotency_key_not_found'),
        },
      },
    },
    async (request) => {
      const { appId } = await s.auth.app(request);
      const scope = parseScope(request.query.scope);
      const record = await findKey(s.store.db, { appId, scope, key: request.params.key }, s.clock.now());
      if (!record)
        throw OncelyError.of('idempotency_key_not_found', 'no live record of this key in this scope');
      return {
        key: record.key,
        scope: record.scope,
        // The record is written in the transaction of its effect, so a visible record is always complete.
        state: 'completed',
        firstSeenAt: new Date(Number(record.created_at)).toISOString(),
        expiresAt: new Date(Number(record.expires_at)).toISOString(),
        fingerprint: record.fingerprint,
        result: JSON.parse(record.result) as unknown,
      };
    },
  );
}
