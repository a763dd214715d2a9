/**
 * PostgreSQL ha fault tests' tools: a writer that keeps a ledger of acknowledged
 * commits, the processes of a member (to kill or freeze them as a host failure would),
 * and what a healthy Patroni cluster looks like.
 */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { statePaths } from '../../src/config/paths.js';
import type { Config } from '../../src/config/schema.js';
import { postgresMembers } from '../../src/config/topology.js';
import { processTree } from '../../src/lib/process.js';
import type { Database } from '../../src/postgres/database.js';
import { anyPatroniCluster, type PatroniMember } from '../../src/servers/patroni.js';

export const instanceOf = (config: Config, name: string) => postgresMembers(config).find((m) => m.name === name)!.instance;

export const leaderOf = (config: Config, members: PatroniMember[]) => instanceOf(config, members.find((m) => m.role === 'leader')!.name);

/** The member's PostgreSQL (Patroni's child): the first line of its postmaster.pid. */
export const postmasterPid = (config: Config, instance: string) => Number(readFileSync(path.join(statePaths(config).pgMember(instance).data, 'postmaster.pid'), 'utf8').split('\n')[0]);

/** A healthy cluster: one running primary and every other member streaming, caught up (and a sync standby when synchronous). */
export async function healthyCluster(config: Config): Promise<PatroniMember[] | undefined> {
  const { members } = await anyPatroniCluster(config).catch(() => ({ members: [] as PatroniMember[] }));
  const leaders = members.filter((m) => m.role === 'leader' && m.state === 'running');
  const streaming = members.filter((m) => m.role !== 'leader' && (m.state === 'streaming' || m.state === 'running') && m.lag === 0);
  const n = config.postgres.ha.members;
  const sync = !config.postgres.ha.synchronous || members.some((m) => m.role === 'sync_standby');
  return members.length === n && leaders.length === 1 && streaming.length === n - 1 && sync ? members : undefined;
}

/**
 * Commits one row per transaction into ha_ledger through the library until stopped.
 * `acked` holds the ids whose COMMIT was acknowledged, with when each was sent and acknowledged.
 */
export function ledgerWriter(db: Database, from: number) {
  const acked: number[] = [];
  const sentAt: number[] = [];
  const ackedAt: number[] = [];
  let failed = 0;
  let stop = false;
  const done = (async () => {
    for (let id = from; !stop; id++) {
      const sent = performance.now();
      try {
        await db.transaction((tx) => tx.query('insert into ha_ledger (id) values ($1)', [id]));
        acked.push(id);
        sentAt.push(sent);
        ackedAt.push(performance.now());
      } catch {
        // Gave up, or the connection died during COMMIT (outcome unknown): not acknowledged.
        failed++;
      }
      await new Promise((r) => setTimeout(r, 5));
    }
  })();
  return {
    acked,
    /** when the id's COMMIT was acknowledged */
    ackedAtOf: (id: number) => ackedAt[acked.indexOf(id)]!,
    /** when the first write sent after `t` was acknowledged (the library retries it through a failover) */
    firstAckSentAfter: (t: number) => ackedAt[sentAt.findIndex((x) => x > t)],
    longestGapMs: () => ackedAt.slice(1).reduce((m, t, i) => Math.max(m, t - ackedAt[i]!), 0),
    failed: () => failed,
    async stop() {
      stop = true;
      await done;
    },
  };
}

export async function ledgerIds(db: Database): Promise<Set<number>> {
  const r = await db.query<{ id: string }>('select id from ha_ledger', [], { idempotent: true });
  return new Set(r.rows.map((x) => Number(x.id)));
}

/**
 * A member's host lost for good: its Patroni and every PostgreSQL process freeze (its leader lock
 * runs out, open connections hang), `whileLost` runs, then they are killed (the supervisor restarts them).
 */
export async function loseMember<T>(config: Config, patroniPid: number, instance: string, whileLost: (lostAt: number) => Promise<T>): Promise<{ lostAt: number; result: T }> {
  const frozen = [patroniPid, ...processTree(postmasterPid(config, instance))];
  const lostAt = performance.now();
  for (const pid of frozen) process.kill(pid, 'SIGSTOP');
  try {
    return { lostAt, result: await whileLost(lostAt) };
  } finally {
    for (const pid of frozen) process.kill(pid, 'SIGKILL');
  }
}
