/**
 * Password verifiers in each server's native format, so rendered config files and
 * SQL statements never carry a plaintext password.
 */
import { createHash, createHmac, pbkdf2Sync, randomBytes } from 'node:crypto';
import bcrypt from 'bcryptjs';

const SCRAM_ITERATIONS = 4096; // PostgreSQL's default scram_iterations

/**
 * A PostgreSQL SCRAM-SHA-256 verifier (RFC 5802/7677, as PostgreSQL stores it).
 * Written by hand: node-postgres only implements the client side of SCRAM, and
 * sending the verifier instead of the password keeps the plaintext out of the
 * server's statement log. Secrets are printable ASCII (checked by the store), for
 * which SASLprep is the identity.
 */
export function scramSha256Verifier(password: string, salt: Buffer = randomBytes(16)): string {
  const salted = pbkdf2Sync(password, salt, SCRAM_ITERATIONS, 32, 'sha256');
  const clientKey = createHmac('sha256', salted).update('Client Key').digest();
  const storedKey = createHash('sha256').update(clientKey).digest();
  const serverKey = createHmac('sha256', salted).update('Server Key').digest();
  return `SCRAM-SHA-256$${SCRAM_ITERATIONS}:${salt.toString('base64')}$${storedKey.toString('base64')}:${serverKey.toString('base64')}`;
}

/** Redis ACL `#<hex sha256>` password form. */
export function redisAclHash(password: string): string {
  return `#${createHash('sha256').update(password).digest('hex')}`;
}

/**
 * bcrypt for nats-server. nats-server 2.9 only recognises the "$2a$" prefix;
 * bcryptjs writes "$2b$", which differs from 2a only for passwords over 255 bytes
 * (ours are 32), so relabelling is exact. Cost 10 keeps a connect near 50 ms.
 */
export function natsBcrypt(password: string): string {
  return bcrypt.hashSync(password, 10).replace(/^\$2b\$/, '$2a$');
}

/** True when a stored SCRAM verifier was made from `password` (same salt, same result). */
export function scramVerifierMatches(stored: string | null | undefined, password: string): boolean {
  const m = /^SCRAM-SHA-256\$(\d+):([^$]+)\$([^:]+):(.+)$/.exec(stored ?? '');
  if (!m || Number(m[1]) !== SCRAM_ITERATIONS) return false;
  return scramSha256Verifier(password, Buffer.from(m[2]!, 'base64')) === stored;
}
