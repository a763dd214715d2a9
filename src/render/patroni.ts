/**
 * patroni.yml for each PostgreSQL member of the ha topology, with the tuned settings
 * it includes (postgresql.base.conf, the single topology's postgresql.conf).
 *
 * Patroni runs PostgreSQL, holds the leader lock in etcd and promotes a replica when
 * the primary's lock expires. Clusters are never created by Patroni itself: dataplane
 * initialises the first member (its own initdb, the superuser's password given as a
 * SCRAM verifier), Patroni takes that data directory over, and every other member is
 * cloned from the primary with `dataplane postgres clone-replica`. Without pg_rewind 16
 * here, a former primary that diverged is cloned again instead of rewound.
 */
import path from 'node:path';
import { stringify } from 'yaml';
import { etcdNodes, onHosts, postgresMembers, type PostgresMember } from '../config/topology.js';
import { PACKAGE_ROOT } from '../lib/package-root.js';
import { REPLICATION_LOGIN } from '../secrets/postgres-roles.js';
import { secretFor } from '../secrets/store.js';
import { HEADER, type RenderContext, type RenderedFile } from './context.js';
import { renderPostgres } from './postgres.js';

/**
 * Settings every member must share, which Patroni passes on PostgreSQL's command line
 * from its cluster-wide configuration (defaults of its own otherwise): the tuned values.
 */
const CLUSTER_WIDE = ['max_connections', 'max_locks_per_transaction', 'max_worker_processes', 'max_prepared_transactions', 'max_wal_senders', 'max_replication_slots', 'track_commit_timestamp', 'wal_keep_size'];

/**
 * The etcd members a member's Patroni talks to. On hosts, not the one on its own host:
 * Patroni reads etcd without quorum (serializable), so a host cut off reads its own
 * member's stale view, in which the old primary still leads; Patroni 3.0.2 (Debian's)
 * then rewrites the leader key unconditionally once the link is back (fixed upstream in
 * 3.0.3, patroni/patroni#2689), taking the lock from the new primary. Read from the
 * other members, the cut-off Patroni reads nothing and learns the truth on return.
 */
export function etcdHostsFor(config: RenderContext['config'], m: PostgresMember): { host: string; port: number }[] {
  const all = etcdNodes(config);
  if (!onHosts(config) || !m.hostName) return all;
  const others = all.filter((e) => e.hostName !== m.hostName);
  return others.length ? others : all;
}

/**
 * The command Patroni runs to create a replica (its arguments are appended by Patroni):
 * this installation's on one machine, the hosts' (deploy.node, deploy.installDir) with an inventory.
 */
export function cloneCommand(config: Pick<RenderContext['config'], 'deploy'>): string {
  const [node, root] = onHosts(config) ? [config.deploy.node, config.deploy.installDir] : [process.execPath, PACKAGE_ROOT];
  return `${node} ${path.join(root, 'dist', 'cli', 'main.js')} postgres clone-replica`;
}

/**
 * How a member's Patroni is started: Debian's Patroni 3.0.2 through
 * deploy/patroni/patroni-leader-cas.py, which backports 3.0.3's fix for a cut-off
 * member overwriting the leader key when it comes back (patroni/patroni#2689).
 */
export function patroniCommand(config: Pick<RenderContext['config'], 'deploy'>, patroniYml: string): { bin: string; args: string[] } {
  const root = onHosts(config) ? config.deploy.installDir : PACKAGE_ROOT;
  return { bin: PATRONI_PYTHON, args: [path.join(root, 'deploy', 'patroni', 'patroni-leader-cas.py'), patroniYml] };
}

/** The interpreter of Debian's /usr/bin/patroni (the patroni package's Python modules live there). */
export const PATRONI_PYTHON = '/usr/bin/python3';

export function renderPatroni(ctx: RenderContext): RenderedFile[] {
  const base = renderPostgres(ctx);
  const conf = base.find((f) => f.name === 'postgresql.conf')!.content;
  const hba = base
    .find((f) => f.name === 'pg_hba.conf')!
    .content.split('\n')
    .filter((l) => l.trim() && !l.startsWith('#'))
    .map((l) => l.replace(/\s+/g, ' '));
  return postgresMembers(ctx.config).flatMap((m) => [
    { service: m.instance, name: 'postgresql.base.conf', content: conf },
    { service: m.instance, name: 'patroni.yml', content: renderMember(ctx, m, hba) },
  ]);
}

