/**
 * PostgreSQL figures of the ha topology, which the exporter (watching one member)
 * cannot give: whether Patroni has a running primary, each member's role and lag,
 * and how many etcd members are healthy, for the no-primary, replica and quorum alerts.
 */
import { Gauge, type Registry } from 'prom-client';
import type { Config } from '../config/schema.js';
import { etcdNodes } from '../config/topology.js';
import type { Access } from '../connect/access.js';
import { restRequest } from '../connect/rest.js';
import { anyPatroniCluster } from '../servers/patroni.js';

interface Sources {
  config: Config;
  access: () => Access;
  timeoutMs: number;
  memo: <T>(ttlMs: number, load: () => Promise<T>) => () => Promise<T | undefined>;
}

const ROLE = (r: string) => (r === 'leader' || r === 'master' ? 'primary' : r === 'sync_standby' ? 'sync standby' : 'replica');

export function registerPostgresHaMetrics(registry: Registry, src: Sources): void {
  const { config } = src;
  const cluster = src.memo(1000, async () => (await anyPatroniCluster(config, src.timeoutMs)).members);
  const etcd = src.memo(1000, async () => {
    const answers = await Promise.all(
      etcdNodes(config).map((n) =>
        restRequest<{ health?: string }>(config, n, '/health', { timeoutMs: src.timeoutMs }).then(
          (r) => r.status === 200 && r.body?.health === 'true',
          () => false,
        ),
      ),
    );
    return answers.filter(Boolean).length;
  });
  const g = (name: string, help: string, labelNames: string[], collect: (this: Gauge) => Promise<void> | void) => new Gauge({ name, help, labelNames, registers: [registry], collect });

  g('dataplane_postgres_primary_up', 'ha: 1 when Patroni reports a running primary (what postgres.port reaches)', [], async function () {
    const members = await cluster();
    this.set(members?.some((m) => ROLE(m.role) === 'primary' && m.state === 'running') ? 1 : 0);
  });
  g('dataplane_postgres_members', 'ha: members Patroni reports, by role and state (running, streaming, starting, stopped ...)', ['role', 'state'], async function () {
    this.reset();
    for (const m of (await cluster()) ?? []) this.inc({ role: ROLE(m.role), state: m.state });
  });
  g('dataplane_postgres_members_configured', 'ha: PostgreSQL members the configuration runs (postgres.ha.members)', [], function () {
    this.set(config.postgres.ha.members);
  });
  g('dataplane_postgres_member_lag_bytes', 'ha: bytes of WAL a replica has yet to replay, per member', ['member'], async function () {
    this.reset();
    for (const m of (await cluster()) ?? []) if (typeof m.lag === 'number') this.set({ member: m.name }, m.lag);
  });
  g('dataplane_etcd_members_healthy', 'ha: etcd members that answer healthy (a majority must, or no failover happens and the primary steps down)', [], async function () {
    this.set((await etcd()) ?? 0);
  });
  g('dataplane_etcd_members', 'ha: etcd members the configuration runs (postgres.ha.etcd.nodes)', [], function () {
    this.set(config.postgres.ha.etcd.nodes);
  });
}
