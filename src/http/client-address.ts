// Who is calling, by address: which proxies' X-Forwarded-For is believed (ONCELY_TRUST_PROXY), once, for the
// routes (Fastify's request.ip) and for what Fastify never sees, the WebSocket upgrade — so both count the
// same address against the rate limits.
import type { IncomingMessage } from 'node:http';
import proxyAddr from '@fastify/proxy-addr';

/** Fastify's `trustProxy` from the setting: a hop count trusts that many proxies nearest the server. */
export function trustProxyOption(trust: boolean | number | string[]) {
  return typeof trust === 'number' ? (_address: string, hop: number) => hop < trust : trust;
}

/** The client address of a raw request, as Fastify's `request.ip` is for the same setting. */
export function clientAddressOf(trust: boolean | number | string[]): (request: IncomingMessage) => string {
  const option = trustProxyOption(trust);
  if (option === false) return (request) => request.socket.remoteAddress ?? '';
  const trusted =
    option === true ? () => true : typeof option === 'function' ? option : proxyAddr.compile(option);
  return (request) => proxyAddr.all(request, trusted).at(-1) ?? '';
}
