/**
 * The supervisor's readiness (/readyz, and `status` through it): a probe per running
 * server on its kept login, its key figures, and one required component per cluster.
 */
import { SERVICES, type Config } from '../config/schema.js';
import type { Access } from '../connect/access.js';
import type { ComponentHealth } from '../observe/health.js';
import { figuresOf } from '../servers/index.js';
import type { ProbeResult, ServerFigures } from '../servers/types.js';
import { ProbeSessions } from './probe-sessions.js';
import type { Managed, ProcessManager } from './process-manager.js';

/** How long a probe login is kept before a new one proves that logins still work. */
export const PROBE_LOGIN_RENEW_MS = 30_000;
const PROBE_TIMEOUT_MS = 1500;

export class Readiness {
  private readonly figuresCache = new Map<string, { at: number; value: Promise<{ figures?: ServerFigures; error?: string }> }>();
  private readonly sessions: ProbeSessions;

  constructor(
    private readonly config: Config,
    private readonly processes: ProcessManager,
    private readonly access: () => Access,
  ) {
    this.sessions = new ProbeSessions(access, { renewMs: PROBE_LOGIN_RENEW_MS, loginTimeoutMs: PROBE_TIMEOUT_MS });
  }

  /** Log in to the running servers now: the first /readyz after `up` is a round trip too. */
  warm(): void {
    this.sessions.warm(this.processes.all);
  }

  close(): Promise<void> {
    return this.sessions.closeAll();
  }

  /**
   * Key figures for /readyz, shared for two seconds: readiness is polled often (load
   * balancers, restart checks) and each reading costs extra logins on the servers; the
   * probe itself stays live on every call.
   */
  private figures(m: Managed): Promise<{ figures?: ServerFigures; error?: string }> {
    const hit = this.figuresCache.get(m.instance);
    if (hit && Date.now() - hit.at < 2000) return hit.value;
    const value = figuresOf(m.driver, this.access(), PROBE_TIMEOUT_MS, m.instance);
    this.figuresCache.set(m.instance, { at: Date.now(), value });
    return value;
  }

  /**
   * Per-component readiness: a live probe for running servers, the reason otherwise.
   * A server of several nodes is one required component ("<server> cluster"), ready
   * while a majority of its nodes answers; its nodes are reported but not required.
   */
  async check(): Promise<ComponentHealth[]> {
    const nodes = await this.nodeReadiness();
    const clusters = new Map<string, ComponentHealth[]>();
    for (const m of this.processes.all) {
      if (m.driver.instances(this.config).length > 1) clusters.set(m.driver.name, [...(clusters.get(m.driver.name) ?? []), nodes.find((c) => c.name === m.instance)!]);
    }
    const quorums = [...clusters].map(([service, members]): ComponentHealth => {
      const up = members.filter((c) => c.status === 'up').length;
      // Redis serves while its primary does (replicas are copies); the others need a majority.
      // PostgreSQL serves while one member does (HAProxy, required on its own, proves it is a primary).
      const ok = service === 'redis' ? members.some((c) => c.status === 'up' && c.details?.role === 'master') : service === 'postgres' ? up > 0 : up > members.length / 2;
      return {
        name: `${service} cluster`,
        status: ok ? 'up' : 'down',
        required: true,
        details: { nodesUp: up, nodes: members.length, down: members.filter((c) => c.status !== 'up').map((c) => c.name) },
        ...(ok ? {} : { reason: service === 'redis' ? 'no node answers as the primary' : service === 'postgres' ? 'no member answers' : `only ${up} of ${members.length} nodes answer: no majority` }),
      };
    });
    const inCluster = new Set([...clusters.values()].flat().map((c) => c.name));
    return [...nodes.map((c) => (inCluster.has(c.name) ? { ...c, required: false } : c)), ...quorums];
  }

  private async nodeReadiness(): Promise<ComponentHealth[]> {
    const all = this.processes.all;
    // The round trips on kept logins first, then the probes that connect (HTTP), then the figures:
    // a probe's latency is then its server's, not a share of this thread with TLS handshakes and logins.
    const probe = (m: Managed) => (m.state === 'running' ? this.sessions.probe(m, PROBE_TIMEOUT_MS) : Promise.reject(new Error(m.state)));
    const kept = await Promise.allSettled(all.map((m) => (m.driver.session ? probe(m) : undefined)));
    const connecting = await Promise.allSettled(all.map((m) => (m.driver.session ? undefined : probe(m))));
    const probes = all.map((m, i) => (m.driver.session ? kept[i] : connecting[i]) as PromiseSettledResult<ProbeResult>);
    return Promise.all(
      all.map(async (m, i): Promise<ComponentHealth> => {
        // Monitoring is reported, but serving data does not depend on it.
        const required = [...SERVICES, 'etcd', 'haproxy'].includes(m.driver.name);
        if (m.state !== 'running') {
          return { name: m.instance, status: 'down', required, reason: m.lastExit ? `${m.state} after it ${m.lastExit}` : m.state };
        }
        const p = probes[i]!;
        if (p.status === 'rejected') return { name: m.instance, status: 'down', required, reason: (p.reason as Error).message };
        const f = m.driver.figures ? await this.figures(m) : undefined;
        const details = f ? (f.figures ? { ...f.figures } : { figuresError: f.error }) : undefined;
        return { name: m.instance, status: 'up', required, latencyMs: Math.round(p.value.latencyMs * 10) / 10, version: p.value.version || m.version, ...(details ? { details } : {}) };
      }),
    );
  }
}
