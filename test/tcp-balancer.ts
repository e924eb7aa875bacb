// A TCP load balancer for tests, in front of several instances: each new connection goes to the first
// backend, in the given order, that accepts it — so when an instance dies its clients' reconnects land on
// the next one, as behind a real balancer with health checks. It counts where connections went.
import { connect, createServer, type Socket } from 'node:net';

export interface TcpBalancer {
  url: string;
  /** Connections made to each backend (by its URL). */
  readonly connections: Map<string, number>;
  close(): Promise<void>;
}

export async function startTcpBalancer(backends: string[]): Promise<TcpBalancer> {
  const open = new Set<Socket>();
  const connections = new Map<string, number>();
  const track = (s: Socket) => {
    open.add(s);
    s.on('close', () => open.delete(s));
    s.on('error', () => undefined);
  };
  const server = createServer((client) => {
    client.pause();
    track(client);
    const tryFrom = (i: number) => {
      if (client.destroyed) return;
      if (i >= backends.length) return void client.destroy();
      const target = new URL(backends[i]!);
      const upstream = connect(Number(target.port), target.hostname);
      let connected = false;
      upstream.once('connect', () => {
        connected = true;
        connections.set(backends[i]!, (connections.get(backends[i]!) ?? 0) + 1);
        track(upstream);
        // Either side gone ends the other: a killed instance's clients see their connection drop.
        upstream.on('close', () => client.destroy());
        client.on('close', () => upstream.destroy());
        client.pipe(upstream).pipe(client);
        client.resume();
      });
      upstream.on('error', () => {
        if (!connected) tryFrom(i + 1);
      });
    };
    tryFrom(0);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  const port = typeof address === 'object' && address ? address.port : 0;
  return {
    url: `http://127.0.0.1:${port}`,
    connections,
    close() {
      for (const s of open) s.destroy();
      return new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
