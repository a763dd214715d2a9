/** `config print`, `config render` and `doctor`: no servers needed. */
import { existsSync, mkdirSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ROOT, tempProject, type Project } from '../helpers/cli.js';

let project: Project;
beforeAll(async () => {
  project = await tempProject({ resources: { memory: '4gb', cpus: 2, disk: '50gb' } });
});
afterAll(async () => {
  await project.cleanup();
});

describe('config print', () => {
  it('shows effective values, where they came from, and the computed tuning', async () => {
    const r = await project.run(['config', 'print', '--json'], { env: { DATAPLANE_REDIS_MAXMEMORY_POLICY: 'noeviction' } });
    expect(r.code, r.stderr).toBe(0);
    const doc = JSON.parse(r.stdout);
    expect(doc.file).toBe(path.join(project.dir, 'dataplane.config.yaml'));
    expect(doc.config.redis.maxmemoryPolicy).toBe('noeviction');
    expect(doc.sources['redis.maxmemoryPolicy']).toBe('DATAPLANE_REDIS_MAXMEMORY_POLICY');
    expect(doc.sources['postgres.port']).toBe('file');
    expect(doc.tuning.resources).toMatchObject({ cpus: 2, memory: '4GB', disk: '50GB', measured: [] });
    expect(doc.tuning.postgres.shared_buffers).toEqual({ value: '512MB', why: 'memory/4 of 2GB' });
    expect(doc.tuning.redis.maxmemory.value).toBe(1024 ** 3);
    expect(doc.secrets).toMatch(/not shown/);
  });

  it('prints YAML for humans', async () => {
    const r = await project.run(['config', 'print']);
    expect(r.stdout).toMatch(/^# effective configuration from /);
    expect(r.stdout).toMatch(/^tuning:$/m);
  });
});

describe('config render', () => {
  it('writes the native files, 0600, for production hosts', async () => {
    const out = path.join(project.dir, 'rendered');
    const r = await project.run(['config', 'render', '--out', out]);
    expect(r.code, r.stderr).toBe(0);
    expect(readdirSync(out).sort()).toEqual(['nats', 'nftables', 'pgbackrest', 'postgres', 'redis']);
    const files = ['postgres/postgresql.conf', 'postgres/pg_hba.conf', 'redis/redis.conf', 'nats/nats.conf', 'nftables/dataplane.nft', 'pgbackrest/pgbackrest.conf'];
    for (const f of files) expect(statSync(path.join(out, f)).mode & 0o777, f).toBe(0o600);
    expect(readFileSync(path.join(out, 'postgres/postgresql.conf'), 'utf8')).toContain(`port = ${project.ports.postgres}`);
    expect(readFileSync(path.join(out, 'pgbackrest/pgbackrest.conf'), 'utf8')).toContain(`pg1-port=${project.ports.postgres}`);
    const secrets = JSON.parse(readFileSync(path.join(project.stateDir, 'secrets.json'), 'utf8')) as Record<string, Record<string, string>>;
    const all = files.map((f) => readFileSync(path.join(out, f), 'utf8')).join('\n');
    for (const s of Object.values(secrets).flatMap((x) => Object.values(x))) expect(all).not.toContain(s);
  });

  it('requires --out', async () => {
    const r = await project.run(['config', 'render']);
    expect(r.code).not.toBe(0);
    expect(r.stderr).toMatch(/--out/);
  });
});

describe('migrate', () => {
  it('`migrate create` adds the next numbered file to postgres.migrationsDir', async () => {
    const p = await tempProject({ postgres: { migrationsDir: 'db/migrations' } });
    try {
      const first = await p.run(['migrate', 'create', 'create invoices']);
      expect(first.code, first.stderr).toBe(0);
      expect(first.stdout.trim()).toBe(path.join(p.dir, 'db', 'migrations', '0001_create_invoices.sql'));
      const second = await p.run(['migrate', 'create', 'add_due_date']);
      expect(path.basename(second.stdout.trim())).toBe('0002_add_due_date.sql');
    } finally {
      await p.cleanup();
    }
  });

  it('says clearly when PostgreSQL is not running', async () => {
    await project.run(['config', 'render', '--out', path.join(project.dir, 'r2')]); // creates the secrets
    const r = await project.run(['migrate', 'status']);
    expect(r.code).toBe(11);
    expect(r.stderr).toMatch(new RegExp(`PostgreSQL at 127\\.0\\.0\\.1:${project.ports.postgres} is not reachable`));
    expect(r.stderr).toMatch(/dataplane up/);
  });
});

describe('declarations', () => {
  it('an application\'s own module replaces the reference model: `cache keyspaces` lists exactly what it declares', async () => {
    const p = await tempProject({ declarations: 'app/declarations.mjs' });
    try {
      mkdirSync(path.join(p.dir, 'app'));
      // As an application writes it, importing the package (here: the built one).
      writeFileSync(
        path.join(p.dir, 'app', 'declarations.mjs'),
        [
          `import { defineDeclarations, defineKeyspace, defineStream, string } from ${JSON.stringify(path.join(ROOT, 'dist', 'index.js'))};`,
          "const sessions = defineKeyspace({ name: 'session', description: 'sign-in sessions', key: { id: 'string' }, codec: string(), ttl: { ttl: '30m' } });",
          "export default defineDeclarations({ streams: [defineStream({ name: 'ORDERS', subjects: ['app.orders.>'] })], keyspaces: [sessions] });",
        ].join('\n'),
      );
      const r = await p.run(['cache', 'keyspaces', '--json']);
      expect(r.code, r.stderr).toBe(0);
      expect((JSON.parse(r.stdout) as { name: string; pattern: string }[]).map((k) => [k.name, k.pattern])).toEqual([['session', 'app:session:{id}']]);
    } finally {
      await p.cleanup();
    }
  });

  it('a module that does not load, or exports no declarations, is a configuration error: `up` starts nothing', async () => {
    const p = await tempProject({ declarations: 'missing.mjs' });
    try {
      const r = await p.run(['up', '--detach']);
      expect(r.code).toBe(2);
      expect(r.stderr).toMatch(/declarations: cannot load .*missing\.mjs/);
      expect(existsSync(p.stateDir)).toBe(false);
      writeFileSync(path.join(p.dir, 'missing.mjs'), 'export const streams = [];\n');
      const wrong = await p.run(['cache', 'keyspaces']);
      expect(wrong.code).toBe(2);
      expect(wrong.stderr).toMatch(/must export its declarations as default: export default defineDeclarations/);
    } finally {
      await p.cleanup();
    }
  });
});

describe('usage errors', () => {
  it('a bad argument or option exits 2 with the message and the command\'s usage', async () => {
    const cases: [string[], RegExp, string][] = [
      [['backup', 'prune', '--keep', 'x'], /option '--keep <n>' argument 'x' is invalid\. expected a whole number of at least 1/, 'dataplane backup prune [options]'],
      [['logs', '-n', '-3'], /argument '-3' is invalid/, 'dataplane logs [options] [service]'],
      [['credentials', 'rotate', 'mysql', 'app'], /Allowed choices are postgres, redis, nats, monitoring/, 'dataplane credentials rotate [options] <service> <user>'],
      [['status', 'extra'], /too many arguments for 'status'/, 'dataplane status [options]'],
      [['restore', '--to-time', 'yesterday'], /expected a time in ISO 8601/, 'dataplane restore [options]'],
      [['nonsense'], /unknown command 'nonsense'/, 'dataplane [options] [command]'],
    ];
    const results = await Promise.all(cases.map(([args]) => project.run(args)));
    results.forEach((r, i) => {
      const [args, message, usage] = cases[i]!;
      expect(r.code, args.join(' ')).toBe(2);
      expect(r.stderr, args.join(' ')).toMatch(message);
      expect(r.stderr.split('\n'), args.join(' ')).toContain(`Usage: ${usage}`);
    });
  });
});

describe('doctor', () => {
  it('passes on a prepared machine and lists every check', async () => {
    const r = await project.run(['doctor', '--json']);
    expect(r.code, r.stdout).toBe(0);
    const names = (JSON.parse(r.stdout) as { name: string }[]).map((c) => c.name);
    expect(names).toEqual(expect.arrayContaining(['node', 'postgres binary', 'timescaledb', 'redis binary', 'nats binary', 'redis-cli', 'psql', 'disk', `port ${project.ports.postgres}`]));
  });
});
