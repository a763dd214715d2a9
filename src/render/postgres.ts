/**
 * postgresql.conf and pg_hba.conf. Authentication is scram-sha-256 only, from the
 * configured networks only, over TLS; plaintext only from loopback in the dev
 * profile. There is no Unix socket, so no peer/trust path exists.
 */
import path from 'node:path';
import { isLoopbackNetwork } from '../tls/policy.js';
import { HEADER, type RenderContext, type RenderedFile } from './context.js';

function pgValue(v: string | number): string {
  return typeof v === 'number' ? String(v) : `'${v.replace(/'/g, "''")}'`;
}

export function renderPostgres(ctx: RenderContext): RenderedFile[] {
  const { config, tuning, paths } = ctx;
  const pg = config.postgres;
  const tls = config.tls.enabled;
  const fixed: Record<string, string | number> = {
    listen_addresses: pg.host === 'localhost' ? 'localhost' : pg.host,
    port: pg.port,
    unix_socket_directories: '',
    password_encryption: 'scram-sha-256',
    ssl: tls ? 'on' : 'off',
    ...(tls
      ? {
          ssl_cert_file: path.join(paths.pg.tls, 'server.crt'),
          ssl_key_file: path.join(paths.pg.tls, 'server.key'),
          ssl_min_protocol_version: 'TLSv1.2',
        }
      : {}),
    log_destination: 'stderr',
    logging_collector: 'off',
    log_line_prefix: '%m [%p] %q%u@%d ',
    log_timezone: 'UTC',
    timezone: 'UTC',
    datestyle: 'iso, mdy',
    lc_messages: 'C',
    // Durability: an acknowledged commit is on disk.
    fsync: 'on',
    synchronous_commit: 'on',
    full_page_writes: 'on',
    wal_level: 'replica',
    dynamic_shared_memory_type: 'posix',
    // Continuous archiving for point-in-time recovery: basic_archive ships with the
    // server and copies each finished segment into the archive folder (fsynced).
    archive_mode: 'on',
    archive_library: 'basic_archive',
    'basic_archive.archive_directory': paths.pg.walArchive,
    archive_timeout: config.backup.archiveTimeoutSec,
  };
  const lines = [`# ${HEADER('the dataplane config')}`, '', '# connection, security and durability'];
  for (const [k, v] of Object.entries(fixed)) {
    if (!(k in tuning.postgres)) lines.push(`${k} = ${pgValue(v)}`);
  }
  lines.push('', '# tuned for this machine (value  # reason); postgres.settings overrides');
  for (const [k, t] of Object.entries(tuning.postgres)) lines.push(`${k} = ${pgValue(t.value)}\t# ${t.why}`);

  const hba = [
    `# ${HEADER('the dataplane config')}`,
    `# profile ${config.profile}: ${tls ? 'TLS (hostssl) from every allowed network' : 'no TLS'}${tls && config.profile === 'dev' ? '; plaintext from loopback too' : ''}.`,
    '# No "local" lines: the server has no Unix socket. Anything not listed is rejected.',
    '# TYPE     DATABASE     USER  ADDRESS  METHOD',
  ];
  // With an inventory the members replicate from each other and HAProxy connects from its
  // host: every host's address is a source (the firewall still decides who reaches which port).
  const hosts = config.deploy.hosts.map((h) => `${h.address}/${h.address.includes(':') ? 128 : 32}`);
  for (const net of [...config.network.allowedNetworks, ...hosts.filter((h) => !config.network.allowedNetworks.includes(h))]) {
    const type = !tls ? 'host' : 'hostssl';
    hba.push(`${type.padEnd(9)} all          all   ${net}   scram-sha-256`, `${type.padEnd(9)} replication  all   ${net}   scram-sha-256`);
  }
  if (tls && config.profile === 'dev') {
    for (const net of config.network.allowedNetworks.filter(isLoopbackNetwork)) {
      hba.push(`hostnossl all          all   ${net}   scram-sha-256`);
    }
  }
  return [
    { service: 'postgres', name: 'postgresql.conf', content: lines.join('\n') + '\n' },
    { service: 'postgres', name: 'pg_hba.conf', content: hba.join('\n') + '\n' },
  ];
}
