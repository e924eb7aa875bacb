// The framework ceilings for `bench/ingest.ts` and `bench/callbacks.ts`, run in their own process. Without an
// argument: a bare Fastify server whose routes only echo the JSON body. With `bare`: the send route as oncely
// declares it (the same params, headers, body and response schemas, validated and serialised by Fastify),
// answering 201 with a small JSON object — everything but auth and storage. Prints its port once listening.
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import { Type } from '@sinclair/typebox';
import Fastify from 'fastify';
import { ClientMsgId, Id, MessageBody, SendResult } from '../src/http/schemas.js';

const app = Fastify({ logger: false }).withTypeProvider<TypeBoxTypeProvider>();
if (process.argv[2] === 'bare') {
  let seq = 0;
  app.post(
    '/v1/conversations/:id/messages',
    {
      schema: {
        params: Type.Object({ id: Id }),
        headers: Type.Object({ 'idempotency-key': Type.Optional(Type.String()) }),
        body: Type.Object(
          { from: Type.Optional(Id), body: MessageBody, clientMsgId: Type.Optional(ClientMsgId) },
          { additionalProperties: false },
        ),
        response: { 201: SendResult },
      },
    },
    async (request, reply) =>
      reply.status(201).send({
        id: '0190f7a2-5c4e-7d3a-9b1c-2f3e4d5c6b7a',
        conversationId: request.params.id,
        seq: ++seq,
        createdAt: new Date().toISOString(),
      }),
  );
} else {
  app.post('/v1/conversations/:id/messages', async (request, reply) => reply.status(201).send(request.body));
  // The ceiling of `bench/callbacks.ts`: the callback path, echoing the parsed body with a 200.
  app.post('/v1/apps/:appId/callbacks/:sourceId', async (request) => request.body);
}
await app.listen({ host: '127.0.0.1', port: 0 });
const address = app.server.address();
process.stdout.write(
  `${JSON.stringify({ port: typeof address === 'object' && address ? address.port : 0 })}\n`,
);
process.on('SIGTERM', () => void app.close().then(() => process.exit(0)));
