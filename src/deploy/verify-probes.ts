/**
 * What `deploy verify` asks of a TLS port before any login: which certificate it
 * presents. Written here because no client library hands out the peer certificate of
 * a PostgreSQL (SSLRequest) or NATS (INFO first) connection: both open in plain text
 * and then start TLS on the same socket, which takes a few bytes of each protocol.
 */
import net from 'node:net';
import tls, { type PeerCertificate } from 'node:tls';

export interface CertificateSeen {
  subject: string;
  /** ISO date */
  expires: string;
  daysLeft: number;
  /** the chain leads to the project's CA */
  trusted: boolean;
  /** each name asked about, and whether the certificate covers it */
  covers: Record<string, boolean>;
  problem?: string;
}

// PostgreSQL's SSLRequest: length 8, then the request code 1234.5679.
const SSL_REQUEST = Buffer.from([0, 0, 0, 8, 0x04, 0xd2, 0x16, 0x2f]);

/** The plain-text opening each protocol needs before TLS starts on the same socket. */
function opening(socket: net.Socket, how: 'postgres' | 'nats'): Promise<void> {
  return new Promise((resolve, reject) => {
    let seen = Buffer.alloc(0);
    const onData = (chunk: Buffer) => {
      seen = Buffer.concat([seen, chunk]);
      if (how === 'postgres') {
        socket.off('data', onData);
        return seen[0] === 0x53 ? resolve() : reject(new Error('the server does not offer TLS (answered the SSLRequest with N)'));
      }
      // NATS: the server speaks first, one INFO line; the client then starts TLS.
      if (!seen.includes(0x0a)) return;
      socket.off('data', onData);
      return seen.subarray(0, 5).toString() === 'INFO ' ? resolve() : reject(new Error(`not a NATS server: ${seen.subarray(0, 40).toString().trim()}`));
    };
    socket.on('data', onData);
    // A socket ended or destroyed by the timeout must settle this too.
    socket.once('error', reject);
    socket.once('close', () => reject(new Error('the connection closed before TLS started')));
    if (how === 'postgres') socket.write(SSL_REQUEST);
  });
}

/**
 * Starts TLS on host:port as a client of the project's CA would (with a client certificate
 * for the endpoints that require one), and reports the certificate against `names`.
 */
export async function peekCertificate(
  target: { host: string; port: number; how: 'direct' | 'postgres' | 'nats' },
  opts: { ca: string; cert?: Buffer; key?: Buffer; names: string[]; timeoutMs: number },
): Promise<CertificateSeen> {
  const raw = new net.Socket();
  const timer = setTimeout(() => raw.destroy(new Error(`no TLS handshake within ${opts.timeoutMs} ms`)), opts.timeoutMs);
  try {
    await new Promise<void>((resolve, reject) => {
      raw.once('error', reject);
      raw.connect({ host: target.host, port: target.port }, resolve);
    });
    if (target.how !== 'direct') await opening(raw, target.how);
    const secure = tls.connect({ socket: raw, ca: opts.ca, cert: opts.cert, key: opts.key, rejectUnauthorized: false, servername: net.isIP(target.host) ? undefined : target.host });
    const peer = await new Promise<PeerCertificate>((resolve, reject) => {
      secure.once('secureConnect', () => resolve(secure.getPeerCertificate()));
      secure.once('error', reject);
      raw.once('error', reject);
      raw.once('close', () => reject(new Error('the connection closed during the TLS handshake')));
    });
    const trusted = secure.authorized;
    const problem = trusted ? undefined : String(secure.authorizationError);
    secure.destroy();
    const expires = new Date(peer.valid_to);
    return {
      subject: [peer.subject?.CN ?? ''].flat().join(', '),
      expires: expires.toISOString(),
      daysLeft: Math.floor((expires.getTime() - Date.now()) / 86_400_000),
      trusted,
      covers: Object.fromEntries(opts.names.map((n) => [n, tls.checkServerIdentity(n, peer) === undefined])),
      ...(problem ? { problem } : {}),
    };
  } finally {
    clearTimeout(timer);
    raw.destroy();
  }
}
