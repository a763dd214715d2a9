/** Which connections must use TLS: the profile decides, per server address. */
import net from 'node:net';
import type { Config, ServiceName } from '../config/schema.js';

export function isLoopback(host: string): boolean {
  if (host === 'localhost') return true;
  if (net.isIPv4(host)) return host.startsWith('127.');
  return host === '::1';
}

/**
 * Plaintext is accepted only without TLS (dev only), or in the dev profile on a
 * loopback address, where nobody but the local machine can reach it.
 */
export function plaintextAllowed(config: Config, service: ServiceName): boolean {
  return !config.tls.enabled || (config.profile === 'dev' && isLoopback(config[service].host));
}

/** pg_hba.conf lines may allow plaintext only for loopback networks in dev. */
export function isLoopbackNetwork(cidr: string): boolean {
  return cidr.startsWith('127.') || cidr === '::1/128';
}

/**
 * HTTP surfaces (the health server, Prometheus, Alertmanager, the exporters) follow the
 * same rule as the servers: plain HTTP without a login only where plaintext is allowed
 * (TLS off, or dev on loopback); otherwise HTTPS with the monitoring login.
 */
export function httpsRequired(config: Config, host: string): boolean {
  return config.tls.enabled && !(config.profile === 'dev' && isLoopback(host));
}
