// The framework ceiling for `bench/ingest.ts` and `bench/callbacks.ts`: a bare Fastify server whose routes only
// echo the JSON body, run in its own process. Prints its URL on stdout once listening.
import Fastify from 'fastify';

const app = Fastify({ logger: false });
app.post('/v1/conversations/:id/messages', async (request, reply) => reply.status(201).send(request.body));
// The ceiling of `bench/callbacks.ts`: the callback path, echoing the parsed body with a 200.
app.post('/v1/apps/:appId/callbacks/:sourceId', async (request) => request.body);
await app.listen({ host: '127.0.0.1', port: 0 });
const address = app.server.address();
process.stdout.write(
  `${JSON.stringify({ port: typeof address === 'object' && address ? address.port : 0 })}\n`,
);
process.on('SIGTERM', () => void app.close().then(() => process.exit(0)));
