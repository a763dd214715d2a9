/** `dataplane credentials export | import | keygen`: credentials for the team's repository, encrypted with age. */
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import type { Command } from 'commander';
import { UsageError } from '../../errors/index.js';
import { generateKeyPair } from '../../lib/age.js';
import { exportCredentials, importCredentials } from '../../stack/credentials-file.js';
import { loadFor } from '../context.js';
import { printJson, progress } from '../output.js';
import { jsonOption } from '../arguments.js';

/** Recipients from --recipient and from files of them (one per line, # comments), as `age -R` reads. */
function recipientsOf(opts: { recipient?: string[]; recipientsFile?: string[] }): string[] {
  const fromFiles = (opts.recipientsFile ?? []).flatMap((f) => {
    if (!existsSync(f)) throw new UsageError(`recipients file ${f} does not exist`);
    return readFileSync(f, 'utf8')
      .split('\n')
      .map((l) => l.trim())
      .filter((l) => l && !l.startsWith('#'));
  });
  const all = [...(opts.recipient ?? []), ...fromFiles];
  if (!all.length) throw new UsageError('name at least one recipient: --recipient age1… or --recipients-file FILE');
  return [...new Set(all)];
}

export function registerTransfer(cmd: Command): void {
  cmd
    .command('export')
    .description('write every login, password, connection URL and the CA certificate to one file encrypted with age')
    .option('--recipient <key...>', 'an age public key (age1…) that may decrypt the file; repeatable')
    .option('--recipients-file <file...>', 'a file of age public keys, one per line (as `age -R` reads)')
    .requiredOption('--out <file>', 'where to write the encrypted file (mode 0600), e.g. secrets/prod.credentials.age')
    .option('--json', 'print machine-readable JSON')
    .addHelpText(
      'after',
      [
        '',
        'The file is in the age format (armored): each recipient opens it with',
        '`dataplane credentials import FILE --identity KEYFILE` or with the standard tools:',
        '  age -d -i key.txt prod.credentials.age',
        'After `credentials rotate` the export is stale: `credentials` and `doctor` say so until it is exported again.',
      ].join('\n'),
    )
    .action(async (opts: { recipient?: string[]; recipientsFile?: string[]; out: string }, c: Command) => {
      const { config, environment } = loadFor(c);
      const r = await exportCredentials(config, environment, { recipients: recipientsOf(opts), out: opts.out });
      if (jsonOption(c).json) return printJson(r);
      progress(`wrote ${r.logins} logins and the CA certificate to ${r.file}, encrypted for ${r.recipients} recipient(s)`);
    });

  cmd
    .command('import')
    .description('install the secrets of an exported credentials file, so that `up` uses them')
    .argument('<file>', 'a file written by `dataplane credentials export`')
    .requiredOption('--identity <keyfile>', 'your age private key file (AGE-SECRET-KEY-1…, mode 0600)')
    .option('--replace', "replace this stack's own different secrets (servers already running keep theirs until rotated)")
    .option('--json', 'print machine-readable JSON')
    .action(async (file: string, opts: { identity: string; replace?: boolean }, c: Command) => {
      const { config } = loadFor(c);
      const r = await importCredentials(config, { file, identityFile: opts.identity, replace: Boolean(opts.replace) });
      if (jsonOption(c).json) return printJson(r);
      progress(`installed ${r.logins} logins exported ${r.exportedAt}${r.replaced ? ', replacing the previous ones' : ''}; \`dataplane up\` uses them`);
    });

  cmd
    .command('keygen')
    .description('make an age key pair: the private key to a file (0600), the public key (age1…) printed')
    .requiredOption('--out <file>', 'where to write the private key; an existing file is never overwritten')
    .option('--json', 'print machine-readable JSON')
    .action(async (opts: { out: string }, c: Command) => {
      const file = path.resolve(opts.out);
      if (existsSync(file)) throw new UsageError(`${file} exists: a key is never overwritten`, { hint: 'choose another --out, or move the old key away yourself' });
      const { identity, recipient } = await generateKeyPair();
      writeFileSync(file, `# created: ${new Date().toISOString()}\n# public key: ${recipient}\n${identity}\n`, { mode: 0o600, flag: 'wx' });
      if (jsonOption(c).json) return printJson({ file, recipient });
      process.stdout.write(`${recipient}\n`);
      progress(`private key written to ${file}; share the public key above, keep the file to yourself`);
    });
}
