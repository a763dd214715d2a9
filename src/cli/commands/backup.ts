/** `dataplane backup create | list | verify | prune` and `dataplane restore`. */
import type { Command } from 'commander';
import { Option } from 'commander';
import { BackupError } from '../../backup/errors.js';
import { listBackups, prune, restorable } from '../../backup/catalog.js';
import { statePaths } from '../../config/paths.js';
import type { Config } from '../../config/schema.js';
import { ensurePackages, REQUIREMENTS } from '../../lib/packages.js';
import { formatSize } from '../../lib/sizes.js';
import { UsageError } from '../../errors/index.js';
import { isoTime, wholeNumber } from '../arguments.js';
import { accessFor, loadFor } from '../context.js';
import { printJson, progress, status, table } from '../output.js';

/** Backups and restores reach every server: their modules load when such a command runs, not for --help. */
const backups = () => import('../../backup/index.js');

/** rsync (and ssh for an SSH destination), installed when missing, before touching the copy. */
async function offsiteTools(config: Config): Promise<void> {
  const dest = config.backup.offsite.destination;
  if (!dest) throw new BackupError('no off-host destination: set backup.offsite.destination (a mounted path or user@host:/path)');
  await ensurePackages([REQUIREMENTS.rsync, ...(dest.startsWith('/') ? [] : [REQUIREMENTS.ssh])], progress);
}

function copyWord(copy: { lagSeconds: number; lastSuccessAt?: string | null; lastError?: string | null }): string {
  if (!copy.lastSuccessAt) return `${status('warn')} no copy made yet (\`dataplane backup copy\`)`;
  if (copy.lastError) return `${status('fail')} failing`;
  return copy.lagSeconds ? `${status('warn')} ${copy.lagSeconds} s behind` : `${status('ok')} complete`;
}

/** Copy to the destination now, with a line of progress. */
async function copyNow(config: Config, quiet: boolean): Promise<{ walSealed: number; ms: number }> {
  await offsiteTools(config);
  const { shipBackups } = await import('../../backup/offsite.js');
  if (!quiet) progress(`copying the backup area to ${config.backup.offsite.destination}`);
  return shipBackups(config);
}

