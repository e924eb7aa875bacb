// The Socket.IO baseline of `bench/fanout.ts`, in its own process: each socket joins the room named in its
// handshake; a `send` is broadcast to the room as `m`. No storage, no ordering, no auth: a plain fan-out.
import { createServer } from 'node:http';
import { createInterface } from 'node:readline';
import { Server } from 'socket.io';

const http = createServer();
const io = new Server(http, { transports: ['websocket'], perMessageDeflate: false, serveClient: false });
io.on('connection', (socket) => {
  const room = String(socket.handshake.query.room ?? '');
  void socket.join(room);
  socket.on('send', (data: { room: string; t: number }) => io.to(data.room).emit('m', data));
});
http.listen(0, '127.0.0.1', () => {
  const address = http.address();
  process.stdout.write(
    `${JSON.stringify({ port: typeof address === 'object' && address ? address.port : 0 })}\n`,
  );
});
// `mem` on stdin: collect garbage, print heap and RSS (memory per connection).
createInterface({ input: process.stdin }).on('line', (line) => {
  if (line !== 'mem') return;
  (globalThis as { gc?: () => void }).gc?.();
  const m = process.memoryUsage();
  process.stdout.write(`${JSON.stringify({ heap: m.heapUsed + m.external + m.arrayBuffers, rss: m.rss })}\n`);
});
process.on('SIGTERM', () => {
  void io.close();
  process.exit(0);
});
