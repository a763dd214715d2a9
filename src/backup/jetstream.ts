/**
 * JetStream stream backups through the server's own snapshot and restore API
 * ($JS.API.STREAM.SNAPSHOT / RESTORE, what `nats stream backup` uses). The nats.js
 * 3.x client does not expose it, so the protocol is spoken here: a snapshot keeps
 * every message with its sequence, subject, headers and time, and the consumers
 * with their state, so a restore into an empty server gives the identical stream.
 */
import { createHash } from 'node:crypto';
import { createWriteStream, mkdirSync } from 'node:fs';
import path from 'node:path';
import { once } from 'node:events';
import { PassThrough } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { createInbox, type NatsConnection } from '@nats-io/transport-node';
import { encryptStream } from '../lib/age.js';
import { BackupError, RestoreError } from './errors.js';
import { checkRaw, openStored, type Sealing, type StoredFile } from './files.js';

const CHUNK = 128 * 1024;
const API_TIMEOUT_MS = 30_000;

interface ApiError {
  error?: { code: number; err_code?: number; description: string };
}

async function api<T>(nc: NatsConnection, subject: string, body: unknown, fail: (m: string) => Error): Promise<T> {
  const m = await nc.request(subject, JSON.stringify(body), { timeout: API_TIMEOUT_MS });
  const r = m.json<T & ApiError>();
  if (r.error) throw fail(`${subject}: ${r.error.description} (${r.error.code})`);
  return r;
}

export interface StreamSnapshot {
  name: string;
  /** the stream's configuration and state when the snapshot began */
  config: Record<string, unknown>;
  state: { messages: number; bytes: number; first_seq: number; last_seq: number; consumer_count: number };
  /** the server's snapshot (an s2-compressed archive), stored as it came */
  file: StoredFile;
}

/**
 * Stream the snapshot of `stream` into `dir/<stream>.snapshot` (`.snapshot.age`,
 * encrypted on the way, with `seal`), acknowledging each chunk.
 */
export async function snapshotStream(nc: NatsConnection, stream: string, dir: string, seal?: Sealing): Promise<StreamSnapshot> {
  mkdirSync(dir, { recursive: true });
  const inbox = createInbox();
  const sub = nc.subscribe(inbox);
  const rel = `${stream}.snapshot`;
  const out = new PassThrough();
  const file = createWriteStream(path.join(dir, seal ? `${rel}.age` : rel), { mode: 0o600 });
  const written = pipeline(seal?.recipients ? await encryptStream(out, seal.recipients) : out, file);
  written.catch(() => {});
  const hash = createHash('sha256');
  let size = 0;
  try {
    const res = await api<{ config: Record<string, unknown>; state: StreamSnapshot['state'] }>(nc, `$JS.API.STREAM.SNAPSHOT.${stream}`, {
      deliver_subject: inbox,
      no_consumers: false,
      chunk_size: CHUNK,
      jsck: false,
    }, (m) => new BackupError(m));
    for await (const m of sub) {
      if (!m.data.length) {
        // The end; a status header here is the server giving up (e.g. we were too slow).
        if (m.headers && m.headers.code >= 400) throw new BackupError(`snapshot of ${stream} failed: ${m.headers.code} ${m.headers.description}`);
        break;
      }
      hash.update(m.data);
      size += m.data.length;
      if (!out.write(m.data)) await once(out, 'drain');
      // The reply subject is the server's flow control: it sends more once chunks are acknowledged.
      if (m.reply) m.respond();
    }
    out.end();
    await written;
    return { name: stream, config: res.config, state: res.state, file: { path: rel, size, sha256: hash.digest('hex') } };
  } finally {
    sub.unsubscribe();
    if (!out.closed) out.destroy();
    if (!file.closed) file.destroy();
  }
}

/** The snapshot's bytes (decrypted with `seal`) in chunks of the restore API's size. */
async function* chunksOf(file: string, seal: Sealing | undefined): AsyncGenerator<Buffer> {
  let pending = Buffer.alloc(0);
  for await (const c of await openStored(file, seal)) {
    pending = Buffer.concat([pending, c as Buffer]);
    while (pending.length >= CHUNK) {
      yield pending.subarray(0, CHUNK);
      pending = pending.subarray(CHUNK);
    }
  }
  if (pending.length) yield pending;
}

/** Create `snap.name` from its snapshot file (`.age` with `seal`); the stream must not exist. */
export async function restoreStream(nc: NatsConnection, snap: StreamSnapshot, dir: string, seal?: Sealing): Promise<{ messages: number; lastSeq: number }> {
  const stored = seal ? `${snap.file.path}.age` : snap.file.path;
  const file = path.join(dir, stored);
  // Checked before anything reaches the server: a damaged snapshot never becomes a stream.
  let sha256: string;
  try {
    sha256 = (await checkRaw(file, seal)).sha256;
  } catch (e) {
    throw new RestoreError(`nats/${stored}: ${(e as Error).message}`);
  }
  if (sha256 !== snap.file.sha256) throw new RestoreError(`nats/${stored} does not match the manifest (checksum): the backup is damaged`);
  const { deliver_subject: deliver } = await api<{ deliver_subject: string }>(nc, `$JS.API.STREAM.RESTORE.${snap.name}`, { config: snap.config, state: snap.state }, (m) => new RestoreError(m));
  for await (const chunk of chunksOf(file, seal)) {
    // Each chunk is acknowledged by the server before the next goes out.
    const ack = await nc.request(deliver, chunk as Buffer, { timeout: API_TIMEOUT_MS });
    if (ack.data.length) {
      const r = ack.json<ApiError>();
      if (r.error) throw new RestoreError(`restore of ${snap.name} failed: ${r.error.description}`);
    }
  }
  // An empty message ends the upload; the answer says whether the stream came back.
  const done = await nc.request(deliver, new Uint8Array(0), { timeout: 5 * 60_000 });
  const r = done.json<ApiError & { state?: { messages: number; last_seq: number } }>();
  if (r.error) throw new RestoreError(`restore of ${snap.name} failed: ${r.error.description}`);
  return { messages: r.state?.messages ?? 0, lastSeq: r.state?.last_seq ?? 0 };
}
