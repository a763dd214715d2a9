/**
 * The JetStream part of a stack backup: every stream's snapshot, and, on restore,
 * a pending restore that the next `up` carries out on the freshly started server
 * (the restore API needs a running server; the stack is stopped while restoring).
 */
import { existsSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { jetstreamManager } from '@nats-io/jetstream';
import type { StatePaths } from '../config/paths.js';
import type { Access } from '../connect/access.js';
import { natsConnect, natsEndpoint } from '../connect/nats.js';
import type { BackupManifest } from './catalog.js';
import { RestoreError } from './errors.js';
import type { Sealing } from './files.js';
import { restoreStream, snapshotStream, type StreamSnapshot } from './jetstream.js';
import { sealingForRead } from './sealing.js';

/** A connection for one backup or restore job: no reconnects, a lost server fails the job. */
function adminOnce(access: Access, name: string) {
  return natsConnect(natsEndpoint(access, 'admin'), { name, reconnect: false, timeoutMs: 10_000 });
}

export async function backupStreams(access: Access, dest: string, progress: (m: string) => void, seal?: Sealing): Promise<{ streams: StreamSnapshot[] }> {
  const nc = await adminOnce(access, 'dataplane-backup');
  try {
    const jsm = await jetstreamManager(nc);
    const names: string[] = [];
    for await (const n of jsm.streams.names()) names.push(n);
    const streams: StreamSnapshot[] = [];
    for (const name of names.sort()) {
      const s = await snapshotStream(nc, name, dest, seal);
      progress(`JetStream: ${name}, ${s.state.messages} messages, ${s.state.consumer_count} consumers`);
      streams.push(s);
    }
    return { streams };
  } finally {
    await nc.close();
  }
}

const PENDING = 'restore-pending.json';

/** Move the current store aside and leave a note for the next `up`. */
export function scheduleStreamRestore(paths: StatePaths, backupDir: string, manifest: BackupManifest): { movedAside: string[] } {
  const movedAside: string[] = [];
  if (existsSync(paths.nats.jetstream)) {
    const aside = `${paths.nats.jetstream}.before-restore-${new Date().toISOString().replace(/[:.]/g, '-')}`;
    renameSync(paths.nats.jetstream, aside);
    movedAside.push(aside);
  }
  writeFileSync(path.join(paths.nats.dir, PENDING), JSON.stringify({ backupDir, label: manifest.label }) + '\n', { mode: 0o600 });
  return { movedAside };
}

/** Restore the streams of a pending restore, if there is one; returns their names. */
export async function applyPendingStreamRestore(access: Access, paths: StatePaths): Promise<{ label: string; streams: string[] } | undefined> {
  const note = path.join(paths.nats.dir, PENDING);
  if (!existsSync(note)) return undefined;
  const { backupDir, label } = JSON.parse(readFileSync(note, 'utf8')) as { backupDir: string; label: string };
  const manifest = JSON.parse(readFileSync(path.join(backupDir, 'manifest.json'), 'utf8')) as BackupManifest;
  const seal = sealingForRead(access.config, manifest);
  const nc = await adminOnce(access, 'dataplane-restore');
  try {
    const jsm = await jetstreamManager(nc);
    for (const s of manifest.nats?.streams ?? []) {
      // Already there: a previous `up` restored it before failing on a later one.
      const exists = await jsm.streams.info(s.name).then(() => true, () => false);
      if (!exists) await restoreStream(nc, s, path.join(backupDir, 'nats'), seal);
    }
  } catch (e) {
    throw new RestoreError(`restoring JetStream streams from backup ${label} failed: ${(e as Error).message}; fix the cause and run \`dataplane up\` again, or remove ${note} to start without them`);
  } finally {
    await nc.close();
  }
  rmSync(note);
  return { label, streams: (manifest.nats?.streams ?? []).map((s) => s.name) };
}
