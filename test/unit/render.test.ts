import { describe, expect, it } from 'vitest';
import { mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import bcrypt from 'bcryptjs';
import { parseConfig } from '../../src/config/load.js';
import { GiB } from '../../src/lib/sizes.js';
import { natsBcrypt, redisAclHash, scramSha256Verifier, scramVerifierMatches } from '../../src/secrets/hashes.js';
import { ensureSecrets, generateSecret, isGeneratedSecret, saveNatsBcryptMemo, secretFor } from '../../src/secrets/store.js';
import { planStack } from '../../src/stack/plan.js';
import { statePaths } from '../../src/config/paths.js';
import { renderPgbackrest } from '../../src/render/pgbackrest.js';

const secrets = {
  postgres: Object.fromEntries(['postgres', 'app_owner', 'app_rw', 'app_ro', 'app_ingest', 'app_analytics', 'app_monitor', 'app_backup'].map((u) => [u, generateSecret()])),
  redis: { admin: generateSecret(), monitor: generateSecret(), app: generateSecret() },
  nats: { admin: generateSecret(), app: generateSecret(), system: generateSecret() },
  monitoring: { admin: generateSecret() },
};

/** Files that exist to hand one password to one process (mode 0600, like a .pgpass). */
const PASSWORD_FILES = ['prometheus/web.password', 'postgres-exporter/password'];

function render(input: Record<string, unknown> = {}) {
  const config = parseConfig({ stateDir: '/var/lib/dataplane', ...input });
  const plan = planStack({ config, secrets }, { binaries: {}, machine: { cpus: 2, memory: 4 * GiB, disk: 100 * GiB } });
  return Object.fromEntries(plan.files.map((f) => [`${f.service}/${f.name}`, f.content]));
}

describe('rendered files', () => {
  const files = render();

  it('holds no plaintext secret outside the password files', () => {
    for (const [name, content] of Object.entries(files)) {
      if (PASSWORD_FILES.includes(name)) continue;
      for (const s of Object.values(secrets).flatMap((x) => Object.values(x))) expect(content, name).not.toContain(s);
    }
    expect(files['prometheus/web.password']).toBe(secrets.monitoring.admin);
    expect(files['postgres-exporter/password']).toBe(secrets.postgres.app_monitor);
  });

  it('monitoring: basic auth everywhere the toolkit allows, least-privilege exporters, every target scraped', () => {
    for (const web of ['prometheus/web.yml', 'alertmanager/web.yml', 'node-exporter/web.yml', 'postgres-exporter/web.yml']) {
      const hash = /admin: "(\$2[aby]\$10\$[^"]+)"/.exec(files[web]!)?.[1];
      expect(hash, web).toBeDefined();
      expect(bcrypt.compareSync(secrets.monitoring.admin, hash!), web).toBe(true);
    }
    const prom = files['prometheus/prometheus.yml']!;
    for (const job of ['prometheus', 'alertmanager', 'node', 'postgres', 'redis', 'dataplane']) expect(prom).toContain(`job_name: ${job}`);
    expect(prom).toContain('password_file: "/var/lib/dataplane/monitoring/prometheus/web.password"');
    expect(prom).toContain('rule_files:');
    expect(files['prometheus/alerts.yml']).toContain('alert: PostgresDown');
    expect(files['alertmanager/alertmanager.yml']).toContain('inhibit_rules:');
    expect(files['postgres-exporter/queries.yml']).toContain('pg_is_in_recovery()');
    const off = render({ monitoring: { enabled: false } });
    expect(Object.keys(off).filter((f) => /prometheus|alertmanager|exporter/.test(f))).toEqual([]);
  });

  it('PostgreSQL: scram-sha-256 from configured networks only, TLS, no socket', () => {
    const rules = (f: Record<string, string>) => f['postgres/pg_hba.conf']!.split('\n').filter((l) => l && !l.startsWith('#'));
    const dev = rules(files);
    for (const r of dev) expect(r).toMatch(/^(hostssl|hostnossl)\s+\S+\s+all\s+(127\.0\.0\.1\/32|::1\/128)\s+scram-sha-256$/);
    expect(dev.filter((r) => r.startsWith('hostnossl'))).toHaveLength(2); // dev: plaintext from loopback
    const prod = rules(render({ profile: 'prod', network: { allowedNetworks: ['10.0.0.0/8', '127.0.0.1/32'] } }));
    expect(prod.every((r) => r.startsWith('hostssl'))).toBe(true);
    expect(prod.some((r) => r.includes('10.0.0.0/8'))).toBe(true);
    const devWide = rules(render({ network: { allowedNetworks: ['10.0.0.0/8', '127.0.0.1/32'] } }));
    expect(devWide.filter((r) => r.includes('10.0.0.0/8')).every((r) => r.startsWith('hostssl'))).toBe(true);
    const conf = files['postgres/postgresql.conf']!;
    expect(conf).toContain("listen_addresses = '127.0.0.1'");
    expect(conf).toContain("unix_socket_directories = ''");
    expect(conf).toContain("password_encryption = 'scram-sha-256'");
    expect(conf).toContain("ssl = 'on'");
    expect(conf).toContain("ssl_min_protocol_version = 'TLSv1.2'");
    expect(conf).toContain("ssl_key_file = '/var/lib/dataplane/pg/tls/server.key'");
    expect(conf).toMatch(/shared_buffers = '512MB'/); // a quarter of the 2GB share
  });

  it('Redis: default user off, named users with hashes, TLS, persistence and eviction', () => {
    const conf = files['redis/redis.conf']!;
    expect(conf).toContain('user default off');
    expect(conf).toContain(`user admin on ${redisAclHash(secrets.redis.admin)} ~* &* +@all`);
    expect(conf).toContain(`user app on ${redisAclHash(secrets.redis.app)} ~app:* &app:* +@all -@dangerous`);
    expect(conf).toMatch(new RegExp(`user monitor on ${redisAclHash(secrets.redis.monitor)} resetkeys resetchannels -@all \\+ping \\+info`));
    expect(conf).toContain('bind 127.0.0.1');
    expect(conf).toContain('port 6379'); // dev profile, loopback
    expect(conf).toContain('tls-port 6380');
    expect(render({ profile: 'prod' })['redis/redis.conf']).toMatch(/^port 0$/m);
    expect(render({ redis: { host: '10.1.2.3' } })['redis/redis.conf']).toMatch(/^port 0$/m); // dev, but not loopback
    expect(conf).toContain('appendonly yes');
    expect(conf).toContain('appendfsync everysec');
    expect(conf).toContain('maxmemory-policy volatile-lfu');
    expect(conf).toContain(`maxmemory ${1 * GiB}`);
    expect(conf).toContain('save 3600 1 300 100 60 10000');
  });

  it('Redis: raw settings come last so they win; empty save disables snapshots', () => {
    const conf = render({ redis: { save: '', settings: { hz: 50, 'lazyfree-lazy-eviction': true } } })['redis/redis.conf']!;
    expect(conf).toContain('save ""');
    expect(conf.trimEnd().split('\n').slice(-2)).toEqual(['hz 50', 'lazyfree-lazy-eviction yes']);
  });

  it('NATS: accounts with JetStream limits, per-service permissions, bcrypt passwords, TLS', () => {
    const conf = files['nats/nats.conf']!;
    expect(conf).toContain('listen: "127.0.0.1:4222"');
    expect(conf).toContain('store_dir: "/var/lib/dataplane/nats/jetstream"');
    expect(conf).toContain('system_account: SYS');
    expect(conf).toContain(`max_memory_store: ${1 * GiB}`);
    expect(conf).toContain(`jetstream: { max_mem: ${1 * GiB}, max_file: ${50 * GiB}, max_streams: 1000, max_consumers: 10000 }`);
    const hash = /user: "app", password: "([^"]+)"/.exec(conf)![1]!;
    expect(hash.startsWith('$2a$10$')).toBe(true);
    expect(bcrypt.compareSync(secrets.nats.app, hash)).toBe(true);
    expect(conf).toMatch(/user: "app".*publish: \{ allow: \["app\.>", "\$JS\.API\.INFO", "\$JS\.API\.STREAM\.INFO\.\*"/);
    expect(conf).toMatch(/user: "app".*subscribe: \{ allow: \["app\.>", "_INBOX_app\.>"\] \}/);
    expect(conf).toContain('cert_file: "/var/lib/dataplane/nats/tls/server.crt"');
    expect(conf).toContain('allow_non_tls: true');
    expect(render({ profile: 'prod' })['nats/nats.conf']).not.toContain('allow_non_tls');
  });

  it('pgBackRest (production hosts with 2.47+): the stack\'s data directory, port and retention', () => {
    const config = parseConfig({ stateDir: '/var/lib/dataplane', backup: { keep: 5 }, postgres: { port: 5544 } });
    const plan = planStack({ config, secrets }, { binaries: {}, machine: { cpus: 8, memory: 16 * GiB, disk: 100 * GiB } });
    const conf = renderPgbackrest(config, statePaths(config), plan.tuning).content;
    expect(conf).toContain('[dataplane]');
    expect(conf).toContain('pg1-path=/var/lib/dataplane/pg/data');
    expect(conf).toContain('pg1-port=5544');
    expect(conf).toContain('repo1-retention-full=5');
    expect(conf).toContain('process-max=4');
    expect(files['postgres/postgresql.conf']).toContain("archive_library = 'basic_archive'");
    expect(files['postgres/postgresql.conf']).toContain("basic_archive.archive_directory = '/var/lib/dataplane/pg/wal-archive'");
  });

  it('skips disabled servers', () => {
    expect(Object.keys(render({ redis: { enabled: false }, nats: { enabled: false }, monitoring: { enabled: false } }))).toEqual(['postgres/postgresql.conf', 'postgres/pg_hba.conf']);
  });
});

