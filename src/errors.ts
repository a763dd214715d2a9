/**
 * One class per operational condition. Each has a stable `code` (for scripts and
 * `--json` output), an `exitCode` the CLI returns, and a `hint` that tells the
 * user the exact next step.
 */
export abstract class DataplaneError extends Error {
  abstract readonly code: string;
  abstract readonly exitCode: number;
  readonly hint: string | undefined;

  constructor(message: string, options: { hint?: string; cause?: unknown } = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = new.target.name;
    this.hint = options.hint;
  }
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
  readonly exitCode = 2;
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
  readonly exitCode = 6;
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
  readonly exitCode = 4;
  constructor(
    readonly binary: string,
    readonly provider: string,
  ) {
    super(`${binary} was not found`, { hint: provider });
  }
}

export class AlreadyRunningError extends DataplaneError {
  readonly code = 'ALREADY_RUNNING';
  readonly exitCode = 5;
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
  readonly exitCode = 7;
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
  readonly exitCode = 8;
  constructor(
    readonly packages: string[],
    reason: string,
  ) {
    super(`could not install ${packages.join(', ')}: ${reason}`, {
      hint: `install them yourself: apt-get install -y ${packages.join(' ')}`,
    });
  }
}

export class ServiceUnreachableError extends DataplaneError {
  readonly code = 'UNREACHABLE';
  readonly exitCode = 11;
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
  readonly exitCode = 9;
}

export function isDataplaneError(e: unknown): e is DataplaneError {
  return e instanceof DataplaneError;
}
