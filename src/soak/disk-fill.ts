/**
 * The disk-full fault: a ballast file grows in the state folder until the filesystem
 * refuses to write (ENOSPC), stays for a while, and is deleted. Only ever pointed at a
 * filesystem the soak mounted for itself (a size-limited tmpfs), never a shared disk.
 */
import { open, unlink } from 'node:fs/promises';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';

const CHUNK = Buffer.alloc(1 << 20, 0x5a);

/** Fill `dir`'s filesystem, hold it full for `holdMs`, free it; resolves with the bytes the ballast took. */
export async function fillDisk(dir: string, holdMs: number): Promise<number> {
  const file = path.join(dir, 'soak-ballast');
  const fh = await open(file, 'w', 0o600);
  let written = 0;
  try {
    try {
      for (;;) {
        const { bytesWritten } = await fh.write(CHUNK);
        written += bytesWritten;
        if (bytesWritten < CHUNK.length) break;
      }
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'ENOSPC') throw e;
    }
    // The last bytes: servers keep writing, so fill what they freed meanwhile in smaller steps.
    for (let size = 64 * 1024; size >= 4096; size /= 4) {
      try {
        for (;;) {
          const { bytesWritten } = await fh.write(CHUNK.subarray(0, size));
          written += bytesWritten;
          if (bytesWritten < size) break;
        }
      } catch {
        // full at this size
      }
    }
    await sleep(holdMs);
  } finally {
    await fh.close().catch(() => undefined);
    await unlink(file).catch(() => undefined);
  }
  return written;
}
