/**
 * Backup files: each source file is stored gzip-compressed on its own, with the
 * size and SHA-256 of the original bytes, so one damaged file is found and named
 * by `verify`, and a restore can check every byte it writes.
 */
import { createHash } from 'node:crypto';
import { createReadStream, createWriteStream, mkdirSync } from 'node:fs';
import path from 'node:path';
import { Transform, Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { createGunzip, createGzip } from 'node:zlib';

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

/** Copy `src` to `dest` (gzip level 1: fast, and WAL-heavy data compresses well anyway). */
export async function storeCompressed(src: string, dest: string): Promise<{ size: number; sha256: string }> {
  mkdirSync(path.dirname(dest), { recursive: true });
  const d = digest();
  await pipeline(createReadStream(src), d, createGzip({ level: 1 }), createWriteStream(dest, { mode: 0o600 }));
  return d.result();
}

/** Decompress `src` to `dest` and return what was written, for comparison with the manifest. */
export async function extractCompressed(src: string, dest: string, mode = 0o600): Promise<{ size: number; sha256: string }> {
  mkdirSync(path.dirname(dest), { recursive: true });
  const d = digest();
  await pipeline(createReadStream(src), createGunzip(), d, createWriteStream(dest, { mode }));
  return d.result();
}

/** Read a stored file through and hash it, without writing anything. */
export async function checkCompressed(src: string): Promise<{ size: number; sha256: string }> {
  const d = digest();
  const sink = new Writable({ write: (_c, _e, cb) => cb() });
  await pipeline(createReadStream(src), createGunzip(), d, sink);
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
export async function checkRaw(src: string): Promise<{ size: number; sha256: string }> {
  const d = digest();
  const sink = new Writable({ write: (_c, _e, cb) => cb() });
  await pipeline(createReadStream(src), d, sink);
  return d.result();
}
