/**
 * The error catalog: every error class of the project has a code from it, the exit
 * codes come from it, nothing throws a bare Error, and docs/errors.md is generated
 * from it.
 */
import { readdirSync, readFileSync, statSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { BackupError, RestoreError } from '../../src/backup/errors.js';
import { ConfigError, ERROR_CATALOG, errorsMarkdown, InvalidArgumentError, PortInUseError, UsageError } from '../../src/errors/index.js';
import { PublishError } from '../../src/nats/publisher.js';
import { RetriesExhaustedError } from '../../src/postgres/database.js';
import { DecodeError } from '../../src/redis/codecs.js';

const SRC = new URL('../../src/', import.meta.url).pathname;

function sources(dir = SRC): { file: string; text: string }[] {
  return readdirSync(dir).flatMap((name) => {
    const p = path.join(dir, name);
    if (statSync(p).isDirectory()) return sources(p);
    return p.endsWith('.ts') ? [{ file: path.relative(SRC, p), text: readFileSync(p, 'utf8') }] : [];
  });
}

describe('error catalog', () => {
  it('docs/errors.md is generated from the catalog and up to date', () => {
    const committed = readFileSync(new URL('../../docs/errors.md', import.meta.url), 'utf8');
    expect(committed, 'run: dataplane errors --markdown > docs/errors.md').toBe(errorsMarkdown());
  });

  it('every error class of the project extends DataplaneError, so it has a code, a hint and an exit code', () => {
    const parent = new Map<string, { base: string; file: string }>();
    for (const { file, text } of sources()) {
      for (const m of text.matchAll(/class (\w+) extends (\w+)/g)) parent.set(m[1]!, { base: m[2]!, file });
    }
    const errorClasses = [...parent.keys()].filter((name) => name.endsWith('Error') && name !== 'DataplaneError');
    expect(errorClasses.length).toBeGreaterThan(15);
    const outside = errorClasses.filter((name) => {
      const seen = new Set<string>();
      for (let cur = name; ; ) {
        if (cur === 'DataplaneError') return false;
        const next = parent.get(cur);
        if (!next || seen.has(cur)) return true;
        seen.add(cur);
        cur = next.base;
      }
    });
    expect(outside.map((n) => `${n} (${parent.get(n)!.file}) extends ${parent.get(n)!.base}`)).toEqual([]);
  });

  it('nothing throws a bare Error, TypeError or AggregateError', () => {
    const bare = sources().flatMap(({ file, text }) =>
      text.split('\n').flatMap((line, i) => (/throw new (Error|TypeError|RangeError|AggregateError)\(/.test(line) ? [`${file}:${i + 1}: ${line.trim()}`] : [])),
    );
    expect(bare).toEqual([]);
  });

  it('every code of the catalog is used by the code, and none is used that the catalog lacks', () => {
    const all = sources().filter((s) => s.file !== path.join('errors', 'catalog.ts')).map((s) => s.text).join('\n');
    const unused = Object.keys(ERROR_CATALOG).filter((code) => !all.includes(`'${code}'`));
    expect(unused).toEqual([]);
  });

  it('exit codes come from the catalog, for the CLI and library errors alike', () => {
    expect(new ConfigError([{ path: 'x', message: 'y' }]).exitCode).toBe(2);
    expect(new UsageError('bad').exitCode).toBe(2);
    expect(new InvalidArgumentError('bad').exitCode).toBe(2);
    expect(new PortInUseError('nats', '127.0.0.1', 4222, 'nats.port')).toMatchObject({ code: 'PORT_IN_USE', exitCode: 6, name: 'PortInUseError' });
    expect(new BackupError('x')).toMatchObject({ code: 'BACKUP', exitCode: 14 });
    expect(new RestoreError('x')).toMatchObject({ code: 'RESTORE', exitCode: 14 });
    expect(new PublishError('app.x', 'no stream', 503)).toMatchObject({ code: 'PUBLISH_FAILED', serverCode: 503, hint: expect.stringMatching(/declare a stream/) });
    expect(new DecodeError('app:k', 'bad')).toMatchObject({ code: 'DECODE', name: 'DecodeError' });
    expect(new RetriesExhaustedError(3, new Error('deadlock'))).toMatchObject({ code: 'RETRIES_EXHAUSTED', attempts: 3 });
  });
});
