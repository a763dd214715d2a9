/**
 * The shape every server module has (postgres.ts, redis.ts, nats.ts export one
 * `ServerDriver` each), so the supervisor treats them alike.
 */
import type { StatePaths } from '../config/paths.js';
import type { Config, ProcessName } from '../config/schema.js';
import type { Tuning } from '../config/tuning.js';
import type { RenderedFile } from '../render/context.js';
import type { Secrets } from '../secrets/store.js';
import type { TlsFiles } from '../tls/certificates.js';
import type { PidRecord } from '../lib/process.js';
import type { ServiceUser } from '../lib/service-user.js';

export interface ServerContext {
  config: Config;
  paths: StatePaths;
  secrets: Secrets;
  tuning: Tuning;
  files: RenderedFile[];
  user: ServiceUser;
  binaries: Binaries;
  /** Certificates to install, when TLS is on. */
  tls: TlsFiles | undefined;
  /** TimescaleDB is installed and not turned off: preload it and create the extension. */
  timescaledb: boolean;
  /** Skip fsync during first initialisation (ephemeral test stacks). */
  fastInit?: boolean;
  progress: (msg: string) => void;
}

export interface Binaries {
  /** The server executable. */
  server: string;
  version: string;
  [tool: string]: string;
}

export interface ProbeResult {
  version: string;
  latencyMs: number;
}

export interface PortClaim {
  port: number;
  host: string;
  /** config path to change it, for the error message */
  configPath: string;
}

export interface ServerDriver {
  name: ProcessName;
  /** Find the binaries and check their versions. Throws BinaryNotFoundError with the package to install. */
  locate(config: Config): Promise<Binaries>;
  ports(config: Config): PortClaim[];
  /** First-run initialisation and writing of the rendered files; idempotent. */
  prepare(ctx: ServerContext): Promise<void>;
  /** The foreground command line (no secrets: they live in 0600 files). */
  command(ctx: ServerContext): { bin: string; args: string[]; cwd: string; env?: Record<string, string> };
  /** A real protocol round trip with authentication. Throws with a reason when not ready. */
  probe(config: Config, secrets: Secrets, timeoutMs?: number): Promise<ProbeResult>;
  /** Runs after each successful start (roles, databases); idempotent. */
  afterStart?(ctx: ServerContext): Promise<void>;
  /** Re-read configuration and certificates in place, without a restart. */
  reload(ctx: ServerContext, rec: PidRecord): Promise<void>;
  /** Clean shutdown that keeps every acknowledged write. */
  stop(ctx: Pick<ServerContext, 'config' | 'secrets'>, rec: PidRecord, timeoutMs: number): Promise<void>;
  /** Address clients use, for tables. */
  address(config: Config): string;
}
