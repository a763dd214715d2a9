/**
 * Rendering beyond the servers' own files (each server driver renders those): what a
 * production host needs besides, and writing a set of rendered files to a folder.
 */
import { chmodSync, mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import type { RenderContext, RenderedFile } from './context.js';
import { renderNftables } from './nftables.js';
import { renderPgbackrest } from './pgbackrest.js';

export type { RenderContext, RenderedFile, RenderFolder } from './context.js';

/** The host's firewall ruleset and a pgBackRest configuration (for hosts with pgBackRest 2.47+). */
export function renderHostFiles(ctx: RenderContext): RenderedFile[] {
  const nft = renderNftables(ctx.config);
  const pgbr = renderPgbackrest(ctx.config, ctx.paths, ctx.tuning);
  return [
    { service: 'nftables', name: nft.name, content: nft.content },
    { service: 'pgbackrest', name: pgbr.name, content: pgbr.content },
  ];
}

/** Write each file into <outDir>/<folder>/<name>, 0600 (they hold password hashes); returns the paths. */
export function writeRendered(outDir: string, files: RenderedFile[]): string[] {
  return files.map((f) => {
    const dir = path.resolve(outDir, f.service);
    mkdirSync(dir, { recursive: true, mode: 0o700 });
    const file = path.join(dir, f.name);
    writeFileSync(file, f.content, { mode: 0o600 });
    chmodSync(file, 0o600);
    return file;
  });
}
