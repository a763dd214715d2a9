/**
 * The supervisor's kept probe logins, one per running server whose driver offers one
 * (PostgreSQL, Redis, NATS): a readiness probe is then a round trip on it, not a login.
 * A PostgreSQL login is a backend start, a TLS handshake and a SCRAM exchange, 20-35 ms
 * on loopback here against about 1 ms for the query (docs/operations.md, "Probes").
 *
 * Logins are still proven: a session older than `renewMs` is replaced by a new login in
 * the background, and when that login fails the old session is closed, so the next
 * probe logs in itself and reports the failure. A server that stops accepting logins
 * (its connection slots used up, its password file broken) reads as down within
 * `renewMs`. A session that fails, or belongs to a process that has been restarted, is
 * dropped and the probe logs in again at once.
 */
import { performance } from 'node:perf_hooks';
import type { Access } from '../connect/access.js';
import { ProbeError } from '../errors/index.js';
import type { ProbeResult, ProbeSession } from '../servers/types.js';
import type { Managed } from './process-manager.js';

interface Kept {
  /** The process the login went to: another pid means a restart, and a dead connection. */
  pid: number | undefined;
  openedAt: number;
  session: Promise<ProbeSession>;
  renewing?: boolean;
}

export interface ProbeSessionOptions {
  /** Replace a session by a new login when it is older than this. */
  renewMs: number;
  /** Login timeout of a background renewal. */
  loginTimeoutMs: number;
}

function within<T>(p: Promise<T>, ms: number): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new ProbeError(`no answer within ${ms} ms`)), ms);
  });
  return Promise.race([p, late]).finally(() => clearTimeout(timer));
}

export class ProbeSessions {
  private readonly kept = new Map<string, Kept>();
  private closed = false;

  constructor(
    private readonly access: () => Access,
    private readonly opts: ProbeSessionOptions,
  ) {}

  /** A probe of `m`: on its kept session when there is one, else a login (kept for the next probe). */
  async probe(m: Managed, timeoutMs: number): Promise<ProbeResult> {
    if (!m.driver.session || this.closed) return m.driver.probe(this.access(), timeoutMs, m.instance);
    const k = this.current(m);
    if (k) {
      try {
        return await within(
          k.session.then((s) => s.probe()),
          timeoutMs,
        );
      } catch {
        // Broken (the server restarted, the connection was cut): a new login tells which.
        this.drop(m.instance, k);
      }
    }
    const started = performance.now();
    const fresh = this.open(m, timeoutMs);
    const r = await within(
      fresh.session.then((s) => s.probe()),
      timeoutMs,
    ).catch((e: unknown) => {
      this.drop(m.instance, fresh);
      throw e;
    });
    return { version: r.version, latencyMs: performance.now() - started };
  }

  /** Log in to every running server now, so that the first readiness probe is a round trip too. */
  warm(processes: readonly Managed[]): void {
    for (const m of processes) if (m.driver.session && m.state === 'running' && !this.kept.has(m.instance)) this.open(m, this.opts.loginTimeoutMs);
  }

  async closeAll(): Promise<void> {
    this.closed = true;
    const all = [...this.kept.values()];
    this.kept.clear();
    await Promise.all(all.map((k) => k.session.then((s) => s.close()).catch(() => {})));
  }

  /** The usable session of `m`, renewing it in the background when it is old. */
  private current(m: Managed): Kept | undefined {
    const k = this.kept.get(m.instance);
    if (!k) return undefined;
    if (k.pid !== m.rec?.pid) {
      this.drop(m.instance, k);
      return undefined;
    }
    if (!k.renewing && Date.now() - k.openedAt > this.opts.renewMs) this.renew(m, k);
    return k;
  }

  private renew(m: Managed, k: Kept): void {
    k.renewing = true;
    const next: Kept = { pid: k.pid, openedAt: Date.now(), session: m.driver.session!(this.access(), this.opts.loginTimeoutMs, m.instance) };
    next.session.then(
      (s) => {
        if (this.kept.get(m.instance) !== k || this.closed) return void s.close();
        this.kept.set(m.instance, next);
        void k.session.then((old) => old.close());
      },
      // The login failed: the next probe logs in itself and says why.
      () => this.drop(m.instance, k),
    );
  }

  private open(m: Managed, timeoutMs: number): Kept {
    const k: Kept = { pid: m.rec?.pid, openedAt: Date.now(), session: m.driver.session!(this.access(), timeoutMs, m.instance) };
    this.kept.set(m.instance, k);
    k.session.catch(() => this.drop(m.instance, k));
    return k;
  }

  private drop(instance: string, k: Kept): void {
    if (this.kept.get(instance) === k) this.kept.delete(instance);
    void k.session.then((s) => s.close()).catch(() => {});
  }
}
