import type { Config, ProcessName, ServiceName } from '../config/schema.js';
import type { Access } from '../connect/access.js';
import type { RenderContext, RenderedFile } from '../render/context.js';
import type { SecretService } from '../secrets/identities.js';
import { etcdDriver } from './etcd.js';
import { haproxyDriver } from './haproxy.js';
import { monitorDrivers, wantedMonitors } from './monitoring.js';
import { natsDriver } from './nats.js';
import { postgresDriver } from './postgres.js';
import { redisDriver } from './redis.js';
import { sentinelDriver } from './sentinel.js';
import type { CredentialsOwner, ServerDriver, ServerFigures } from './types.js';

/** Start order; shutdown runs in reverse. */
export const drivers: Record<ServiceName, ServerDriver> = {
  postgres: postgresDriver,
  redis: redisDriver,
  nats: natsDriver,
};

/** Data servers, sentinels and monitoring processes alike, by kind. */
export const allDrivers: Record<ProcessName, ServerDriver> = { ...drivers, sentinel: sentinelDriver, etcd: etcdDriver, haproxy: haproxyDriver, ...monitorDrivers };

/** PostgreSQL in ha runs under Patroni (etcd before it) behind HAProxy (after it). */
export function wantsPatroni(config: Config): boolean {
  return config.postgres.enabled && config.topology === 'ha';
}

/** The sentinels run with Redis in the ha topology. */
export function wantsSentinels(config: Config): boolean {
  return config.redis.enabled && sentinelDriver.instances(config).length > 0;
}

/** The servers' drivers in start order: etcd, PostgreSQL and HAProxy (ha), Redis, NATS, sentinels (ha). */
export function serverDrivers(config: Config): ServerDriver[] {
  const on = (s: ServiceName) => config[s].enabled;
  return [
    ...(wantsPatroni(config) ? [etcdDriver] : []),
    ...(on('postgres') ? [postgresDriver] : []),
    ...(wantsPatroni(config) ? [haproxyDriver] : []),
    ...(on('redis') ? [redisDriver] : []),
    ...(on('nats') ? [natsDriver] : []),
    ...(wantsSentinels(config) ? [sentinelDriver] : []),
  ];
}

/**
 * The servers in chains that depend on nothing outside themselves: etcd, then the
 * PostgreSQL members, then HAProxy; the Redis nodes, then their sentinels; NATS. The
 * supervisor starts the chains side by side, each in its order.
 */
export function serverChains(config: Config): ServerDriver[][] {
  const on = (s: ServiceName) => config[s].enabled;
  const chains = [
    [...(wantsPatroni(config) ? [etcdDriver] : []), ...(on('postgres') ? [postgresDriver] : []), ...(wantsPatroni(config) ? [haproxyDriver] : [])],
    [...(on('redis') ? [redisDriver] : []), ...(wantsSentinels(config) ? [sentinelDriver] : [])],
    on('nats') ? [natsDriver] : [],
  ];
  return chains.filter((c) => c.length > 0);
}

/** The drivers of every process this config runs, in start order (monitoring last). */
export function enabledDrivers(config: Config): ServerDriver[] {
  return [...serverDrivers(config), ...wantedMonitors(config).map((m) => monitorDrivers[m])];
}

/** Every enabled process's native configuration files. */
export function renderServers(ctx: RenderContext): RenderedFile[] {
  return enabledDrivers(ctx.config).flatMap((d) => d.render(ctx));
}

/** The driver whose server checks the passwords of `service`, with its process name. */
export function credentialsOwner(service: SecretService): { process: ProcessName; owner: CredentialsOwner } {
  const d = Object.values(allDrivers).find((x) => x.credentials?.service === service)!;
  return { process: d.name, owner: d.credentials! };
}

/** A server's key figures; a failure becomes the reason instead of an exception (status and /readyz show either). */
export async function figuresOf(driver: ServerDriver, access: Access, timeoutMs = 2000, instance?: string): Promise<{ figures?: ServerFigures; error?: string }> {
  if (!driver.figures) return {};
  try {
    return { figures: await driver.figures(access, timeoutMs, instance) };
  } catch (e) {
    return { error: (e as Error).message };
  }
}

/** The driver of a process instance (nats-2 -> nats); undefined for one this version does not know. */
export function driverOf(instance: string): ServerDriver | undefined {
  const byName = allDrivers as Record<string, ServerDriver | undefined>;
  return byName[instance] ?? byName[instance.replace(/-\d+$/, '')];
}
