/**
 * Every error code dataplane uses, with the exit code the CLI returns for it, what it
 * means and what to do. Error classes take their code from here (the type checker
 * refuses any other), and docs/errors.md is generated from this table.
 */

export interface CatalogEntry {
  /** Exit code of the CLI when an error with this code ends a command. */
  exitCode: number;
  /** What happened, in one line. */
  meaning: string;
  /** What to do; each error's own hint is more specific. */
  action: string;
}

export const ERROR_CATALOG = {
  INTERNAL: { exitCode: 1, meaning: 'an unexpected error: a bug (the message carries its stack trace)', action: 'report it with the output of `dataplane doctor --json`' },
  CONFIG_INVALID: { exitCode: 2, meaning: 'the configuration (file, environment or declarations module) is invalid; each problem is listed with its path', action: 'fix the fields named; `dataplane config docs` lists every field' },
  USAGE: { exitCode: 2, meaning: 'a command was given an unknown or invalid argument or option', action: 'see the usage printed with it, or `dataplane <command> --help`' },
  INVALID_ARGUMENT: { exitCode: 2, meaning: 'a library function was called with something it cannot use (a bad declaration, key part, login name)', action: 'fix the calling code; the message names the value' },
  NOT_RUNNING: { exitCode: 3, meaning: 'the stack (or the part the command needs) is not running', action: '`dataplane up` starts it; `dataplane status` shows what runs' },
  BINARY_NOT_FOUND: { exitCode: 4, meaning: 'a server binary is missing or has the wrong version', action: 'install the package the message names (run as root and `up` installs it)' },
  ALREADY_RUNNING: { exitCode: 5, meaning: 'a supervisor already runs this state directory', action: '`dataplane status` shows it; `dataplane down` stops it' },
  PORT_IN_USE: { exitCode: 6, meaning: 'a port the stack needs is taken by another process', action: 'stop that process or change the port named in the message' },
  SERVER_START_FAILED: { exitCode: 7, meaning: 'a server did not become ready; the message quotes its log', action: '`dataplane logs <service>`, then `dataplane doctor`' },
  PACKAGE_INSTALL_FAILED: { exitCode: 8, meaning: 'installing Debian packages failed', action: 'install the packages named yourself with apt-get' },
  PERMISSION: { exitCode: 9, meaning: 'a permission problem: the service user could not be created or reach its files', action: 'follow the hint; run as root or fix the owner of the state directory' },
  SECRETS: { exitCode: 9, meaning: 'a credential is missing, unreadable or given in a form the store refuses', action: '`dataplane up` generates missing credentials; DATAPLANE_SECRET_* values must be 16-256 printable characters' },
  ENCRYPTION: { exitCode: 9, meaning: 'an age recipient or identity is not one, or an encrypted file is not for this identity, damaged or changed', action: 'the message says which; keys come from `dataplane credentials keygen` or age-keygen' },
  MIGRATIONS_DIR_MISSING: { exitCode: 10, meaning: 'the migrations folder does not exist', action: 'set postgres.migrationsDir' },
  MIGRATION_NAME: { exitCode: 10, meaning: 'a migration file is not named NNNN_name.sql', action: 'rename it' },
  MIGRATION_DUPLICATE: { exitCode: 10, meaning: 'two migration files share a version number', action: 'renumber one of them' },
  MIGRATION_CHANGED: { exitCode: 10, meaning: 'an applied migration file changed since it was applied', action: 'restore the file as applied; put changes in a new migration' },
  MIGRATION_MISSING: { exitCode: 10, meaning: 'a migration the database applied is missing from the folder', action: 'restore the file, or point postgres.migrationsDir at the right folder' },
  MIGRATION_OUT_OF_ORDER: { exitCode: 10, meaning: 'a pending migration sorts before one already applied', action: 'renumber it after the newest applied one' },
  MIGRATION_FAILED: { exitCode: 10, meaning: 'a migration failed; it was rolled back', action: 'fix the SQL at the line named and run `dataplane migrate` again' },
  UNREACHABLE: { exitCode: 11, meaning: 'a server the command needs does not answer', action: 'is the stack running? `dataplane status`; `dataplane up` starts it' },
  CERTIFICATE: { exitCode: 12, meaning: 'a certificate could not be made or read', action: 'check the tls.* settings, or `dataplane certs rotate`' },
  RELOAD_FAILED: { exitCode: 13, meaning: 'the running servers could not reload new secrets or certificates', action: 'see `dataplane logs supervisor`' },
  BACKUP: { exitCode: 14, meaning: 'a backup could not be taken, found or verified', action: 'the message names the part and why; `dataplane backup list` shows what exists' },
  RESTORE: { exitCode: 14, meaning: 'a restore failed; the previous data was put back', action: 'the message says which part failed; restore another backup or another time' },
  PROBE_FAILED: { exitCode: 11, meaning: 'a server answered, but not as a ready server does', action: '`dataplane logs <service>`' },
  DECODE: { exitCode: 1, meaning: 'a cached value does not match its keyspace schema (it is treated as a miss)', action: 'find who writes the key outside its keyspace; the entry is reloaded' },
  PAYLOAD_INVALID: { exitCode: 1, meaning: 'a message payload does not match its subject schema', action: 'fix the publisher; a consumer dead-letters such messages with this reason' },
  PUBLISH_FAILED: { exitCode: 1, meaning: 'JetStream did not acknowledge a publish (no stream, refused, or no ack in time)', action: 'declare a stream for the subject, or check `dataplane status` for NATS' },
  OUTBOX_POSITION_MOVED: { exitCode: 1, meaning: 'the outbox relay found its stored position moved by another relay (two were active at once)', action: 'none: the relay starts again from the stored position and JetStream drops the repeats' },
  RETRIES_EXHAUSTED: { exitCode: 1, meaning: 'a transaction failed in a retryable way more often than postgres.client.retries allows', action: 'look at the cause: contention (serialization failures, deadlocks) or a server that keeps dropping connections' },
  NOT_REPLICATED: { exitCode: 1, meaning: 'a write asked to wait for Redis replicas reached fewer of them in time (it is on the primary only)', action: 'check the replicas with `dataplane status`; retry, or accept the risk for that write' },
  SOAK_SETUP: { exitCode: 15, meaning: 'a soak run could not set up its stack or carry out a fault (mount its filesystem, restart the supervisor)', action: 'the message names the step and quotes its output; a fault that needs --ephemeral says so' },
  INGEST_FAILED: { exitCode: 1, meaning: 'COPY batches of an ingest failed; the rows of those batches were not written', action: 'the cause of the first batch is in the message' },
} as const satisfies Record<string, CatalogEntry>;