export function register(program: Command): void {
  const cmd = program.command('backup').description('back up PostgreSQL (base backup + archived WAL), Redis and JetStream under one label; list, verify, prune');

  cmd
    .command('create')
    .description('take a full backup now: a PostgreSQL base backup, a Redis snapshot and JetStream stream snapshots, with a manifest of checksums')
    .option('--label <label>', 'name of the backup (default dp-<UTC time>)')
    .option('--json', 'print machine-readable JSON')
    .action(async (opts: { label?: string; json?: boolean }, c: Command) => {
      const { access } = accessFor(c);
      const { createBackup } = await backups();
      const { dir, manifest } = await createBackup(access, { ...(opts.label ? { label: opts.label } : {}), onProgress: opts.json ? () => {} : progress });
      // Off the host at once, not at the supervisor's next tick (nor never, with no supervisor running).
      // The backup itself is sound either way: a failed copy is a warning, retried by the supervisor.
      if (access.config.backup.offsite.destination) {
        await copyNow(access.config, Boolean(opts.json)).catch((e: Error) => process.stderr.write(`${status('warn')} the off-host copy failed: ${e.message}; the supervisor retries (\`dataplane backup copy\` to retry now)\n`));
      }
      if (opts.json) return printJson({ dir, ...manifest, postgres: manifest.postgres ? { ...manifest.postgres, files: manifest.postgres.files.length } : undefined });
      const bytes = (manifest.postgres?.files ?? []).reduce((s, f) => s + f.size, 0) + (manifest.redis?.file.size ?? 0);
      process.stdout.write(`backup ${manifest.label}: ${formatSize(bytes)} of data in ${dir}\n`);
      if (manifest.postgres) process.stdout.write(`  postgres: WAL ${manifest.postgres.startLsn} .. ${manifest.postgres.stopLsn}, timeline ${manifest.postgres.timeline}, consistent at ${manifest.postgres.consistentAt}\n`);
      if (manifest.redis) process.stdout.write(`  redis: snapshot of ${manifest.redis.savedAt}, ${manifest.redis.keys} keys\n`);
      if (manifest.nats) process.stdout.write(`  nats: ${manifest.nats.streams.map((x) => `${x.name} (${x.state.messages} messages)`).join(', ') || 'no streams'}\n`);
    });

  cmd
    .command('list')
    .description('backups and the times each can restore to (up to the newest archived WAL)')
    .option('--json', 'print machine-readable JSON')
    .action((opts: { json?: boolean }, c: Command) => {
      const { config } = loadFor(c);
      const rows = restorable(statePaths(config));
      if (opts.json) return printJson(rows);
      if (!rows.length) return void process.stdout.write('no backups yet: `dataplane backup create` takes one\n');
      process.stdout.write(
        table(
          ['LABEL', 'RESTORES FROM', 'TO (NEWEST WAL)', 'PARTS', 'SIZE', 'WAL SEGMENTS'],
          rows.map((r) => [r.label, r.from, r.to, [r.postgres && 'postgres', r.redis && 'redis', r.streams && `nats (${r.streams} streams)`].filter(Boolean).join(' + '), formatSize(r.bytes), r.walSegments]),
        ) + '\n',
      );
    });

  cmd
    .command('verify')
    .argument('[label]', 'the backup to verify (default: every backup)')
    .description('check every stored file against its checksum and the WAL the backup needs; --drill also restores it')
    .option('--drill', 'restore into a scratch folder, start PostgreSQL on it, run sanity queries, then remove it')
    .option('--from-copy', 'check (and drill) the off-host copy instead: fetched from backup.offsite.destination into a scratch folder')
    .option('--json', 'print machine-readable JSON')
    .addHelpText('after', '\nExit code 1 when a backup is damaged or incomplete; each problem names the file.\nEncrypted backups open with backup.encryption.identityFile.')
    .action(async (label: string | undefined, opts: { drill?: boolean; fromCopy?: boolean; json?: boolean }, c: Command) => {
      const { access } = accessFor(c);
      const labels = label ? [label] : listBackups(statePaths(access.config)).map((b) => b.manifest.label);
      if (!labels.length) throw new BackupError('there is no backup to verify', { hint: '`dataplane backup create` takes one' });
      if (opts.fromCopy) await offsiteTools(access.config);
      const results = [];
      const { verifyBackup } = await backups();
      for (const l of labels) results.push(await verifyBackup(access, l, { drill: Boolean(opts.drill), fromCopy: Boolean(opts.fromCopy), onProgress: opts.json ? () => {} : progress }));
      if (opts.json) printJson(results);
      else {
        for (const r of results) {
          process.stdout.write(`${r.label}${r.source === 'copy' ? ' (off-host copy)' : ''}: ${status(r.ok ? 'ok' : 'fail')} (${r.filesChecked} files)\n`);
          for (const p of r.problems) process.stdout.write(`  ${p}\n`);
          if (r.drill) process.stdout.write(`  drill: restored and started in ${r.drill.ms} ms; databases ${r.drill.databases.join(', ')}; ${r.drill.tables} tables read\n`);
        }
      }
      if (results.some((r) => !r.ok)) process.exitCode = 1;
    });

  cmd
    .command('copy')
    .description('bring the off-host copy (backup.offsite.destination) up to date now: seal new WAL, rsync what changed')
    .option('--json', 'print machine-readable JSON')
    .action(async (opts: { json?: boolean }, c: Command) => {
      const { config } = loadFor(c);
      const r = await copyNow(config, Boolean(opts.json));
      if (opts.json) return printJson({ destination: config.backup.offsite.destination, ...r });
      progress(`the copy at ${config.backup.offsite.destination} is up to date (${r.walSealed} WAL file(s) sealed, ${r.ms} ms)`);
    });

  cmd
    .command('status')
    .description('the newest backup, the off-host copy (last copy, lag, last error) and the last restore drill')
    .option('--json', 'print machine-readable JSON')
    .action(async (opts: { json?: boolean }, c: Command) => {
      const { config } = loadFor(c);
      const paths = statePaths(config);
      const { offsiteLagSeconds, readOffsiteState } = await import('../../backup/offsite.js');
      const { readDrillState } = await import('../../backup/drills.js');
      const newest = listBackups(paths).at(-1)?.manifest;
      const copy = config.backup.offsite.destination ? { destination: config.backup.offsite.destination, lagSeconds: Math.round(offsiteLagSeconds(paths)), ...(readOffsiteState(paths) ?? {}) } : null;
      const r = {
        newest: newest ? { label: newest.label, finishedAt: newest.finishedAt, encrypted: Boolean(newest.encryption) } : null,
        encryption: config.backup.encryption.recipients.length ? { recipients: config.backup.encryption.recipients.length, identityFile: config.backup.encryption.identityFile || null } : null,
        copy,
        drill: { intervalHours: config.backup.drillIntervalHours, last: readDrillState(paths) },
      };
      if (opts.json) return printJson(r);
      const lines = [
        `newest backup  ${r.newest ? `${r.newest.label} (${r.newest.finishedAt}${r.newest.encrypted ? ', encrypted' : ''})` : status('warn') + ' none'}`,
        `encryption     ${r.encryption ? `age, ${r.encryption.recipients} recipient(s)` : 'off'}`,
        `off-host copy  ${copy ? `${copy.destination}: ${copyWord(copy)}; last copy ${copy.lastSuccessAt ?? 'never'}${copy.lastError ? `; last error: ${copy.lastError}` : ''}` : 'none (backup.offsite.destination)'}`,
        `restore drill  ${r.drill.last ? `${r.drill.last.ok ? status('ok') : status('fail')} ${r.drill.last.label} from the ${r.drill.last.source === 'copy' ? 'off-host copy' : 'backup area'} at ${r.drill.last.lastRunAt}${r.drill.last.problems.length ? `: ${r.drill.last.problems.join('; ')}` : ''}` : 'none yet'}${r.drill.intervalHours ? ` (every ${r.drill.intervalHours} h)` : ' (not scheduled: backup.drillIntervalHours)'}`,
      ];
      process.stdout.write(lines.join('\n') + '\n');
    });

  cmd
    .command('prune')
    .description('keep the newest backups (backup.keep) and exactly the archived WAL they need')
    .addOption(new Option('--keep <n>', 'backups to keep (default backup.keep)').argParser(wholeNumber(1)))
    .option('--dry-run', 'only say what would be removed')
    .option('--json', 'print machine-readable JSON')
    .action((opts: { keep?: number; dryRun?: boolean; json?: boolean }, c: Command) => {
      const { config } = loadFor(c);
      const keep = opts.keep ?? config.backup.keep;
      const r = prune(statePaths(config), keep, { dryRun: Boolean(opts.dryRun) });
      if (opts.json) return printJson(r);
      const verb = opts.dryRun ? 'would remove' : 'removed';
      process.stdout.write(`${verb} ${r.removedBackups.length} backup(s)${r.removedBackups.length ? `: ${r.removedBackups.join(', ')}` : ''} and ${r.removedWal.length} WAL file(s); kept ${r.kept.join(', ') || 'nothing'}\n`);
    });

  program
    .command('restore')
    .description('point-in-time restore: PostgreSQL to a time or to the newest archived WAL; Redis and JetStream from the same backup')
    .addOption(new Option('--to-time <time>', 'recover up to this time (ISO 8601, e.g. 2026-11-27T10:15:00Z)').argParser(isoTime).conflicts('toLatest'))
    .addOption(new Option('--to-latest', 'recover every archived transaction').conflicts('toTime'))
    .option('--label <label>', 'restore this backup (default: the newest one consistent before the target time)')
    .option('--target <dir>', 'restore PostgreSQL into this folder instead of the stack (Redis and JetStream are not restored then)')
    .option('--force', "stop the running stack first (without it, restore refuses to overwrite a running cluster)")
    .option('--json', 'print machine-readable JSON')
    .addHelpText(
      'after',
      '\nThe previous data directory (and Redis files) are kept under a ".before-restore-<time>" name, never deleted.\nAfter restoring the stack itself, `dataplane up` starts it on the restored data.',
    )
    .action(async (opts: { toTime?: Date; toLatest?: boolean; label?: string; target?: string; force?: boolean; json?: boolean }, c: Command) => {
      const { loaded, access } = accessFor(c);
      const { config } = access;
      if (!opts.toTime && !opts.toLatest) throw new UsageError('say where to recover to: --to-time <time> or --to-latest');
      const target: { time: Date } | { latest: true } = opts.toTime ? { time: opts.toTime } : { latest: true };
      const { restore } = await backups();
      const { stopStack } = await import('../../stack/control.js');
      const r = await restore(access, {
        target,
        ...(opts.label ? { label: opts.label } : {}),
        ...(opts.target ? { targetDir: opts.target } : {}),
        ...(opts.force ? { stopRunningStack: () => stopStack(config, progress, loaded.environment) } : {}),
        onProgress: opts.json ? () => {} : progress,
      });
      if (opts.json) return printJson(r);
      process.stdout.write(`restored ${r.label} into ${r.dataDir}: PostgreSQL recovered${r.recoveredTo ? ` to ${r.recoveredTo}` : ''} (timeline ${r.timeline})${r.redis.restored ? `; Redis snapshot with ${r.redis.keys} keys` : ''}\n`);
      if (r.streams.length) process.stdout.write(`  JetStream streams ${r.streams.join(', ')} are restored by the next \`dataplane up\`\n`);
      for (const m of r.movedAside) process.stdout.write(`  kept the previous files as ${m}\n`);
      if (!opts.target) process.stdout.write('start the stack on it: dataplane up\n');
    });
}
