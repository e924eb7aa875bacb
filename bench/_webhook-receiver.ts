// The receiver of `bench/webhooks.ts`, in its own process: answers every POST 204 at once and counts requests
// and distinct (path, webhook-id) pairs. Prints its port; the stdin command `count` prints {requests, unique}.
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { createInterface } from 'node:readline';

let requests = 0;
const ids = new Set<string>();
const server = createServer((req, res) => {
  req.resume();
  req.on('end', () => {
    requests++;
    const id = req.headers['webhook-id'];
    if (typeof id === 'string') ids.add(`${req.url} ${id}`);
    res.writeHead(204).end();
  });
});
server.keepAliveTimeout = 60_000;
server.listen(0, '127.0.0.1', () => {
  process.stdout.write(`${JSON.stringify({ port: (server.address() as AddressInfo).port })}\n`);
});
createInterface({ input: process.stdin }).on('line', (line) => {
  if (line === 'count') process.stdout.write(`${JSON.stringify({ requests, unique: ids.size })}\n`);
});
process.on('SIGTERM', () => process.exit(0));
