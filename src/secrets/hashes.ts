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
 * (ours are 32), so relabelling is exact.
 *
 * The cost is what nats-server pays on every connect. For a generated secret (192
 * random bits) no cost adds anything: guessing it is hopeless either way, so the
 * minimum (4, under a millisecond) keeps a connect, and a probe, fast. A secret
 * supplied from the environment may be weaker and gets cost 10 (~50 ms a connect).
 */
export function natsBcrypt(password: string, generated = false): string {
  const cost = generated ? 4 : 10;
  const digest = `${cost}:${sha256Base64(password)}`;
  let h = bcryptByDigest.get(digest);
  if (!h) bcryptByDigest.set(digest, (h = bcrypt.hashSync(password, cost).replace(/^\$2b\$/, '$2a$')));
  return h;
}

/**
 * bcrypt hashes made before, by cost and the SHA-256 of their password: a warm start
 * renders nats.conf again, and fresh cost-10 hashes cost a tenth of a second each.
 * Kept in the state folder (0600) like Redis's ACL file, which holds the same kind of
 * digest.
 */
const bcryptByDigest = new Map<string, string>();
const sha256Base64 = (s: string) => createHash('sha256').update(s).digest('base64');

export function rememberNatsBcrypt(memo: Record<string, string>): void {
  for (const [digest, hash] of Object.entries(memo)) if (/^(4|10):/.test(digest) && /^\$2a\$(04|10)\$/.test(hash)) bcryptByDigest.set(digest, hash);
}

/** The memo for these passwords only (those in use: a rotated one is dropped). */
export function natsBcryptMemo(passwords: string[]): Record<string, string> {
  const out: Record<string, string> = {};
  for (const p of passwords) {
    for (const cost of [4, 10]) {
      const d = `${cost}:${sha256Base64(p)}`;
      const h = bcryptByDigest.get(d);
      if (h) out[d] = h;
    }
  }
  return out;
}

/** True when a stored SCRAM verifier was made from `password` (same salt, same result). */
export function scramVerifierMatches(stored: string | null | undefined, password: string): boolean {
  const m = /^SCRAM-SHA-256\$(\d+):([^$]+)\$([^:]+):(.+)$/.exec(stored ?? '');
  if (!m || Number(m[1]) !== SCRAM_ITERATIONS) return false;
  return scramSha256Verifier(password, Buffer.from(m[2]!, 'base64')) === stored;
}
