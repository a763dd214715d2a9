/**
 * The ha topology's PostgreSQL members: each instance (postgres, postgres-2, ...) is a
 * Patroni process that runs its member's PostgreSQL. The postgres driver hands the
 * steps that differ to these functions. What a member is (primary, synchronous
 * standby, replica), its timeline and lag come from Patroni's REST API.
 */
import { existsSync, mkdirSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import type { StatePaths } from '../config/paths.js';
import type { Config } from '../config/schema.js';
import { postgresMembers, type PostgresMember } from '../config/topology.js';
import type { Access } from '../connect/access.js';
import { pgClient, pgEndpoint } from '../connect/postgres.js';
import { restRequest } from '../connect/rest.js';
import { BinaryNotFoundError, ProbeError } from '../errors/index.js';
import { REQUIREMENTS, requireBinary, versionOutput } from '../lib/packages.js';
import { run } from '../lib/process.js';
import { chownToServiceUser } from '../lib/service-user.js';
import { installServerCert, privateDir, writeServerFiles } from './files.js';
import type { Binaries, PostgresFigures, ServerContext } from './types.js';

/** Patroni's view of one member (GET /cluster). */
export interface PatroniMember {
  name: string;
  /** leader, sync_standby or replica */
  role: string;
  /** running, streaming, starting, creating replica, stopped ... */
  state: string;
  host: string;
  port: number;
  timeline?: number;
  /** bytes behind the primary; absent on the primary */
  lag?: number | string;
}

export function member(config: Config, instance: string): PostgresMember {
  const m = postgresMembers(config).find((x) => x.instance === instance);
  if (!m) throw new ProbeError(`the configuration runs no PostgreSQL member ${instance}`);
  return m;
}

/** Written once the first member's data directory exists: from then on Patroni clones, dataplane never runs initdb again. */
export function clusterCreatedMarker(paths: StatePaths): string {
  return path.join(paths.pg.dir, '.cluster-created');
}

/** Patroni and the tools it needs besides the PostgreSQL 16 server binaries. */
export async function locatePatroni(base: Binaries): Promise<Binaries> {
  const patroni = requireBinary(REQUIREMENTS.patroni);
  requireBinary(REQUIREMENTS.patroniIdna);
  const r = await versionOutput(patroni, ['--version']);
  const m = /patroni (\d+\.\d+\.\d+)/.exec(r.stdout);
  if (!m) throw new BinaryNotFoundError('patroni', `${patroni} did not report a version; reinstall the Debian package patroni`);
  return { ...base, patroni, patroniVersion: m[1]!, pgControldata: requireBinary(REQUIREMENTS.pgControldata), pgIsready: requireBinary(REQUIREMENTS.pgIsready) };
}

/** The bin_dir Patroni runs: the server's binaries and Debian's pg_controldata and pg_isready, as links. */
function linkBinDir(dir: string, b: Binaries, user: ServerContext['user']): void {
  mkdirSync(dir, { recursive: true, mode: 0o755 });
  // The CLI runs with umask 077: give the folder to the service user outright.
  chownToServiceUser([dir], user);
  const links: Record<string, string> = {
    postgres: b.server,
    initdb: b.initdb!,
    pg_ctl: path.join(b.binDir!, 'pg_ctl'),
    pg_controldata: b.pgControldata!,
    pg_isready: b.pgIsready!,
  };
  for (const [name, target] of Object.entries(links)) {
    const link = path.join(dir, name);
    rmSync(link, { force: true });
    symlinkSync(target, link);
  }
}

/**
 * A member's folder, certificates, Patroni's files and bin_dir. The first member's
 * data directory is created by `initdb` (passed in) before the cluster exists; the
 * others stay empty until Patroni clones them from the primary.
 */
export async function preparePatroniMember(ctx: ServerContext, initdb: () => Promise<void>): Promise<void> {
  const { paths, user } = ctx;
  const p = paths.pgMember(ctx.instance);
  privateDir(p.dir, user);
  privateDir(paths.pg.walArchive, user);
  const marker = clusterCreatedMarker(paths);
  if (member(ctx.config, ctx.instance).index === 0 && !existsSync(marker)) {
    if (!existsSync(path.join(p.data, 'PG_VERSION'))) await initdb();
    writeFileSync(marker, `${new Date().toISOString()}\n`);
    chownToServiceUser([marker], user);
  }
  if (ctx.tls) installServerCert(p.tls, ctx.tls.servers.postgres, user, ctx.tls.caFile);
  linkBinDir(p.bin, ctx.binaries, user);
  writeServerFiles(
    p.dir,
    ctx.files.filter((f) => f.service === ctx.instance),
    user,
  );
}

/** Before the cluster exists, the first member starts alone: the others are cloned from it. */
export function clusterExists(paths: StatePaths): boolean {
  return existsSync(clusterCreatedMarker(paths));
}

/** Every member as Patroni sees it, asked of `instance` (any member answers for all). */
export async function patroniCluster(config: Config, instance: string, timeoutMs = 2000): Promise<PatroniMember[]> {
  const m = member(config, instance);
  const r = await restRequest<{ members?: PatroniMember[] }>(config, { host: m.host, port: m.restApiPort! }, '/cluster', { timeoutMs });
  if (r.status !== 200 || !Array.isArray(r.body?.members)) throw new ProbeError(`Patroni of ${instance} answered ${r.status}`);
  return r.body.members;
}

/** The cluster as the first member that answers sees it. */
export async function anyPatroniCluster(config: Config, timeoutMs = 2000): Promise<{ members: PatroniMember[]; askedOf: string }> {
  let last: unknown;
  for (const m of postgresMembers(config)) {
    try {
      return { members: await patroniCluster(config, m.instance, timeoutMs), askedOf: m.instance };
    } catch (e) {
      last = e;
    }
  }
  throw new ProbeError(`no Patroni answers: ${(last as Error)?.message ?? 'no members'}`);
}

/** The instance Patroni made primary, or undefined while there is none. */
export async function leaderInstance(access: Access, timeoutMs = 2000): Promise<string | undefined> {
  const { members } = await anyPatroniCluster(access.config, timeoutMs);
  const leader = members.find((x) => x.role === 'leader' && x.state === 'running');
  return leader ? postgresMembers(access.config).find((m) => m.name === leader.name)?.instance : undefined;
}

const ROLE_WORDS: Record<string, NonNullable<PostgresFigures['member']>['role']> = { leader: 'primary', master: 'primary', sync_standby: 'sync standby', replica: 'replica' };

/** A member's role, state, timeline and lag, as its own Patroni reports the cluster. */
export async function memberFigures(config: Config, instance: string, timeoutMs = 2000): Promise<PostgresFigures['member']> {
  const m = member(config, instance);
  const me = (await patroniCluster(config, instance, timeoutMs)).find((x) => x.name === m.name);
  if (!me) throw new ProbeError(`Patroni does not list ${m.name} as a member yet`);
  return {
    name: m.name,
    role: ROLE_WORDS[me.role] ?? 'replica',
    state: me.state,
    timeline: me.timeline ?? null,
    lagBytes: typeof me.lag === 'number' ? me.lag : null,
  };
}

export interface SwitchoverResult {
  from: string;
  to: string;
  /** from the request until the new primary accepted writes through the primary address */
  ms: number;
}

/**
 * A planned switchover: Patroni stops writes on the primary, waits for `candidate` (or
 * the synchronous standby it picks) to catch up, promotes it, and makes the old
 * primary its replica. Resolves once the new primary is the leader and running.
 */
export async function switchover(access: Access, opts: { to?: string; timeoutMs?: number } = {}): Promise<{ from: string; to: string; requestedAt: number }> {
  const { config } = access;
  // Right after a failover or switchover the old primary is still catching up: in synchronous
  // mode Patroni refuses a switchover until a synchronous standby exists again, so wait for one.
  const ready = (ms: PatroniMember[]) => ms.some((x) => x.role === 'leader') && (!config.postgres.ha.synchronous || ms.some((x) => x.role === 'sync_standby'));
  const waitUntil = Date.now() + (opts.timeoutMs ?? 30_000);
  let members = (await anyPatroniCluster(config)).members;
  while (!ready(members) && Date.now() < waitUntil) {
    await new Promise((res) => setTimeout(res, 250));
    members = (await anyPatroniCluster(config).catch(() => ({ members }))).members;
  }
  const leader = members.find((x) => x.role === 'leader');
  if (!leader) throw new ProbeError('there is no primary to switch over from (a failover is under way, or no member runs)');
  if (!ready(members)) throw new ProbeError('no synchronous standby is in sync yet (a member is still catching up); try again once `dataplane status` shows one');
  const byInstance = (i: string) => postgresMembers(config).find((m) => m.instance === i || m.name === i);
  const candidate = opts.to ? byInstance(opts.to) : undefined;
  if (opts.to && !candidate) throw new ProbeError(`no member ${opts.to}: the members are ${postgresMembers(config).map((m) => m.instance).join(', ')}`);
  if (candidate?.name === leader.name) throw new ProbeError(`${opts.to} is the primary already`);
  // Patroni answers only "candidate name does not match with sync_standby": say which one is.
  const sync = members.find((x) => x.role === 'sync_standby');
  if (candidate && config.postgres.ha.synchronous && sync && sync.name !== candidate.name) {
    const syncInstance = byInstance(sync.name)!.instance;
    throw new ProbeError(`${opts.to} is not the synchronous standby (${syncInstance} is): in synchronous mode only it has every acknowledged commit. Use --to ${syncInstance}, or leave --to out`);
  }
  const from = byInstance(leader.name)!;
  const requestedAt = performance.now();
  const r = await restRequest<string>(config, { host: from.host, port: from.restApiPort! }, '/switchover', {
    method: 'POST',
    body: { leader: leader.name, ...(candidate ? { candidate: candidate.name } : {}) },
    timeoutMs: opts.timeoutMs ?? 30_000,
  });
  if (r.status !== 200) throw new ProbeError(`Patroni refused the switchover (${r.status}): ${typeof r.body === 'string' ? r.body : JSON.stringify(r.body)}`);
  const deadline = Date.now() + (opts.timeoutMs ?? 30_000);
  for (;;) {
    const now = await anyPatroniCluster(config).catch(() => undefined);
    const next = now?.members.find((x) => x.role === 'leader' && x.state === 'running' && x.name !== leader.name);
    if (next) return { from: from.instance, to: byInstance(next.name)!.instance, requestedAt };
    if (Date.now() > deadline) throw new ProbeError(`no new primary within ${opts.timeoutMs ?? 30_000} ms after the switchover request`);
    await new Promise((res) => setTimeout(res, 100));
  }
}

/** Wait until the primary address (HAProxy) reaches `instance` as a writable primary. */
export async function waitForPrimaryAddress(access: Access, instance: string, timeoutMs = 30_000): Promise<void> {
  const want = member(access.config, instance).port;
  const deadline = Date.now() + timeoutMs;
  let last = 'no answer yet';
  while (Date.now() < deadline) {
    const c = pgClient(pgEndpoint(access, access.config.postgres.superuser), { timeoutMs: 1000, queryTimeoutMs: 1000 });
    try {
      await c.connect();
      const r = (await c.query<{ recovery: boolean; port: number }>('select pg_is_in_recovery() as recovery, inet_server_port() as port')).rows[0]!;
      if (!r.recovery && r.port === want) return;
      last = r.recovery ? 'it reaches a replica' : `it reaches the member on port ${r.port}`;
    } catch (e) {
      last = (e as Error).message;
    } finally {
      await c.end().catch(() => {});
    }
    await new Promise((res) => setTimeout(res, 100));
  }
  throw new ProbeError(`the primary address does not reach ${instance} after ${timeoutMs} ms: ${last}`);
}
