/**
 * Backup files: each source file is stored gzip-compressed on its own, with the
 * size and SHA-256 of the original bytes, so one damaged file is found and named
 * by `verify`, and a restore can check every byte it writes. With encryption
 * (backup.encryption), the compressed bytes are encrypted to age recipients on the
 * way to disk (`<name>.age`) and decrypted on the way back; age authenticates every
 * chunk, so a changed byte is an error before the checksum is even compared.
 */
import { createHash } from 'node:crypto';
import { createReadStream, createWriteStream, mkdirSync } from 'node:fs';
import path from 'node:path';
import { Readable, Transform, Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { createGunzip, createGzip } from 'node:zlib';
import { decryptFailure, decryptStream, encryptStream } from '../lib/age.js';

/** How stored files are sealed: encrypted to `recipients` when writing, opened with `identities` when reading. */
export interface Sealing {
  recipients?: string[];
  identities?: string[];
}

/** A stored file's bytes as they were before sealing (decrypted when an identity is given). */
async function opened(src: string, seal: Sealing | undefined): Promise<Readable> {
  const raw = createReadStream(src);
  return seal?.identities ? decryptStream(raw, seal.identities) : raw;
}

/** Errors of a sealed file read in words (which file; wrong key or changed bytes). */
function readFailure(e: unknown, src: string, seal: Sealing | undefined): Error {
  return seal?.identities ? decryptFailure(e, src) : (e as Error);
}

export interface StoredFile {
  /** path relative to the source root, e.g. base/16384/2619 */
  path: string;
  size: number;
  sha256: string;
}

/** Counts and hashes what passes through. */
function digest(): Transform & { result(): { size: number; sha256: string } } {
  const hash = createHash('sha256');
  let size = 0;
  const t = new Transform({
    transform(chunk: Buffer, _enc, cb) {
      hash.update(chunk);
      size += chunk.length;
      cb(null, chunk);
    },
  }) as Transform & { result(): { size: number; sha256: string } };
  t.result = () => ({ size, sha256: hash.digest('hex') });
  return t;
}

/** Copy `src` to `dest` (gzip level 1: fast, and WAL-heavy data compresses well anyway), encrypted with `seal.recipients`. */
export async function storeCompressed(src: string, dest: string, seal?: Sealing): Promise<{ size: number; sha256: string }> {
  mkdirSync(path.dirname(dest), { recursive: true });
  const d = digest();
  if (!seal?.recipients?.length) {
    await pipeline(createReadStream(src), d, createGzip({ level: 1 }), createWriteStream(dest, { mode: 0o600 }));
    return d.result();
  }
  // The encryption is a web stream, outside pipeline(): errors upstream (a file that vanished) are forwarded by hand.
  const source = createReadStream(src);
  const gzip = createGzip({ level: 1 });
  source.once('error', (e) => gzip.destroy(e));
  d.once('error', (e) => gzip.destroy(e));
  await pipeline(await encryptStream(source.pipe(d).pipe(gzip), seal.recipients), createWriteStream(dest, { mode: 0o600 }));
  return d.result();
}

/** Decompress `src` to `dest` and return what was written, for comparison with the manifest. */
export async function extractCompressed(src: string, dest: string, mode = 0o600, seal?: Sealing): Promise<{ size: number; sha256: string }> {
  mkdirSync(path.dirname(dest), { recursive: true });
  const d = digest();
  try {
    await pipeline(await opened(src, seal), createGunzip(), d, createWriteStream(dest, { mode }));
  } catch (e) {
    throw readFailure(e, src, seal);
  }
  return d.result();
}

/** Read a stored file through and hash it, without writing anything. */
export async function checkCompressed(src: string, seal?: Sealing): Promise<{ size: number; sha256: string }> {
  const d = digest();
  const sink = new Writable({ write: (_c, _e, cb) => cb() });
  try {
    await pipeline(await opened(src, seal), createGunzip(), d, sink);
  } catch (e) {
    throw readFailure(e, src, seal);
  }
  return d.result();
}

/** Run `fn` over `items`, at most `limit` at a time. */
export async function eachLimited<T>(items: T[], limit: number, fn: (item: T) => Promise<void>): Promise<void> {
  let next = 0;
  const worker = async () => {
    while (next < items.length) await fn(items[next++]!);
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
}

/** Hash a file stored as it came (JetStream snapshots are compressed by the server already). */
export async function checkRaw(src: string, seal?: Sealing): Promise<{ size: number; sha256: string }> {
  const d = digest();
  const sink = new Writable({ write: (_c, _e, cb) => cb() });
  try {
    await pipeline(await opened(src, seal), d, sink);
  } catch (e) {
    throw readFailure(e, src, seal);
  }
  return d.result();
}

/** A stored raw file's bytes (decrypted when sealed): JetStream restores stream them to the server. */
export function openStored(src: string, seal?: Sealing): Promise<Readable> {
  return opened(src, seal);
}