function renderMember(ctx: RenderContext, m: PostgresMember, hba: string[]): string {
  const { config, paths, tuning } = ctx;
  const pg = config.postgres;
  const ha = pg.ha;
  const tls = config.tls.enabled;
  const dir = paths.pgMember(m.instance);
  const cert = { certfile: path.join(dir.tls, 'server.crt'), keyfile: path.join(dir.tls, 'server.key') };
  const ca = path.join(dir.tls, 'ca.crt');
  const sslClient = tls ? { sslmode: 'verify-full', sslrootcert: ca } : { sslmode: 'disable' };
  const clusterWide: Record<string, string | number> = { wal_level: 'replica', hot_standby: 'on', max_wal_senders: 2 * ha.members + 4, max_replication_slots: 2 * ha.members + 4, wal_keep_size: '256MB' };
  for (const k of CLUSTER_WIDE) if (tuning.postgres[k]) clusterWide[k] = tuning.postgres[k].value;
  const doc = {
    scope: ha.scope,
    namespace: '/dataplane/',
    name: m.name,
    log: { level: 'INFO', format: '%(asctime)s %(levelname)s: %(message)s' },
    restapi: {
      listen: `${m.host}:${m.restApiPort}`,
      connect_address: `${m.host}:${m.restApiPort}`,
      // Client certificates of the stack's CA: the members, HAProxy's checks and dataplane itself.
      ...(tls ? { ...cert, cafile: ca, verify_client: 'required' } : {}),
    },
    ...(tls ? { ctl: { certfile: cert.certfile, keyfile: cert.keyfile, cacert: ca } } : {}),
    etcd3: {
      hosts: etcdHostsFor(config, m).map((e) => `${e.host}:${e.port}`),
      protocol: tls ? 'https' : 'http',
      ...(tls ? { cacert: ca, cert: cert.certfile, key: cert.keyfile } : {}),
    },
    bootstrap: {
      dcs: {
        ttl: ha.ttlSec,
        loop_wait: ha.loopWaitSec,
        retry_timeout: ha.retryTimeoutSec,
        // A replica further behind than this (bytes) is not promoted (asynchronous mode).
        maximum_lag_on_failover: 1048576,
        synchronous_mode: ha.synchronous,
        synchronous_mode_strict: false,
        postgresql: { use_pg_rewind: false, use_slots: true, parameters: clusterWide },
      },
      // Never a new cluster from Patroni: the first member's data directory is dataplane's.
      method: 'dataplane_refuse',
      dataplane_refuse: { command: '/bin/false' },
    },
    postgresql: {
      listen: `${m.host}:${m.port}`,
      connect_address: `${m.host}:${m.port}`,
      data_dir: dir.data,
      bin_dir: dir.bin,
      custom_conf: dir.baseConf,
      pgpass: dir.pgpass,
      use_unix_socket: false,
      remove_data_directory_on_diverged_timelines: true,
      authentication: {
        superuser: { username: pg.superuser, password: secretFor(ctx.secrets, 'postgres', pg.superuser), ...sslClient },
        replication: { username: REPLICATION_LOGIN, password: secretFor(ctx.secrets, 'postgres', REPLICATION_LOGIN), ...sslClient },
      },
      parameters: {
        ...(tls ? { ssl_cert_file: cert.certfile, ssl_key_file: cert.keyfile } : {}),
      },
      pg_hba: hba,
      create_replica_methods: ['dataplane'],
      dataplane: { command: cloneCommand(config) },
      // A replica that fell behind its slot reads the shared WAL archive.
      recovery_conf: { restore_command: `cp ${paths.pg.walArchive}/%f %p` },
    },
  };
  return `# ${HEADER('the dataplane config')}\n# ${m.instance}: member ${m.name} of ${ha.members}; holds passwords, 0600, read by the service user only\n${stringify(doc)}`;
}
