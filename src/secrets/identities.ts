/**
 * The login identities each server gets, and what each is for.
 */
import type { Config, ServiceName } from '../config/schema.js';
import { loginRoles } from './postgres-roles.js';

/** The servers, plus the monitoring web endpoints (Prometheus, Alertmanager, exporters). */
export type SecretService = ServiceName | 'monitoring';

export interface ServiceUser {
  service: SecretService;
  user: string;
  purpose: string;
}

export function serviceUsers(config: Config): ServiceUser[] {
  const users: ServiceUser[] = [];
  if (config.postgres.enabled) {
    users.push(
      { service: 'postgres', user: config.postgres.superuser, purpose: 'superuser: maintenance by dataplane only' },
      ...loginRoles(config).map((r) => ({ service: 'postgres' as const, user: r.name, purpose: r.purpose })),
    );
  }
  if (config.redis.enabled) {
    users.push(
      { service: 'redis', user: 'admin', purpose: 'administration (SHUTDOWN, CONFIG, ACL)' },
      { service: 'redis', user: 'monitor', purpose: 'monitoring (INFO, SLOWLOG), no keys' },
      ...Object.entries(config.redis.users).map(([user, u]) => ({
        service: 'redis' as const,
        user,
        purpose: `application: keys ${u.keys.join(' ')}, no dangerous commands`,
      })),
      ...(config.topology === 'ha'
        ? [
            { service: 'redis' as const, user: 'replication', purpose: 'replicas syncing from the primary (PSYNC, REPLCONF), no keys' },
            { service: 'redis' as const, user: 'sentinel', purpose: 'the sentinels: watching every node, failover (REPLICAOF, CONFIG REWRITE), no keys' },
          ]
        : []),
    );
  }
  if (config.nats.enabled) {
    users.push(
      { service: 'nats', user: 'admin', purpose: 'account APP: streams and consumers (JetStream API)' },
      ...Object.entries(config.nats.users).map(([user, u]) => ({
        service: 'nats' as const,
        user,
        purpose: `account APP: publish ${u.publish.join(' ') || '-'}; subscribe ${u.subscribe.join(' ') || '-'}${u.streams.length ? `; streams ${u.streams.join(' ')}` : ''}`,
      })),
      { service: 'nats', user: 'system', purpose: 'system account SYS (monitoring, server events)' },
      ...(config.topology === 'ha' ? [{ service: 'nats' as const, user: 'route', purpose: 'cluster routes between the NATS nodes (with mutual TLS)' }] : []),
    );
  }
  // The health server needs the login too where it serves HTTPS (secrets know nothing of TLS policy: always with it).
  if (config.monitoring.enabled || config.health.enabled) {
    users.push({ service: 'monitoring', user: 'admin', purpose: 'the health server, Prometheus, Alertmanager and exporter web endpoints (basic auth)' });
  }
  return users;
}
