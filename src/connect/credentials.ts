/**
 * Connection details per login identity, as URLs and as fields. Passwords appear
 * only when asked for (`reveal`); otherwise they are masked. With TLS on, URLs
 * carry what verifies the server (sslmode=verify-full with the CA, rediss://, tls://).
 */
import type { Config } from '../config/schema.js';
import type { SecretService, Secrets } from '../secrets/store.js';
import { serviceUsers } from '../secrets/identities.js';
import { tlsFiles } from '../tls/certificates.js';
import { httpsRequired } from '../tls/policy.js';
import { redisPort } from './tls.js';
import { natsNodes, redisNodes, sentinelNodes } from '../config/topology.js';

export interface Credential {
  service: SecretService;
  user: string;
  purpose: string;
  host: string;
  port: number;
  /** PostgreSQL only */
  database?: string;
  password: string;
  url: string;
  tls: boolean;
  /** CA certificate that verifies the server, with TLS on */
  caFile?: string;
  /** Redis in the ha topology: the sentinels (host:port) that name the current primary. */
  sentinels?: string[];
  /** Redis in the ha topology: the name the sentinels monitor the primary under. */
  masterName?: string;
  /** PostgreSQL in the ha topology: the replicas' address (read-only); `url` always reaches the primary. */
  replicaUrl?: string;
}

export const MASK = '********';

function hostForUrl(host: string): string {
  return host.includes(':') ? `[${host}]` : host;
}

export function credentialsFor(config: Config, secrets: Secrets, opts: { reveal: boolean }): Credential[] {
  const tls = config.tls.enabled;
  const caFile = tls ? tlsFiles(config).caFile : undefined;
  return serviceUsers(config).flatMap(({ service, user, purpose }) => {
    const secret = secrets[service]?.[user];
    if (secret === undefined) return [];
    const password = opts.reveal ? secret : MASK;
    const host = config[service].host;
    const auth = `${user}:${password}@${hostForUrl(host)}`;
    let port = config[service].port;
    let url: string;
    let database: string | undefined;
    let sentinel: { sentinels: string[]; masterName: string } | undefined;
    let replicaUrl: string | undefined;
    if (service === 'postgres') {
      database = user === config.postgres.superuser ? 'postgres' : config.postgres.database;
      // In ha both ports are HAProxy's: the primary's wherever it moves, and the replicas'.
      const pgUrl = (p: number) => `postgresql://${auth}:${p}/${database}${caFile ? `?sslmode=verify-full&sslrootcert=${encodeURIComponent(caFile)}` : ''}`;
      url = pgUrl(port);
      if (config.topology === 'ha') replicaUrl = pgUrl(config.postgres.ha.replicaPort);
    } else if (service === 'redis' && user === 'replication') {
      // The replicas' own login: it talks to the nodes, not to the sentinels.
      const nodes = redisNodes(config);
      port = tls ? nodes[0]!.tlsPort : nodes[0]!.port;
      url = nodes.map((n) => `${tls ? 'rediss' : 'redis'}://${user}:${password}@${hostForUrl(n.host)}:${tls ? n.tlsPort : n.port}`).join(',');
    } else if (service === 'redis' && config.topology === 'ha') {
      // The primary moves on failover, so the address to keep is the sentinels'. There is
      // no standard URL for that; this is the redis+sentinel form several clients read.
      const nodes = sentinelNodes(config);
      sentinel = { sentinels: nodes.map((n) => `${hostForUrl(n.host)}:${n.port}`), masterName: config.redis.sentinel.masterName };
      port = nodes[0]!.port;
      url = `${tls ? 'rediss' : 'redis'}+sentinel://${user}:${password}@${sentinel.sentinels.join(',')}/${sentinel.masterName}`;
    } else if (service === 'redis') {
      port = redisPort(config).port;
      url = `${tls ? 'rediss' : 'redis'}://${auth}:${port}`;
    } else if (service === 'monitoring') {
      url = `${httpsRequired(config, host) ? 'https' : 'http'}://${auth}:${port}`;
    } else if (user === 'route') {
      // The cluster's own login: the route ports of every node.
      const nodes = natsNodes(config);
      port = nodes[0]!.clusterPort ?? port;
      url = nodes.map((n) => `nats-route://${user}:${password}@${hostForUrl(n.host)}:${n.clusterPort}`).join(',');
    } else {
      // Every node: nats CLI and the client libraries take a comma-separated server list.
      url = natsNodes(config)
        .map((n) => `${tls ? 'tls' : 'nats'}://${user}:${password}@${hostForUrl(n.host)}:${n.port}`)
        .join(',');
    }
    // The monitoring endpoints serve plain HTTP only where plaintext is allowed (dev on loopback).
    const secured = service === 'monitoring' ? httpsRequired(config, host) : tls;
    return [{ service, user, purpose, host, port, ...(database ? { database } : {}), password, url, tls: secured, ...(caFile && secured ? { caFile } : {}), ...sentinel, ...(replicaUrl ? { replicaUrl } : {}) }];
  });
}
