/** `dataplane credentials`: connection URLs per login identity; passwords only with --reveal. */
import { Argument, type Command } from 'commander';
import { SERVICES, type Config, type ServiceName } from '../../config/schema.js';
import { UsageError } from '../../errors/index.js';
import { resolveAccess } from '../../connect/access.js';
import { credentialsFor } from '../../connect/credentials.js';
import { loadFor } from '../context.js';
import { printJson, progress, status, table } from '../output.js';
import { exportState, staleExportNotice } from '../../stack/credentials-file.js';
import { registerTransfer } from './credentials-transfer.js';
import { jsonOption } from '../arguments.js';

interface CredentialsOptions {
  reveal?: boolean;
  json?: boolean;
  url?: boolean;
  user?: string;
}

/** The identity an application uses, when --url asks for one URL. */
function applicationUser(config: Config, service: ServiceName | 'monitoring'): string {
  return service === 'postgres' ? config.postgres.owner : service === 'monitoring' ? 'admin' : 'app';
}

const CREDENTIAL_SERVICES = [...SERVICES, 'monitoring'];

export function register(program: Command): void {
  const cmd = program
    .command('credentials')
    .addArgument(new Argument('[service]', 'only this service').choices(CREDENTIAL_SERVICES))
    .description('connection URLs for every generated login (passwords masked unless --reveal)')
    .option('--user <name>', 'only this login')
    .option('--url', "print only the URL (with a service: its application login's URL)")
    .option('--reveal', 'show passwords (they appear in your terminal and its scrollback)')
    .option('--json', 'print machine-readable JSON')
    .addHelpText(
      'after',
      [
        '',
        'Examples:',
        '  psql "$(dataplane credentials postgres --url --reveal)"',
        '  redis-cli -u "$(dataplane credentials redis --url --reveal)" ping',
        '',
        'In the ha topology NATS URLs list every node, comma-separated, and Redis URLs name the',
        'sentinels and the primary\'s name (redis+sentinel://user:password@host:port,.../name; with',
        '--json also as `sentinels` and `masterName`): the primary moves on failover, so clients',
        'ask a sentinel for it (SENTINEL GET-MASTER-ADDR-BY-NAME) rather than keep its address.',
      ].join('\n'),
    )
    .action((service: string | undefined, opts: CredentialsOptions, cmd: Command) => {
      const { config, environment } = loadFor(cmd);
      const user = opts.user ?? (opts.url && service ? applicationUser(config, service as ServiceName | 'monitoring') : undefined);
      const creds = credentialsFor(config, resolveAccess({ config, environment }).secrets, { reveal: Boolean(opts.reveal) }).filter(
        (c) => (!service || c.service === service) && (!user || c.user === user),
      );
      if (!creds.length) {
        throw new UsageError(`no login ${user ?? ''} for ${service ?? 'any service'}`, { hint: '`dataplane credentials` lists every login' });
      }
      if (opts.json) return printJson(creds);
      if (opts.url) return void process.stdout.write(creds.map((c) => c.url).join('\n') + '\n');
      process.stdout.write(table(['SERVICE', 'USER', 'PURPOSE', 'URL'], creds.map((c) => [c.service, c.user, c.purpose, c.url])) + '\n');
      if (!opts.reveal) process.stdout.write('\nPasswords are hidden; add --reveal to show them.\n');
      const stale = staleExportNotice(exportState(config, resolveAccess({ config, environment }).secrets));
      if (stale) process.stderr.write(`\n${status('warn')} ${stale}\n`);
    });

  cmd
    .command('rotate')
    .addArgument(new Argument('<service>', 'the service of the login').choices(CREDENTIAL_SERVICES))
    .argument('<user>', 'the login to rotate, e.g. app_rw')
    .description('replace a password on the running server and in secrets.json, without restarting anything')
    .option('--json', 'print machine-readable JSON')
    .addHelpText(
      'after',
      '\nThe switch is immediate: from now on only the new password logs in; open sessions stay open.\nRead the new one with `dataplane credentials <service> --user <user> --reveal`.',
    )
    .action(async (service: string, user: string, _opts: unknown, c: Command) => {
      const { config, environment } = loadFor(c);
      const opts = jsonOption(c);
      const { rotateCredential } = await import('../../stack/rotate.js');
      const result = await rotateCredential(config, service as ServiceName | 'monitoring', user, environment);
      const stale = staleExportNotice(exportState(config, resolveAccess({ config, environment }).secrets));
      if (opts.json) return printJson({ ...result, exportStale: Boolean(stale) });
      progress(result.live ? `rotated ${service} ${user}: the running server accepts only the new password` : `stored a new ${service} password for ${user}; the stack is not running, \`dataplane up\` applies it`);
      if (stale) process.stderr.write(`${status('warn')} ${stale}\n`);
    });

  registerTransfer(cmd);
}
