/** Does host:port answer a TCP connect: the check that tells a host cut off (no answer at all) from a server down (refused). */
import net from 'node:net';

/** open: something listens; refused: the host answers but nothing listens; filtered: no answer (a firewall, or the host is gone). */
export type Reach = 'open' | 'refused' | 'filtered';

export function tcpReach(host: string, port: number, timeoutMs: number): Promise<Reach> {
  return new Promise((resolve) => {
    const s = net.connect({ host, port });
    const done = (r: Reach) => {
      s.destroy();
      resolve(r);
    };
    s.setTimeout(timeoutMs, () => done('filtered'));
    s.once('connect', () => done('open'));
    s.once('error', (e: NodeJS.ErrnoException) => done(e.code === 'ECONNREFUSED' ? 'refused' : 'filtered'));
  });
}
