/**
 * The inventory's own rules (deploy.hosts), checked with the rest of the schema so that
 * every problem is listed with its path before anything is rendered: each clustered
 * service needs enough hosts to survive the loss of one, and names and addresses are unique.
 */
import { HOST_SERVICES, type HostService } from './sections.js';
import { hostsRunning } from './topology.js';

type Report = (path: (string | number)[], message: string, input: unknown) => void;

interface Checked {
  topology: 'single' | 'ha';
  deploy: { hosts: { name: string; address: string; services: HostService[] }[] };
  postgres: { enabled: boolean };
  redis: { enabled: boolean; sentinel: { quorum: number } };
  nats: { enabled: boolean; cluster: { replicas: number } };
}

/** The fewest hosts each service needs, and why. */
const NEEDS: Record<HostService, { server: 'postgres' | 'redis' | 'nats'; min: number; odd: boolean; why: string }> = {
  postgres: { server: 'postgres', min: 2, odd: false, why: 'a primary and at least one replica' },
  etcd: { server: 'postgres', min: 3, odd: true, why: 'etcd keeps the leader lock while a majority runs' },
  haproxy: { server: 'postgres', min: 1, odd: false, why: 'the PostgreSQL addresses clients connect to' },
  redis: { server: 'redis', min: 2, odd: false, why: 'a primary and at least one replica' },
  sentinel: { server: 'redis', min: 3, odd: false, why: 'sentinels must agree by majority to fail over' },
  nats: { server: 'nats', min: 3, odd: true, why: 'JetStream needs a majority of nodes' },
};

export function checkInventory(c: Checked, report: Report): void {
  const hosts = c.deploy.hosts;
  if (!hosts.length) return;
  if (c.topology !== 'ha') report(['topology'], 'must be "ha" when deploy.hosts lists hosts: several hosts run the clustered servers', c.topology);
  const names = new Map<string, number>();
  const addresses = new Map<string, number>();
  hosts.forEach((h, i) => {
    const sameName = names.get(h.name);
    if (sameName !== undefined) report(['deploy', 'hosts', i, 'name'], `${h.name} is also the name of deploy.hosts[${sameName}]`, h.name);
    else names.set(h.name, i);
    const sameAddress = addresses.get(h.address);
    if (sameAddress !== undefined) report(['deploy', 'hosts', i, 'address'], `${h.address} is also the address of deploy.hosts[${sameAddress}]`, h.address);
    else addresses.set(h.address, i);
    h.services.forEach((s, k) => {
      if (!c[NEEDS[s].server].enabled) report(['deploy', 'hosts', i, 'services', k], `${s} is listed but ${NEEDS[s].server}.enabled is false`, s);
    });
  });
  for (const s of HOST_SERVICES) {
    const need = NEEDS[s];
    if (!c[need.server].enabled) continue;
    const n = hostsRunning(c, s).length;
    const problem = n < need.min ? `at least ${need.min}` : need.odd && n % 2 === 0 ? 'an odd number of' : undefined;
    if (problem) report(['deploy', 'hosts'], `${n} host${n === 1 ? '' : 's'} run ${s}; it needs ${problem} hosts (${need.why})`, n);
  }
  const sentinels = hostsRunning(c, 'sentinel').length;
  if (c.redis.enabled && sentinels && c.redis.sentinel.quorum > sentinels) {
    report(['redis', 'sentinel', 'quorum'], `must not exceed the ${sentinels} hosts that run sentinel`, c.redis.sentinel.quorum);
  }
  const nats = hostsRunning(c, 'nats').length;
  if (c.nats.enabled && nats && c.nats.cluster.replicas > nats) {
    report(['nats', 'cluster', 'replicas'], `must not exceed the ${nats} hosts that run nats`, c.nats.cluster.replicas);
  }
}
