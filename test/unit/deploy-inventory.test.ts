/** The inventory: its validation, where it places each node, and each host's firewall. */
import { describe, expect, it } from 'vitest';
import { parseConfig } from '../../src/config/load.js';
import { natsNodes, postgresMembers, redisNodes, sentinelNodes } from '../../src/config/topology.js';
import { renderHostFirewall, hostPorts } from '../../src/deploy/firewall.js';
import { hostPlans } from '../../src/deploy/hosts.js';
import { renderUnits } from '../../src/deploy/units.js';
import { etcdHostsFor } from '../../src/render/patroni.js';
import { ConfigError } from '../../src/errors/index.js';

const host = (name: string, address: string, services?: string[]) => ({ name, address, ...(services ? { services } : {}) });
const inventory = (hosts: object[], extra: object = {}) => ({ topology: 'ha', network: { allowedNetworks: ['10.9.0.0/24'] }, deploy: { hosts }, ...extra });

function issuesOf(input: object): { path: string; message: string }[] {
  try {
    parseConfig(input);
  } catch (e) {
    expect(e).toBeInstanceOf(ConfigError);
    return (e as ConfigError).issues.map((i) => ({ path: i.path, message: i.message }));
  }
  throw new Error('expected a ConfigError');
}

describe('inventory', () => {
  it('lists every problem with its path: too few hosts for a quorum, duplicates, the topology', () => {
    const issues = issuesOf({ ...inventory([host('a', '10.0.0.1'), host('a', '10.0.0.1')]), topology: 'single' });
    expect(issues).toEqual(
      expect.arrayContaining([
        { path: 'topology', message: expect.stringContaining('must be "ha"') },
        { path: 'deploy.hosts.1.name', message: 'a is also the name of deploy.hosts[0]' },
        { path: 'deploy.hosts.1.address', message: '10.0.0.1 is also the address of deploy.hosts[0]' },
        { path: 'deploy.hosts', message: expect.stringMatching(/2 hosts run etcd; it needs at least 3 hosts/) },
        { path: 'deploy.hosts', message: expect.stringMatching(/2 hosts run nats; it needs at least 3 hosts/) },
        { path: 'deploy.hosts', message: expect.stringMatching(/2 hosts run sentinel; it needs at least 3 hosts/) },
      ]),
    );
  });

  it('refuses a service whose server is off', () => {
    const issues = issuesOf(inventory([host('a', '10.0.0.1'), host('b', '10.0.0.2'), host('c', '10.0.0.3')], { nats: { enabled: false } }));
    expect(issues).toContainEqual({ path: 'deploy.hosts.0.services.5', message: 'nats is listed but nats.enabled is false' });
  });

  it('places the k-th node of a kind on the k-th host that runs it, at the base ports', () => {
    const config = parseConfig(inventory([host('a', '10.0.0.1', ['postgres', 'etcd', 'nats', 'redis', 'sentinel', 'haproxy']), host('b', '10.0.0.2'), host('c', '10.0.0.3', ['etcd', 'nats', 'sentinel'])]));
    expect(natsNodes(config).map((n) => [n.instance, n.host, n.port, n.clusterPort])).toEqual([
      ['nats', '10.0.0.1', 4222, 6222],
      ['nats-2', '10.0.0.2', 4222, 6222],
      ['nats-3', '10.0.0.3', 4222, 6222],
    ]);
    expect(postgresMembers(config).map((m) => [m.instance, m.host, m.port, m.restApiPort])).toEqual([
      ['postgres', '10.0.0.1', 5440, 8008],
      ['postgres-2', '10.0.0.2', 5440, 8008],
    ]);
    expect(redisNodes(config).map((r) => r.host)).toEqual(['10.0.0.1', '10.0.0.2']);
    expect(sentinelNodes(config).map((s) => `${s.host}:${s.port}`)).toEqual(['10.0.0.1:26379', '10.0.0.2:26379', '10.0.0.3:26379']);
    expect(hostPlans(config).map((h) => h.processes.map((p) => p.instance))).toEqual([
      ['etcd-1', 'postgres', 'haproxy', 'redis', 'nats', 'sentinel-1'],
      ['etcd-2', 'postgres-2', 'haproxy', 'redis-2', 'nats-2', 'sentinel-2'],
      ['etcd-3', 'nats-3', 'sentinel-3'],
    ]);
  });

  it('opens cluster ports to the other hosts only, client ports to the application networks too', () => {
    const config = parseConfig(inventory([host('a', '10.0.0.1'), host('b', '10.0.0.2'), host('c', '10.0.0.3')], { profile: 'prod', deploy: { hosts: [host('a', '10.0.0.1'), host('b', '10.0.0.2'), host('c', '10.0.0.3')], monitoringNetworks: ['10.8.0.5/32'] } }));
    const [a] = hostPlans(config);
    const ports = hostPorts(a!);
    expect(ports.filter((p) => p.from === 'peers').map((p) => p.port).sort()).toEqual([2379, 2480, 5440, 6222, 8008]);
    expect(ports.filter((p) => p.from === 'clients').map((p) => p.port).sort()).toEqual([26379, 4222, 5432, 5433, 6380]);
    const nft = renderHostFirewall(a!);
    expect(nft).toContain('set clients_v4 { type ipv4_addr; flags interval; elements = { 10.9.0.0/24, 10.0.0.1/32, 10.0.0.2/32, 10.0.0.3/32 }; }');
    expect(nft).toContain('set peers_v4 { type ipv4_addr; flags interval; elements = { 10.0.0.1/32, 10.0.0.2/32, 10.0.0.3/32 }; }');
    expect(nft).toContain('set monitoring_v4 { type ipv4_addr; flags interval; elements = { 10.8.0.5/32, 10.0.0.1/32, 10.0.0.2/32, 10.0.0.3/32 }; }');
    expect(nft).toMatch(/tcp dport \{ 5440, 8008, 2379, 2480, 6222 \} ip saddr @peers_v4 accept/);
  });

  it('points each Patroni at the etcd members of the other hosts (a host cut off must not read a stale view); reloads only where the server has one', () => {
    const config = parseConfig(inventory([host('a', '10.0.0.1'), host('b', '10.0.0.2'), host('c', '10.0.0.3')]));
    const [, b] = postgresMembers(config);
    expect(etcdHostsFor(config, b!).map((e) => e.host)).toEqual(['10.0.0.1', '10.0.0.3']);
    // On one machine every member uses them all.
    const single = parseConfig({ topology: 'ha' });
    expect(etcdHostsFor(single, postgresMembers(single)[1]!)).toHaveLength(3);
    const units = renderUnits(hostPlans(config)[0]!);
    const reload = (name: string) => /ExecReload=(.*)/.exec(units.find((u) => u.name === name)!.content)?.[1];
    expect([reload('dataplane-postgres.service'), reload('dataplane-nats.service'), reload('dataplane-haproxy.service')]).toEqual(['/bin/kill -HUP $MAINPID', '/bin/kill -HUP $MAINPID', '/bin/kill -USR2 $MAINPID']);
    // etcd would exit on HUP, Redis and Sentinel ignore it: no reload that lies.
    expect([reload('dataplane-etcd-1.service'), reload('dataplane-redis.service'), reload('dataplane-sentinel-1.service')]).toEqual([undefined, undefined, undefined]);
  });
});
