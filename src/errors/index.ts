/**
 * One class per operational condition. Each has a stable `code` from the catalog
 * (for scripts, `--json` output and `err.code` checks), the exit code the catalog
 * gives that code, and a `hint` that tells the user the exact next step. Library
 * errors (DecodeError, PublishError, ...) live next to their modules and extend
 * DataplaneError too.
 */
import { ERROR_CATALOG, type ErrorCode } from './catalog.js';

export { ERROR_CATALOG, RESULT_EXIT_CODES, errorsMarkdown, type CatalogEntry, type ErrorCode } from './catalog.js';

export interface ErrorOptions {
  hint?: string | undefined;
  cause?: unknown;
}

export abstract class DataplaneError extends Error {
  abstract readonly code: ErrorCode;
  readonly hint: string | undefined;

  constructor(message: string, options: ErrorOptions = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = new.target.name;
    this.hint = options.hint;
  }

  /** The CLI's exit code for this error, from the catalog. */
  get exitCode(): number {
    return ERROR_CATALOG[this.code].exitCode;
  }
}

/**
 * A library function was called with something it cannot use: a bad declaration, a
 * key part of the wrong type, a login the stack does not have. A programming error.
 */
export class InvalidArgumentError extends DataplaneError {
  readonly code = 'INVALID_ARGUMENT';
}

/** Something that should not happen did: a bug, or a machine that is not what dataplane expects. */
export class InternalError extends DataplaneError {
  readonly code = 'INTERNAL';
}

/** A command's argument or option is unknown or invalid (the CLI prints its usage). */
export class UsageError extends DataplaneError {
  readonly code = 'USAGE';
}

/** The stack, or the part a command needs, is not running. */
export class NotRunningError extends DataplaneError {
  readonly code = 'NOT_RUNNING';
}

/** A server answered, but not as a ready server does (an unexpected reply, an HTTP error status). */
export class ProbeError extends DataplaneError {
  readonly code = 'PROBE_FAILED';
}

export interface ConfigIssue {
  /** dotted path of the offending field, e.g. `redis.maxmemory` */
  path: string;
  message: string;
  /** where the value came from: the file, or the environment variable that set it */
  source?: string;
}

export class ConfigError extends DataplaneError {
  readonly code = 'CONFIG_INVALID';
  constructor(
    readonly issues: ConfigIssue[],
    readonly file?: string,
  ) {
    super(
      `invalid configuration${file ? ` in ${file}` : ''}:\n` +
        issues.map((i) => `  ${i.path || '(root)'}: ${i.message}${i.source ? ` (from ${i.source})` : ''}`).join('\n'),
      { hint: 'fix the fields above; `dataplane config docs` lists every field with its default' },
    );
  }
}

export class PortInUseError extends DataplaneError {
  readonly code = 'PORT_IN_USE';
  constructor(
    readonly service: string,
    readonly host: string,
    readonly port: number,
    readonly configPath: string,
  ) {
    super(`port ${port} on ${host} is already in use; ${service} cannot listen there`, {
      hint: `stop whatever listens on ${host}:${port} (\`ss -ltnp 'sport = :${port}'\` shows it) or choose another port with \`${configPath}\` in dataplane.config.yaml`,
    });
  }
}

export class BinaryNotFoundError extends DataplaneError {
  readonly code = 'BINARY_NOT_FOUND';
  constructor(
    readonly binary: string,
    readonly provider: string,
  ) {
    super(`${binary} was not found`, { hint: provider });
  }
}

export class AlreadyRunningError extends DataplaneError {
  readonly code = 'ALREADY_RUNNING';
  constructor(
    readonly pid: number,
    readonly stateDir: string,
  ) {
    super(`the stack in ${stateDir} is already running (supervisor pid ${pid})`, {
      hint: '`dataplane status` shows it; `dataplane down` stops it',
    });
  }
}

export class ServerStartError extends DataplaneError {
  readonly code = 'SERVER_START_FAILED';
  constructor(
    readonly service: string,
    reason: string,
    readonly logTail: string,
    readonly logFile: string,
    cause?: unknown,
  ) {
    super(`${service} failed to start: ${reason}${logTail ? `\n--- last lines of ${logFile} ---\n${logTail}` : ''}`, {
      hint: `read ${logFile} (\`dataplane logs ${service}\`), then \`dataplane doctor\``,
      cause,
    });
  }
}

export class PackageInstallError extends DataplaneError {
  readonly code = 'PACKAGE_INSTALL_FAILED';
  constructor(
    readonly packages: string[],
    reason: string,
    /** how to install them by hand, where apt-get install of the names is not it */
    manual?: string,
  ) {
    super(`could not install ${packages.join(', ')}: ${reason}`, {
      hint: `install them yourself: ${manual ?? `apt-get install -y ${packages.join(' ')}`}`,
    });
  }
}

export class ServiceUnreachableError extends DataplaneError {
  readonly code = 'UNREACHABLE';
  constructor(
    readonly service: string,
    readonly address: string,
    cause: unknown,
  ) {
    super(`${service} at ${address} is not reachable: ${(cause as Error).message}`, { hint: 'is the stack running? `dataplane status` shows it; `dataplane up` starts it', cause });
  }
}

export class PermissionProblemError extends DataplaneError {
  readonly code = 'PERMISSION';
}

export function isDataplaneError(e: unknown): e is DataplaneError {
  return e instanceof DataplaneError;
}
