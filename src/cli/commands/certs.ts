/** `dataplane certs [show | rotate]`: the TLS certificates of the stack. */
import { existsSync } from 'node:fs';
import type { Command } from 'commander';
import { certificateList, readCertificate } from '../../tls/certificates.js';
import { loadFor } from '../context.js';
import { printJson, progress, status, table } from '../output.js';

export function register(program: Command): void {
  const cmd = program.command('certs').description('show and rotate TLS certificates');

  cmd
    .command('show', { isDefault: true })
    .description('list the CA and server certificates with their names and expiry')
    .option('--json', 'print machine-readable JSON')
    .action((opts: { json?: boolean }, c: Command) => {
      const { config } = loadFor(c);
      const entries = certificateList(config).map((e) => ({ ...e, info: existsSync(e.file) ? readCertificate(e.file) : null }));
      if (opts.json) return printJson(entries);
      process.stdout.write(
        table(
          ['CERTIFICATE', 'EXPIRES', 'DAYS LEFT', 'NAMES', 'FILE'],
          entries.map((e) => [
            e.name,
            e.info?.notAfter.toISOString().slice(0, 10) ?? status('missing'),
            e.info ? (e.info.daysLeft < config.tls.renewBeforeDays ? status('warn') + ` ${e.info.daysLeft}` : e.info.daysLeft) : undefined,
            e.info ? [...e.info.ips, ...e.info.dnsNames].join(' ') || undefined : undefined,
            e.file,
          ]),
        ) + '\n',
      );
    });

  cmd
    .command('rotate')
    .description('issue new server certificates and load them into the running servers (no restart)')
    .option('--ca', 'also replace the certificate authority (clients must then trust the new ca.crt)')
    .action(async (opts: { ca?: boolean }, c: Command) => {
      const { config } = loadFor(c);
      if (config.tls.source === 'files') {
        progress('tls.source is "files": replace those files, then `dataplane certs rotate` reloads the servers');
      }
      const { rotateCertificates } = await import('../../stack/rotate.js');
      const r = await rotateCertificates(config, { newCa: Boolean(opts.ca), onProgress: progress });
      progress(r.reloaded ? 'the running servers now use the new certificates' : 'the stack is not running; `dataplane up` uses the new certificates');
    });
}
