/**
 * The layers of src/, bottom to top, as dependency-cruiser rules: a module may import
 * its own layer and the layers below it, never one above, and nothing may form a cycle.
 * docs/architecture.md shows the same list (a test keeps the two in step).
 *
 * Folders in one entry are peers; `independent` peers may not import each other either
 * (the three client libraries stand alone, and so do secrets and TLS).
 */
const LAYERS = [
  { name: 'errors', folders: ['errors'], owns: 'the error catalog: every code, its exit code and meaning; the base classes' },
  { name: 'lib', folders: ['lib'], owns: 'helpers that know nothing of dataplane: durations, sizes, processes and pid files, ports and TCP reachability, Debian packages, the service user, the metrics registry, the logger, files encrypted to age keys' },
  { name: 'config', folders: ['config'], owns: 'the configuration schema, loading (file + environment, resolved once), resources, tuning formulas, state paths' },
  { name: 'secrets, tls', folders: ['secrets', 'tls'], independent: true, owns: 'who logs in where (identities, PostgreSQL roles) and their generated secrets; certificates and when TLS is required' },
  { name: 'connect', folders: ['connect'], owns: 'one connection factory per server (TLS, timeouts, application name, inbox prefix, error reporting), HTTPS with a client certificate and logins for the Patroni, etcd and monitoring APIs (`rest.ts`), and the resolved Access object' },
  { name: 'render', folders: ['render'], owns: 'config -> native files: postgresql.conf, redis.conf, nats.conf, sentinel.conf, patroni.yml, etcd.yml, haproxy.cfg, Prometheus, nftables, pgBackRest' },
  { name: 'servers', folders: ['servers'], owns: 'one driver per server: locate, prepare, start command, probe, reload, stop, passwords, key figures (ha: etcd, HAProxy, the Patroni members in `patroni.ts`, replica cloning in `postgres-clone.ts`)' },
  { name: 'postgres, redis, nats', folders: ['postgres', 'redis', 'nats'], independent: true, owns: 'the client libraries: pool and transactions, keyspaces, JetStream publisher, consumers and declarations' },
  { name: 'outbox', folders: ['outbox'], owns: 'PostgreSQL -> JetStream: the transactional outbox, its relay, the inbox, their retention, cache invalidation' },
  { name: 'backup', folders: ['backup'], owns: 'base backups, WAL archive, snapshots, encryption at rest, the off-host copy, verification and scheduled drills, point-in-time restore' },
  { name: 'observe', folders: ['observe'], owns: 'health endpoints, server metrics, dashboards as code, metric reference' },
  { name: 'stack', folders: ['stack'], owns: 'running a stack: preflight, process manager, background jobs (the watchdog among them), supervisor, status, rotation, credentials export and import, doctor' },
  { name: 'soak, deploy', folders: ['soak', 'deploy'], independent: true, owns: 'soak runs: a mixed workload through the library, a fault schedule, a stack under its own supervisor, the ledger of acknowledged writes and its check, the report; production on several hosts: the inventory as hosts, per-host bundles (configuration, certificates, systemd units, nftables, install script) and their verification' },
  { name: 'cli', folders: ['cli'], owns: 'one file per command: parse, call the layers below, print' },
  { name: 'entry points', folders: ['index.ts', 'testing.ts'], owns: 'the public library surface (index.ts) and test support (testing.ts)' },
  { name: 'domain', folders: ['domain'], owns: 'the reference application: its streams, subjects and keyspaces; nothing imports it, `up` loads it by path' },
];

const pathOf = (folder) => (folder.endsWith('.ts') ? `^src/${folder.replace('.', '\\.')}$` : `^src/${folder}/`);

const layerRules = LAYERS.flatMap((layer, i) => {
  const above = LAYERS.slice(i + 1).flatMap((l) => l.folders.map(pathOf));
  if (!above.length) return [];
  return [
    {
      name: `layer:${layer.name}`,
      comment: `${layer.name} (${layer.owns}) may not import the layers above it`,
      severity: 'error',
      from: { path: layer.folders.map(pathOf) },
      to: { path: above },
    },
  ];
});

const peerRules = LAYERS.filter((l) => l.independent).flatMap((layer) =>
  layer.folders.map((folder) => ({
    name: `independent:${folder}`,
    comment: `${folder} stands alone in its layer (${layer.name})`,
    severity: 'error',
    from: { path: pathOf(folder) },
    to: { path: layer.folders.filter((f) => f !== folder).map(pathOf) },
  })),
);

module.exports = {
  forbidden: [
    {
      name: 'no-circular',
      comment: 'a cycle makes every module in it depend on every other one',
      severity: 'error',
      from: {},
      to: { circular: true },
    },
    {
      name: 'no-domain',
      comment: 'the reference application is loaded by path (config `declarations`), never imported',
      severity: 'error',
      from: { pathNot: '^src/domain/' },
      to: { path: '^src/domain/' },
    },
    {
      name: 'no-unresolvable',
      comment: 'an import that resolves to nothing',
      severity: 'error',
      from: {},
      to: { couldNotResolve: true },
    },
    ...layerRules,
    ...peerRules,
  ],
  options: {
    doNotFollow: { path: 'node_modules' },
    tsPreCompilationDeps: true,
    tsConfig: { fileName: 'tsconfig.json' },
    enhancedResolveOptions: {
      exportsFields: ['exports'],
      conditionNames: ['import', 'require', 'node', 'default', 'types'],
    },
  },
};
// Read by the test that keeps docs/architecture.md in step; not enumerable, because
// dependency-cruiser rejects keys of its configuration it does not know.
Object.defineProperty(module.exports, 'layers', { value: LAYERS, enumerable: false });