export type ErrorCode = keyof typeof ERROR_CATALOG;

/** Exit codes the CLI returns without an error (a check that found problems is not a crash). */
export const RESULT_EXIT_CODES: { exitCode: number; meaning: string }[] = [
  { exitCode: 0, meaning: 'success (`status`: the supervisor and every enabled server are up)' },
  { exitCode: 1, meaning: 'a check found problems: `doctor` (a failed check), `backup verify` (a damaged backup), `migrate status` (a changed or missing migration), `streams reconcile` (drift), `soak` (an acknowledged write lost or applied twice)' },
  { exitCode: 3, meaning: '`status`: the stack is not (fully) running' },
];

/** docs/errors.md: every exit code and error code, generated from the table above. */
export function errorsMarkdown(): string {
  const byExit = new Map<number, string[]>();
  for (const r of RESULT_EXIT_CODES) byExit.set(r.exitCode, [r.meaning]);
  for (const [code, e] of Object.entries(ERROR_CATALOG) as [ErrorCode, CatalogEntry][]) {
    byExit.set(e.exitCode, [...(byExit.get(e.exitCode) ?? []), `\`${code}\``]);
  }
  return [
    '# Exit codes and error codes',
    '',
    '<!-- Generated from src/errors/catalog.ts by `dataplane errors --markdown`; a test fails when it is stale. -->',
    '',
    'Every error dataplane raises, from the CLI and from the library, has a stable `code` (in `--json`',
    'output and on the error object), a message, a hint with the next step, and an exit code.',
    '',
    '## Exit codes',
    '',
    '| exit code | meaning |',
    '| --- | --- |',
    ...[...byExit.entries()].sort((a, b) => a[0] - b[0]).map(([exit, parts]) => `| ${exit} | ${parts.join('; ')} |`),
    '',
    '## Error codes',
    '',
    '| code | exit code | meaning | what to do |',
    '| --- | --- | --- | --- |',
    ...(Object.entries(ERROR_CATALOG) as [ErrorCode, CatalogEntry][]).map(([code, e]) => `| \`${code}\` | ${e.exitCode} | ${e.meaning} | ${e.action} |`),
    '',
  ].join('\n');
}
