import { describe, expect, it } from 'vitest';
import bcrypt from 'bcryptjs';
import { parseConfig } from '../../src/config/load.js';
import { GiB } from '../../src/config/sizes.js';
import { natsBcrypt, redisAclHash, scramSha256Verifier, scramVerifierMatches } from '../../src/secrets/hashes.js';
import { generateSecret } from '../../src/secrets/store.js';
import { planStack } from '../../src/stack/plan.js';

const secrets = {
  postgres: { postgres: generateSecret(), app_owner: generateSecret() },
  redis: { admin: generateSecret(), app: generateSecret() },
  nats: { app: generateSecret(), system: generateSecret() },
};

function render(input: Record<string, unknown> = {}) {
  const config = parseConfig({ stateDir: '/var/lib/dataplane', ...input });
  const plan = planStack(config, { secrets, binaries: {}, machine: { cpus: 2, memory: 4 * GiB, disk: 100 * GiB } });
  return Object.fromEntries(plan.files.map((f) => [`${f.service}/${f.name}`, f.content]));
}

describe('rendered files', () => {
  const files = render();

  it('holds no plaintext secret', () => {
    for (const [name, content] of Object.entries(files)) {
      for (const s of Object.values(secrets).flatMap((x) => Object.values(x))) expect(content, name).not.toContain(s);
    }
  });

  it('PostgreSQL: scram-sha-256 from configured networks only, no socket', () => {
    const hba = files['postgres/pg_hba.conf']!;
    const rules = hba.split('\n').filter((l) => l && !l.startsWith('#'));
    expect(rules.length).toBeGreaterThan(0);
    for (const r of rules) expect(r).toMatch(/^host\s+\S+\s+all\s+(127\.0\.0\.1\/32|::1\/128)\s+scram-sha-256$/);
    const conf = files['postgres/postgresql.conf']!;
    expect(conf).toContain("listen_addresses = '127.0.0.1'");
    expect(conf).toContain("unix_socket_directories = ''");
    expect(conf).toContain("password_encryption = 'scram-sha-256'");
    expect(conf).toMatch(/shared_buffers = '512MB'/); // a quarter of the 2GB share
  });

  it('Redis: default user off, named users with hashes, persistence and eviction', () => {
    const conf = files['redis/redis.conf']!;
    expect(conf).toContain('user default off');
    expect(conf).toContain(`user admin on ${redisAclHash(secrets.redis.admin)} ~* &* +@all`);
    expect(conf).toContain(`user app on ${redisAclHash(secrets.redis.app)} ~* &* +@all -@dangerous`);
    expect(conf).toContain('bind 127.0.0.1');
    expect(conf).toContain('appendonly yes');
    expect(conf).toContain('appendfsync everysec');
    expect(conf).toContain('maxmemory-policy allkeys-lfu');
    expect(conf).toContain(`maxmemory ${1 * GiB}`);
    expect(conf).toContain('save 3600 1 300 100 60 10000');
  });

  it('Redis: raw settings come last so they win; empty save disables snapshots', () => {
    const conf = render({ redis: { save: '', settings: { hz: 50, 'lazyfree-lazy-eviction': true } } })['redis/redis.conf']!;
    expect(conf).toContain('save ""');
    expect(conf.trimEnd().split('\n').slice(-2)).toEqual(['hz 50', 'lazyfree-lazy-eviction yes']);
  });

  it('NATS: accounts with JetStream, bcrypt passwords, limits', () => {
    const conf = files['nats/nats.conf']!;
    expect(conf).toContain('listen: "127.0.0.1:4222"');
    expect(conf).toContain('store_dir: "/var/lib/dataplane/nats/jetstream"');
    expect(conf).toContain('system_account: SYS');
    expect(conf).toContain(`max_memory_store: ${1 * GiB}`);
    const hash = /user: "app", password: "([^"]+)"/.exec(conf)![1]!;
    expect(hash.startsWith('$2a$10$')).toBe(true);
    expect(bcrypt.compareSync(secrets.nats.app, hash)).toBe(true);
  });

  it('skips disabled servers', () => {
    expect(Object.keys(render({ redis: { enabled: false }, nats: { enabled: false } }))).toEqual(['postgres/postgresql.conf', 'postgres/pg_hba.conf']);
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
});
