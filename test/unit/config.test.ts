import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { configurationMarkdown } from '../../src/config/docs.js';
import { configFields, envName } from '../../src/config/fields.js';
import { loadConfig } from '../../src/config/load.js';
import { ConfigError } from '../../src/errors/index.js';

const tempDirs: string[] = [];
afterAll(() => tempDirs.forEach((d) => rmSync(d, { recursive: true, force: true })));

function tempDir(): string {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'dataplane-config-'));
  tempDirs.push(dir);
  return dir;
}

function project(yaml: string): string {
  const dir = tempDir();
  writeFileSync(path.join(dir, 'dataplane.config.yaml'), yaml);
  return dir;
}

function issuesOf(fn: () => unknown) {
  try {
    fn();
  } catch (e) {
    expect(e).toBeInstanceOf(ConfigError);
    return (e as ConfigError).issues;
  }
  throw new Error('expected a ConfigError');
}

describe('loading', () => {
  it('gives every field a default when there is no file', () => {
    const dir = tempDir();
    const { config, file } = loadConfig({ cwd: dir, env: {} });
    expect(file).toBeUndefined();
    expect(config.stateDir).toBe(path.join(dir, '.dataplane'));
    expect(config.postgres.port).toBe(5432);
    expect(config.redis.maxmemoryPolicy).toBe('volatile-lfu');
    expect(config.nats.maxPayload).toBe(1024 * 1024);
    expect(config.postgres.host).toBe('127.0.0.1');
    expect(config.redis.host).toBe('127.0.0.1');
    expect(config.nats.host).toBe('127.0.0.1');
  });

  it('resolves stateDir against the config file folder', () => {
    const dir = project('stateDir: state\n');
    expect(loadConfig({ cwd: '/', env: {}, file: path.join(dir, 'dataplane.config.yaml') }).config.stateDir).toBe(path.join(dir, 'state'));
  });

  it('lets the environment override the file, and overrides win over both', () => {
    const dir = project('redis:\n  port: 7000\n  maxmemory: 1gb\n');
    const env = { DATAPLANE_REDIS_PORT: '7001', DATAPLANE_NETWORK_ALLOWED_NETWORKS: '10.0.0.0/8, ::1/128', DATAPLANE_HEALTH_ENABLED: 'false' };
    const { config, sources } = loadConfig({ cwd: dir, env, overrides: { redis: { maxmemory: '2gb' } } });
    expect(config.redis.port).toBe(7001);
    expect(config.redis.maxmemory).toBe(2 * 1024 ** 3);
    expect(config.network.allowedNetworks).toEqual(['10.0.0.0/8', '::1/128']);
    expect(config.health.enabled).toBe(false);
    expect(sources.get('redis.port')).toBe('DATAPLANE_REDIS_PORT');
    expect(sources.get('redis.maxmemory')).toBe('override');
  });

  it('lists every problem with its path, including where the value came from', () => {
    const dir = project(
      ['redis:', '  maxmemory: lots', '  maxmemry: 1gb', 'nats:', '  port: 70000', 'network:', '  allowedNetworks: [10.0.0.0/33]', 'postgres:', '  database: App-DB'].join('\n'),
    );
    const issues = issuesOf(() => loadConfig({ cwd: dir, env: { DATAPLANE_REDIS_MAXMEMORY_POLICY: 'sometimes' } }));
    const byPath = Object.fromEntries(issues.map((i) => [i.path, i]));
    expect(byPath['redis.maxmemory']?.message).toBe('expected "auto" or a size like 512mb');
    expect(byPath['redis.maxmemry']?.message).toBe('unknown field (did you mean maxmemory?)');
    expect(byPath['nats.port']?.message).toMatch(/TCP port/);
    expect(byPath['network.allowedNetworks.0']?.message).toMatch(/network such as/);
    expect(byPath['postgres.database']?.message).toMatch(/lower-case identifier/);
    expect(byPath['redis.maxmemoryPolicy']?.source).toBe('DATAPLANE_REDIS_MAXMEMORY_POLICY');
    expect(issues).toHaveLength(6);
  });

  it('formats the error message as path: problem lines', () => {
    const dir = project('redis:\n  maxmemory: lots\n');
    try {
      loadConfig({ cwd: dir, env: {} });
      expect.unreachable();
    } catch (e) {
      expect((e as Error).message).toContain('redis.maxmemory: expected "auto" or a size like 512mb');
    }
  });

  it('rejects two servers on one port', () => {
    const dir = project('redis:\n  port: 4222\n');
    const issues = issuesOf(() => loadConfig({ cwd: dir, env: {} }));
    expect(issues).toEqual([expect.objectContaining({ path: 'nats.port', message: 'port 4222 is also used by redis.port' })]);
  });

  it('refuses a PostgreSQL ha topology that cannot keep a quorum or a leader lock, with the reason', () => {
    const issues = issuesOf(() => loadConfig({ cwd: project('topology: ha\npostgres:\n  ha:\n    members: 1\n    ttlSec: 4\n    retryTimeoutSec: 2\n    etcd:\n      nodes: 2\n'), env: {} }));
    expect(issues).toEqual(
      expect.arrayContaining([
        expect.objectContaining({ path: 'postgres.ha.etcd.nodes', message: expect.stringContaining('expected an odd number: etcd keeps working while a majority of its members runs') }),
        expect.objectContaining({ path: 'postgres.ha.members', message: expect.stringContaining('2') }),
        expect.objectContaining({ path: 'postgres.ha.ttlSec', message: expect.stringContaining('must be at least loopWaitSec + 2 × retryTimeoutSec (5)') }),
      ]),
    );
    // The ha ports are claimed like the others: an etcd member on the NATS port is refused before anything starts.
    const clash = issuesOf(() => loadConfig({ cwd: project('topology: ha\npostgres:\n  ha:\n    etcd:\n      port: 4222\n'), env: {} }));
    expect(clash).toContainEqual(expect.objectContaining({ path: 'nats.port', message: 'port 4222 is also used by postgres.ha.etcd.port of etcd-1' }));
  });

  it('the prod profile refuses to run without TLS, and "files" needs the files', () => {
    const issues = issuesOf(() => loadConfig({ cwd: project('profile: prod\ntls:\n  enabled: false\n'), env: {} }));
    expect(issues).toContainEqual(expect.objectContaining({ path: 'tls.enabled', message: 'the prod profile requires TLS' }));
    const files = issuesOf(() => loadConfig({ cwd: project('tls:\n  source: files\n  caFile: /etc/ssl/ca.pem\n'), env: {} }));
    expect(files.map((i) => i.path).sort()).toEqual(['tls.certFile', 'tls.keyFile']);
  });

  it('validates NATS subjects and reserves built-in user names', () => {
    const issues = issuesOf(() =>
      loadConfig({ cwd: project('nats:\n  users:\n    billing:\n      publish: ["billing.>.x", "ok.*"]\n    admin:\n      publish: ["a"]\n'), env: {} }),
    );
    expect(issues).toContainEqual(expect.objectContaining({ path: 'nats.users.billing.publish.0', message: 'the > wildcard may only end a subject' }));
    expect(issues).toContainEqual(expect.objectContaining({ path: 'nats.users', message: 'admin and system are built in' }));
  });

  it('reports YAML syntax errors and non-mapping files', () => {
    expect(issuesOf(() => loadConfig({ cwd: project('redis: [unclosed\n'), env: {} }))[0]?.message).toMatch(/^YAML syntax/);
    expect(issuesOf(() => loadConfig({ cwd: project('- a\n- b\n'), env: {} }))[0]?.message).toMatch(/expected a mapping/);
  });

  it('names a missing explicit file', () => {
    expect(issuesOf(() => loadConfig({ file: '/nonexistent/dataplane.yaml', env: {} }))[0]?.message).toMatch(/does not exist/);
  });

  it('keeps raw settings to one line each', () => {
    const issues = issuesOf(() => loadConfig({ cwd: project('redis:\n  settings:\n    hz: "10\\nuser evil on"\n'), env: {} }));
    expect(issues[0]?.path).toBe('redis.settings.hz');
  });
});

describe('fields and docs', () => {
  it('derives a unique environment variable for every field', () => {
    const names = configFields().map((f) => f.env);
    expect(new Set(names).size).toBe(names.length);
    expect(envName(['redis', 'maxmemoryPolicy'])).toBe('DATAPLANE_REDIS_MAXMEMORY_POLICY');
  });

  it('documents every field with a description', () => {
    for (const f of configFields()) expect(f.description, f.path.join('.')).not.toBe('');
  });

  it('docs/configuration.md is generated from the schema and up to date', () => {
    const committed = readFileSync(new URL('../../docs/configuration.md', import.meta.url), 'utf8');
    expect(committed, 'run: node dist/cli/main.js config docs > docs/configuration.md').toBe(configurationMarkdown());
  });
});
