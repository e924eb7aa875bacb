// The SSRF guard of outbound webhooks: only http(s) URLs, and only public unicast addresses — checked when an
// endpoint is registered and again at every delivery, on the very address the connection then goes to.
import { lookup as dnsLookup, type LookupAddress, type LookupAllOptions } from 'node:dns';
import type { LookupFunction } from 'node:net';
import ipaddr from 'ipaddr.js';
import { OncelyError } from '../errors.js';

export const urlNotAllowed = (message: string) => OncelyError.of('webhook_url_not_allowed', message);

/**
 * Why an address may not be called, or undefined when it may. Everything but public unicast is refused:
 * loopback, private, link-local (cloud metadata), carrier-grade NAT, multicast, reserved, and the IPv6 forms
 * that embed an IPv4 address (mapped, 6to4, NAT64), which could smuggle a private one.
 */
export function addressRefusal(address: string, allowPrivate: boolean): string | undefined {
  if (allowPrivate) return undefined;
  if (!ipaddr.isValid(address)) return `${address} is not an IP address`;
  const range = ipaddr.process(address).range();
  return range === 'unicast' ? undefined : `${address} is a ${range} address`;
}

/** The host of a URL without IPv6 brackets. */
function hostOf(url: URL): string {
  return url.hostname.startsWith('[') ? url.hostname.slice(1, -1) : url.hostname;
}

/** Parses and checks a URL's form; throws 400 `webhook_url_not_allowed`. Names are resolved separately. */
export function checkUrlForm(raw: string, allowPrivate: boolean): URL {
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    throw urlNotAllowed('the url is not a valid absolute URL');
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:')
    throw urlNotAllowed('the url must be http or https');
  // Credentials in a URL end up in logs and answers; a receiver authenticates oncely by the signature.
  if (url.username || url.password) throw urlNotAllowed('the url must not carry a user name or password');
  const host = hostOf(url);
  if (ipaddr.isValid(host)) {
    const refusal = addressRefusal(host, allowPrivate);
    if (refusal) throw urlNotAllowed(`${refusal}; only public addresses may receive webhooks`);
  } else if (!allowPrivate && (host === 'localhost' || host.endsWith('.localhost'))) {
    throw urlNotAllowed(`${host} is a loopback name; only public addresses may receive webhooks`);
  }
  return url;
}

export type ResolveAll = (host: string) => Promise<LookupAddress[]>;

const systemResolveAll: ResolveAll = (host) =>
  new Promise((resolve, reject) =>
    dnsLookup(host, { all: true }, (err, addresses) => (err ? reject(err) : resolve(addresses))),
  );

/**
 * At registration: the form, then the name's addresses as DNS gives them now. A name that does not resolve
 * is accepted (it may exist later); every delivery checks again.
 */
export async function checkUrlAtRegistration(
  raw: string,
  allowPrivate: boolean,
  resolveAll: ResolveAll = systemResolveAll,
): Promise<URL> {
  const url = checkUrlForm(raw, allowPrivate);
  const host = hostOf(url);
  if (allowPrivate || ipaddr.isValid(host)) return url;
  const addresses = await resolveAll(host).catch(() => [] as LookupAddress[]);
  for (const { address } of addresses) {
    const refusal = addressRefusal(address, false);
    if (refusal)
      throw urlNotAllowed(`${host} resolves to ${refusal.replace(`${address} is `, '')} (${address})`);
  }
  return url;
}

/**
 * A `lookup` for `net.connect` that refuses a name resolving to any address not allowed. The socket then
 * connects to the address this function returned, so a DNS answer that changes between the check and the
 * connection (rebinding) cannot lead it elsewhere.
 */
export function guardedLookup(allowPrivate: boolean): LookupFunction {
  return (hostname, options, callback) => {
    dnsLookup(hostname, { ...(options as LookupAllOptions), all: true }, (err, addresses) => {
      if (err) return callback(err, '', 0);
      for (const { address } of addresses) {
        const refusal = addressRefusal(address, allowPrivate);
        if (refusal) {
          const error = Object.assign(
            new Error(
              `webhook_url_not_allowed: ${hostname} resolves to ${refusal.replace(`${address} is `, '')} (${address})`,
            ),
            { code: 'ERR_WEBHOOK_ADDRESS_NOT_ALLOWED' },
          );
          return callback(error, '', 0);
        }
      }
      if ((options as LookupAllOptions).all) {
        (callback as unknown as (e: null, a: LookupAddress[]) => void)(null, addresses);
        return;
      }
      const first = addresses[0];
      if (!first)
        return callback(Object.assign(new Error(`${hostname} has no address`), { code: 'ENOTFOUND' }), '', 0);
      callback(null, first.address, first.family);
    });
  };
}
