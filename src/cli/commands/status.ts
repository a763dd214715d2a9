/** `dataplane status`: per-service health from a real authenticated probe. */
import type { Command } from 'commander';
import type { HaproxyFigures, NatsFigures, PostgresFigures, RedisFigures, SentinelFigures } from '../../servers/types.js';
import type { ServiceStatus } from '../../stack/status.js';
import { loadFor } from '../context.js';
import { printJson, status, table } from '../output.js';

const mb = (n: number) => `${(n / 1048576).toFixed(n < 10 * 1048576 ? 1 : 0)} MB`;
const pct = (used: number, max: number) => (max > 0 ? ` (${Math.round((100 * used) / max)}%)` : '');

/** One line of key figures per running server: what an operator checks first. */
export function figureLine(s: ServiceStatus): string | undefined {
  if (!s.figures) return s.figuresError ? `figures unavailable: ${s.figuresError}` : undefined;
  if (s.service === 'postgres') {
    const f = s.figures as PostgresFigures;
    const lag = f.replicationLagSeconds === null ? 'no replicas' : `${f.replicas} replica(s), lag ${f.replicationLagSeconds.toFixed(1)} s`;
    const m = f.member;
    const role = m ? `${m.name} ${m.role}${m.state === 'running' || m.state === 'streaming' ? '' : ` (${m.state})`} · timeline ${m.timeline ?? '?'}${m.role === 'primary' ? '' : ` · ${m.lagBytes === null ? 'lag unknown' : `${m.lagBytes} bytes behind`}`} · ` : '';
    return `${role}connections ${f.connections.used}/${f.connections.max}${pct(f.connections.used, f.connections.max)} · database ${mb(f.databaseBytes)} · ${lag}`;
  }
  if (s.service === 'haproxy') {
    const f = s.figures as HaproxyFigures;
    return `primary address → ${f.primary ?? 'NO PRIMARY'} · replica address → ${f.replicas.join(', ') || 'none'}`;
  }
  if (s.service === 'sentinel') {
    const f = s.figures as SentinelFigures;
    const primary = `primary ${f.primary}${f.primary === f.address ? '' : ` (${f.address})`}${f.primaryDown ? ' DOWN' : ''}`;
    return `${primary} · ${f.replicas} replicas · ${f.sentinels} sentinels, quorum ${f.quorum}${f.canFailover ? '' : ' · too few sentinels reachable to fail over'}`;
  }
  if (s.service === 'redis') {
    const f = s.figures as RedisFigures;
    const r = f.replication;
    // Redis says master/slave; the docs and the rest of dataplane say primary/replica.
    const role = !r ? f.role : 'replicas' in r ? `primary · ${r.replicas} replicas · offset ${r.offset}` : `replica of ${r.primary} · link ${r.linkUp ? 'up' : 'DOWN'} · offset ${r.offset}`;
    return `${role} · memory ${mb(f.memory.used)}/${f.memory.max ? mb(f.memory.max) : 'unlimited'}${pct(f.memory.used, f.memory.max)} · clients ${f.clients.connected}/${f.clients.max} · evicted ${f.evictedKeys}`;
  }
  const f = s.figures as NatsFigures;
  const lag = f.consumerLag.length ? f.consumerLag.map((c) => `${c.stream}/${c.consumer} ${c.pending}+${c.ackPending}`).join(', ') : 'none';
  const role = f.cluster ? `${f.cluster.serverName}${f.cluster.metaLeader ? ' (meta leader)' : ''} · leads ${f.cluster.leads.join(', ') || 'no stream'} · ` : '';
  return `${role}connections ${f.connections.used}/${f.connections.max} · JetStream file ${mb(f.jetstream.storageUsed)}/${mb(f.jetstream.storageLimit)}${pct(f.jetstream.storageUsed, f.jetstream.storageLimit)} · memory ${mb(f.jetstream.memoryUsed)}/${mb(f.jetstream.memoryLimit)} · consumer lag ${lag}`;
}

/** Exit code when the stack is not fully up, so scripts can `dataplane status || ...`. */
export const NOT_HEALTHY_EXIT = 3;

export function register(program: Command): void {
  program
    .command('status')
    .description('show each server: status, version, address, pid, probe latency, and its key figures (connections, memory, storage, lag)')
    .option('--json', 'print machine-readable JSON')
    .addHelpText('after', `\nExit code 0 when the supervisor and every enabled server are up, ${NOT_HEALTHY_EXIT} otherwise.`)
    .action(async (opts: { json?: boolean }, cmd: Command) => {
      const { config, environment } = loadFor(cmd);
      const { stackStatus } = await import('../../stack/status.js');
      const st = await stackStatus(config, environment);
      if (opts.json) printJson(st);
      else {
        const rows = st.services.map((s) => [
          s.name,
          status(s.status),
          s.version ?? undefined,
          s.address,
          s.pid ?? undefined,
          s.latencyMs === null ? undefined : `${s.latencyMs} ms`,
          s.reason ?? (s.restarts ? `${s.restarts} restart(s)` : undefined),
        ]);
        const lines = [table(['SERVICE', 'STATUS', 'VERSION', 'ADDRESS', 'PID', 'PROBE', 'DETAIL'], rows), ''];
        const figures = st.services.map((s) => [s.name, figureLine(s)] as const).filter((x) => x[1]);
        if (figures.length) lines.push(...figures.map(([n, f]) => `${n.padEnd(12)} ${f}`), '');
        lines.push(`supervisor   ${st.supervisor ? `pid ${st.supervisor.pid}, up since ${st.supervisor.startedAt ?? '?'}` : 'not running'}`);
        if (st.health) lines.push(`health       ${st.health.url}/readyz  ${st.health.url}/metrics`);
        if (st.monitoring) lines.push(`prometheus   ${st.monitoring.prometheus}  (alertmanager ${st.monitoring.alertmanager}; login: dataplane credentials monitoring)`);
        if (st.timescaledb) {
          lines.push(`timescaledb  ${st.timescaledb.enabled ? 'enabled' : st.timescaledb.installed ? 'installed, turned off' : 'not installed (time series use native partitioning)'}`);
        }
        lines.push(`state        ${st.stateDir}`);
        if (st.timeseries?.length) {
          lines.push(
            '',
            table(
              ['TIME SERIES', 'ENGINE', 'CHUNK', 'RETENTION', 'COMPRESS AFTER', 'ROLLUPS'],
              st.timeseries.map((t) => [
                t.table,
                t.engine,
                t.chunkInterval,
                t.retention ?? undefined,
                t.engine === 'timescaledb' ? (t.compressAfter ?? undefined) : t.compressAfter ? 'n/a (native)' : undefined,
                t.rollups.map((r) => `${r.name} (${r.bucket})`).join(', ') || undefined,
              ]),
            ),
          );
        }
        process.stdout.write(lines.join('\n') + '\n');
      }
      if (!st.healthy) process.exitCode = NOT_HEALTHY_EXIT;
    });
}