describe('password verifiers', () => {
  it('SCRAM verifier has PostgreSQL format and is recognised', () => {
    const v = scramSha256Verifier('correct horse', Buffer.alloc(16, 1));
    expect(v).toMatch(/^SCRAM-SHA-256\$4096:[A-Za-z0-9+/=]+\$[A-Za-z0-9+/=]+:[A-Za-z0-9+/=]+$/);
    expect(scramVerifierMatches(v, 'correct horse')).toBe(true);
    expect(scramVerifierMatches(v, 'wrong horse')).toBe(false);
    expect(scramVerifierMatches(null, 'x')).toBe(false);
  });

  it('bcrypt uses the $2a$ prefix nats-server 2.9 recognises', () => {
    expect(natsBcrypt('secret-password-123').slice(0, 7)).toBe('$2a$10$');
  });

  it('NATS bcrypt: cost 4 for generated secrets, 10 for ones from the environment; remembered across starts', () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'dataplane-bcrypt-'));
    try {
      const config = parseConfig({ stateDir: dir });
      const env = { DATAPLANE_SECRET_NATS_ADMIN: 'an-operator-chosen-password' };
      const secrets = ensureSecrets(config, env);
      const generated = secretFor(secrets, 'nats', 'system');
      expect(isGeneratedSecret(secrets, 'nats', 'system')).toBe(true);
      expect(isGeneratedSecret(secrets, 'nats', 'admin')).toBe(false);
      // A set this module did not resolve is not trusted as generated.
      expect(isGeneratedSecret({ ...secrets }, 'nats', 'system')).toBe(false);
      const conf = planStack({ config, secrets }, { binaries: {} }).files.find((f) => f.name === 'nats.conf')!.content;
      const hashOf = (user: string) => new RegExp(`user: "${user}", password: "([^"]+)"`).exec(conf)?.[1] ?? '';
      expect(hashOf('system')).toMatch(/^\$2a\$04\$/);
      expect(hashOf('admin')).toMatch(/^\$2a\$10\$/);
      expect(bcrypt.compareSync(generated, hashOf('system'))).toBe(true);
      expect(bcrypt.compareSync(env.DATAPLANE_SECRET_NATS_ADMIN, hashOf('admin'))).toBe(true);
      saveNatsBcryptMemo(config, secrets);
      const memo = readFileSync(path.join(dir, 'nats-bcrypt.json'), 'utf8');
      expect(memo).not.toContain(generated);
      expect(statSync(path.join(dir, 'nats-bcrypt.json')).mode & 0o777).toBe(0o600);
      expect(memo).toContain(hashOf('system'));
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
