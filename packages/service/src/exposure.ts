import { BlockList, isIP } from 'node:net';

const loopback = new BlockList();
loopback.addSubnet('127.0.0.0', 8, 'ipv4');
loopback.addAddress('::1', 'ipv6');
loopback.addSubnet('::ffff:127.0.0.0', 104, 'ipv6');

/**
 * True when `host` is a loopback address (127.0.0.0/8, ::1, ::ffff:127.x.x.x) or `localhost`: only
 * this machine can reach a listener there. Anything else — `0.0.0.0`, `::`, an interface address,
 * a host name — counts as reachable from elsewhere.
 */
export function isLoopback(host: string): boolean {
  const h = host.trim().toLowerCase().replace(/^\[(.*)\]$/, '$1');
  if (h === 'localhost' || h.endsWith('.localhost')) return true;
  const family = isIP(h);
  if (family === 4) return loopback.check(h, 'ipv4');
  if (family === 6) return loopback.check(h, 'ipv6');
  return false;
}

/** A listener of the service: which one, and the interface it binds. */
export interface Listener {
  readonly name: 'HTTP' | 'gRPC';
  /** The option that sets its host, e.g. `service.http.host`. */
  readonly option: string;
  readonly host: string;
}

/** What to do about an ingest listener that would take unauthenticated requests from other hosts. */
export const EXPOSURE_HINT =
  'set API keys (service.auth.apiKeys, or TRACKPIPE_API_KEYS on the embedded defaults), or, if that is intended ' +
  '(a private network, authentication in front), service.auth.allowUnauthenticated: true ' +
  '(trackpipe serve --allow-unauthenticated; allowUnauthenticated: true in code)';

/**
 * The listeners that would accept unauthenticated ingest from beyond this machine: those on a
 * non-loopback host while no API key is configured, unless `allowUnauthenticated` says so.
 */
export function unauthenticatedExposure(
  listeners: readonly Listener[],
  auth: { readonly enabled: boolean; readonly allowUnauthenticated: boolean },
): Listener[] {
  if (auth.enabled || auth.allowUnauthenticated) return [];
  return listeners.filter((l) => !isLoopback(l.host));
}

/** One sentence per exposed listener, naming its address and the option that would allow it. */
export function describeExposure(exposed: readonly Listener[]): string {
  const where = exposed.map((l) => `${l.name} ingest on ${l.host} (${l.option})`).join(' and ');
  return `refusing to accept events without authentication on a non-loopback address: ${where}; ${EXPOSURE_HINT}`;
}
