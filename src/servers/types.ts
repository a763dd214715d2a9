/**
 * The shape every server module has (postgres.ts, redis.ts, nats.ts and the
 * monitoring processes export one `ServerDriver` each). A driver owns everything
 * about its server, so the supervisor, status, rotation and figures loop over
 * drivers instead of asking `if (service === ...)`.
 */
import type { StatePaths } from '../config/paths.js';
import type { Config, ProcessName } from '../config/schema.js';
import type { Tuning } from '../config/tuning.js';
import type { Access } from '../connect/access.js';
import type { RenderContext, RenderedFile } from '../render/context.js';
import type { SecretService } from '../secrets/identities.js';
import type { TlsFiles } from '../tls/certificates.js';
import type { PidRecord } from '../lib/process.js';
import type { ServiceUser } from '../lib/service-user.js';

/** What a driver needs to prepare, start and reload its server: the access plus the plan. */
export interface ServerContext extends Access {
  /** The process instance this context starts: the server's name, or a node's (nats-2). */
  instance: string;
  paths: StatePaths;
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

/** A login kept for repeated probes: each one a round trip on it, without a new login. */
export interface ProbeSession {
  /**
   * The probe's round trip on this connection; throws when the server does not answer. Its
   * timeout is the one the session was opened with (the supervisor also bounds each probe).
   */
  probe(): Promise<ProbeResult>;
  close(): Promise<void>;
}

export interface PortClaim {
  port: number;
  host: string;
  /** config path to change it, for the error message */
  configPath: string;
}

export interface PostgresFigures {
  connections: { used: number; max: number };
  /** largest replay lag of the streaming replicas, in seconds; null without replicas */
  replicationLagSeconds: number | null;
  replicas: number;
  databaseBytes: number;
  /** WAL written (a primary) or replayed (a replica) since the cluster began, in bytes: its rate is the WAL rate */
  walPositionBytes: number | null;
  /** ha: this member as Patroni sees it */
  member?: { name: string; role: 'primary' | 'sync standby' | 'replica'; state: string; timeline: number | null; lagBytes: number | null };
}

/** ha: where HAProxy sends each of its addresses now. */
export interface HaproxyFigures {
  /** the member behind postgres.port, undefined while there is none */
  primary: string | undefined;
  /** the members behind postgres.ha.replicaPort */
  replicas: string[];
}

export interface RedisFigures {
  /** master or slave (Redis's words) */
  role: string;
  /** ha: a replica's primary, link and offset; a primary's connected replicas and offset */
  replication?: { primary: string; linkUp: boolean; offset: number } | { replicas: number; offset: number };
  memory: { used: number; max: number };
  clients: { connected: number; max: number };
  evictedKeys: number;
}

export interface NatsFigures {
  connections: { used: number; max: number };
  jetstream: { storageUsed: number; storageLimit: number; memoryUsed: number; memoryLimit: number };
  /** consumers with undelivered or unacknowledged messages */
  consumerLag: { stream: string; consumer: string; pending: number; ackPending: number }[];
  /** In a cluster: this node's role. It leads the JetStream meta group or not, and leads these streams. */
  cluster?: { serverName: string; metaLeader: boolean; leads: string[]; size: number };
}

/** What one sentinel knows: the primary the clients are sent to, and its peers. */
export interface SentinelFigures {
  /** The node the sentinel names as primary (its instance, or host:port when not one of the stack's) */
  primary: string;
  address: string;
  /** The sentinel sees the primary down (subjectively, or agreed with the others) */
  primaryDown: boolean;
  /** Replicas the sentinel knows of */
  replicas: number;
  /** Sentinels it knows, itself included */
  sentinels: number;
  quorum: number;
  /** Enough sentinels are reachable to reach the quorum and authorize a failover (SENTINEL CKQUORUM) */
  canFailover: boolean;
}

/** The key figures an operator checks first: connections, memory, storage, lag. */
export type ServerFigures = PostgresFigures | RedisFigures | NatsFigures | SentinelFigures | HaproxyFigures;

/** The logins a server checks, and how a new password becomes live on it. */
export interface CredentialsOwner {
  service: SecretService;
  /**
   * Make `password` the login's only password on the running server, logged in with
   * the current secrets. Absent: the server takes it from its reloaded configuration.
   */
  setPassword?(access: Access, user: string, password: string): Promise<void>;
  /** Log in as `user` with its secret in `access`; throws when that fails. */
  verifyLogin(access: Access, user: string): Promise<void>;
}

export interface ServerDriver {
  name: ProcessName;
  /** The process instances the config runs: [name] for one process, a cluster's nodes otherwise. */
  instances(config: Config): string[];
  /** Find the binaries and check their versions. Throws BinaryNotFoundError with the package to install. */
  locate(config: Config): Promise<Binaries>;
  ports(config: Config): PortClaim[];
  /** Address clients use, for tables (of one instance; default the first). */
  address(config: Config, instance?: string): string;
  /** The server's native configuration files. */
  render(ctx: RenderContext): RenderedFile[];
  /** First-run initialisation and writing of the rendered files; idempotent. */
  prepare(ctx: ServerContext): Promise<void>;
  /** The foreground command line (no secrets: they live in 0600 files). */
  command(ctx: ServerContext): { bin: string; args: string[]; cwd: string; env?: Record<string, string> };
  /** A real protocol round trip with authentication. Throws with a reason when not ready. */
  probe(access: Access, timeoutMs?: number, instance?: string): Promise<ProbeResult>;
  /**
   * Log in as the probe does and keep the connection: the supervisor's readiness probes
   * on it (a round trip instead of a login each time). Absent: every probe logs in.
   */
  session?(access: Access, timeoutMs: number, instance?: string): Promise<ProbeSession>;
  /** Runs after each successful start (roles, databases); idempotent. */
  afterStart?(ctx: ServerContext): Promise<void>;
  /** Re-read configuration and certificates in place, without a restart. */
  reload(ctx: ServerContext, rec: PidRecord): Promise<void>;
  /**
   * The order a cluster's running instances are stopped in (default: newest first).
   * PostgreSQL in ha stops its replicas before its primary, so stopping fails nothing over.
   */
  stopOrder?(access: Access, instances: string[]): Promise<string[]>;
  /**
   * The first instance must be ready before the others start: a cluster is created from
   * it (PostgreSQL in ha before its first member exists). Default: all start together.
   */
  startFirstAlone?(config: Config, paths: StatePaths): boolean;
  /** Clean shutdown that keeps every acknowledged write. */
  stop(access: Access, rec: PidRecord, timeoutMs: number, instance?: string): Promise<void>;
  /**
   * The shortest wait before restarting an instance that died (default: the
   * supervisor's backoff alone). A Redis node of the ha topology waits for the
   * sentinels to fail over first, so that it comes back as a replica.
   */
  minRestartDelayMs?(config: Config): number;
  /**
   * Its files depend on what changed while it ran (a Redis node's: which node the
   * sentinels made primary), so a restart renders and writes them again first.
   */
  freshFilesOnRestart?: boolean;
  /**
   * The server runs and answers, but is in a state only a restart clears (NATS turns
   * JetStream off for good when its disk fills up): the reason, or undefined when it is
   * not stuck or cannot tell (down, frozen). The supervisor's watchdog asks periodically.
   */
  stuck?(access: Access, instance: string): Promise<string | undefined>;
  /**
   * A probe failing for supervisor.unresponsiveRestartSec while the process lives means it is
   * wedged, and a restart is the cure. Not for servers whose probe may fail for long on
   * purpose (a PostgreSQL member being cloned, a cluster waiting for its quorum).
   */
  restartWhenUnresponsive?: boolean;
  /** Key figures, read as the server's monitoring login. */
  figures?(access: Access, timeoutMs: number, instance?: string): Promise<ServerFigures>;
  /** Present when the server checks passwords of one of the stack's services. */
  credentials?: CredentialsOwner;
}
