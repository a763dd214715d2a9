// Run inside the application's namespace: connects to the cluster on the inventory's
// addresses through the library, as an application configured from the same file does,
// and prints what it saw as JSON. Usage: node deploy-probe.mjs <config file>
import { connectNats, connectRedis, loadConfig, resolveAccess } from '../../dist/index.js';
import { withPg } from '../../dist/connect/postgres.js';
import { jetstreamManager } from '@nats-io/jetstream';

const access = resolveAccess(loadConfig({ file: process.argv[2] }));
const out = {};
const attempt = async (name, fn) => {
  try {
    out[name] = await fn();
  } catch (e) {
    out[name] = { error: e.message };
  }
};
await attempt('postgres', () =>
  withPg(access, { user: access.config.postgres.superuser, database: 'postgres', timeoutMs: 3000 }, async (c) => {
    const r = await c.query("select pg_is_in_recovery() as recovery, host(inet_server_addr()) as addr, (select ssl from pg_stat_ssl where pid = pg_backend_pid()) as ssl, (select count(*)::int from pg_stat_replication where state = 'streaming') as replicas");
    return r.rows[0];
  }),
);
await attempt('redis', async () => {
  const r = connectRedis({ access, user: 'admin', options: { connectTimeout: 3000, maxRetriesPerRequest: 1, sentinelMaxConnections: 3 } });
  try {
    const info = await r.info('replication');
    return { role: /role:(\w+)/.exec(info)?.[1], replicas: Number(/connected_slaves:(\d+)/.exec(info)?.[1] ?? 0) };
  } finally {
    r.disconnect();
  }
});
await attempt('nats', async () => {
  const nc = await connectNats({ access, user: 'admin', options: { timeout: 3000, maxReconnectAttempts: 1 } });
  try {
    const jsm = await jetstreamManager(nc, { timeout: 3000 });
    const name = `PROBE_${process.pid}`;
    const si = await jsm.streams.add({ name, subjects: [`probe.${process.pid}`], num_replicas: 3 });
    await jsm.streams.delete(name);
    return { server: nc.info?.server_name, cluster: nc.info?.cluster, replicas: 1 + (si.cluster?.replicas?.length ?? 0) };
  } finally {
    await nc.close();
  }
});
process.stdout.write(JSON.stringify(out) + '\n');
