/**
 * pgbackrest.conf for production hosts that have pgBackRest 2.47 or later (the first
 * release supporting PostgreSQL 16). Not used by the local stack: Debian's 2.45
 * refuses PostgreSQL 16, so the stack archives with basic_archive and takes base
 * backups itself. `dataplane config render` writes this file for hosts that can do
 * better (parallel, incremental and remote backups); docs/backup-restore.md says when.
 */
import type { Config } from '../config/schema.js';
import type { Tuning } from '../config/tuning.js';
import type { StatePaths } from '../config/paths.js';
import { HEADER } from './context.js';

export const PGBACKREST_STANZA = 'dataplane';

export function renderPgbackrest(config: Config, paths: StatePaths, tuning: Tuning): { name: string; content: string } {
  const cpus = Math.max(1, tuning.resources.cpus);
  const lines = [
    `# ${HEADER('the dataplane config')}`,
    '# For pgBackRest 2.47 or later. To switch this host from dataplane\'s own backups:',
    '#   1. pgBackRest connects through a Unix socket: set postgres.settings.unix_socket_directories',
    "#      to '/var/run/postgresql' and allow `local` connections for the backup user in pg_hba.conf;",
    "#   2. set postgres.settings.archive_library to '' and postgres.settings.archive_command to",
    `#      'pgbackrest --stanza=${PGBACKREST_STANZA} archive-push %p', restart, then run`,
    `#      pgbackrest --stanza=${PGBACKREST_STANZA} stanza-create && pgbackrest --stanza=${PGBACKREST_STANZA} check;`,
    '#   3. schedule `pgbackrest --stanza=dataplane backup --type=full` (and diff/incr) from cron or a timer.',
    '',
    '[global]',
    'repo1-path=/var/lib/pgbackrest',
    `repo1-retention-full=${config.backup.keep}`,
    'repo1-bundle=y',
    'compress-type=zst',
    'start-fast=y',
    `process-max=${Math.max(1, Math.floor(cpus / 2))}`,
    'log-level-console=info',
    'log-level-file=detail',
    '',
    `[${PGBACKREST_STANZA}]`,
    `pg1-path=${paths.pg.data}`,
    `pg1-port=${config.postgres.port}`,
    'pg1-socket-path=/var/run/postgresql',
    `pg1-user=${config.postgres.superuser}`,
    '',
  ];
  return { name: 'pgbackrest.conf', content: lines.join('\n') };
}
