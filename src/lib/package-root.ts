import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { InternalError } from '../errors/index.js';

/**
 * The folder of dataplane's package.json, found by walking up from this module:
 * the same answer whether the code runs from src/ (tests), dist/ or a bench build.
 */
function find(): string {
  let dir = path.dirname(fileURLToPath(import.meta.url));
  for (;;) {
    const pkg = path.join(dir, 'package.json');
    if (existsSync(pkg) && (JSON.parse(readFileSync(pkg, 'utf8')) as { name?: string }).name === 'dataplane') return dir;
    const parent = path.dirname(dir);
    if (parent === dir) throw new InternalError(`cannot find the dataplane package root above ${fileURLToPath(import.meta.url)}`);
    dir = parent;
  }
}

export const PACKAGE_ROOT = find();
