/**
 * Connection details per login identity, as URLs and as fields. Passwords appear
 * only when asked for (`reveal`); otherwise they are masked.
 */
import type { Config, ServiceName } from '../config/schema.js';
import type { Secrets } from '../secrets/store.js';
import { serviceUsers } from '../secrets/users.js';

export interface Credential {
  service: ServiceName;
  user: string;
  purpose: string;
  host: string;
  port: number;
  /** PostgreSQL only */
  database?: string;
  password: string;
  url: string;
}

export const MASK = '********';

const SCHEMES: Record<ServiceName, string> = { postgres: 'postgresql', redis: 'redis', nats: 'nats' };

function hostForUrl(host: string): string {
  return host.includes(':') ? `[${host}]` : host;
}

export function credentialsFor(config: Config, secrets: Secrets, opts: { reveal: boolean }): Credential[] {
  return serviceUsers(config).flatMap(({ service, user, purpose }) => {
    const secret = secrets[service]?.[user];
    if (secret === undefined) return [];
    const password = opts.reveal ? secret : MASK;
    const { host, port } = config[service];
    const database = service === 'postgres' ? (user === config.postgres.superuser ? 'postgres' : config.postgres.database) : undefined;
    const url = `${SCHEMES[service]}://${user}:${password}@${hostForUrl(host)}:${port}${database ? `/${database}` : ''}`;
    return [{ service, user, purpose, host, port, ...(database ? { database } : {}), password, url }];
  });
}
