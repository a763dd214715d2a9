/**
 * Checks behind `dataplane doctor`: each finding has a status and, for problems,
 * the exact command or setting that fixes it.
 */
import { existsSync, statSync } from 'node:fs';
import { statePaths } from '../config/paths.js';
import { freeDisk } from '../config/resources.js';
import { SERVICES, type Config } from '../config/schema.js';
import { formatSize, GiB, MiB } from '../lib/sizes.js';
import { isDataplaneError } from '../errors/index.js';
import { drivers, serverDrivers } from '../servers/index.js';
import { monitorDrivers, wantedMonitors } from '../servers/monitoring.js';
import { findWorkingBinary, REQUIREMENTS, type Requirement } from '../lib/packages.js';
import { isPortFree } from '../lib/ports.js';
import { isRecordAlive, readPidFile, run } from '../lib/process.js';
import { timescaledbInstalled } from '../servers/postgres.js';
import { certificateList, readCertificate } from '../tls/certificates.js';
import { storedSecrets } from '../secrets/store.js';
import { readIdentityFile } from '../lib/age.js';
import { exportState, staleExportNotice } from './credentials-file.js';
import { liveSupervisor, SUPERVISOR } from './state.js';

export interface Check {
  name: string;
  status: 'ok' | 'warn' | 'fail';
  detail: string;
  fix?: string;
}

const MIN_NODE = [20, 12];

function nodeCheck(): Check {
  const [maj, min] = process.versions.node.split('.').map(Number) as [number, number];
  const ok = maj > MIN_NODE[0]! || (maj === MIN_NODE[0] && min >= MIN_NODE[1]!);
  return ok
    ? { name: 'node', status: 'ok', detail: `v${process.versions.node}` }
    : { name: 'node', status: 'fail', detail: `v${process.versions.node}; dataplane needs ${MIN_NODE.join('.')} or newer`, fix: 'install Node.js 20 LTS (Debian: nodejs from NodeSource)' };
}

async function binaryChecks(config: Config): Promise<Check[]> {
  const checks: Check[] = [];
  for (const s of SERVICES.filter((x) => config[x].enabled)) {
    try {
      const b = await drivers[s].locate(config);
      checks.push({ name: `${s} binary`, status: 'ok', detail: `${b.version} at ${b.server}` });
      if (s === 'postgres') {
        const ts = timescaledbInstalled(b);
        checks.push({
          name: 'timescaledb',
          status: ts || config.postgres.timescaledb !== 'required' ? 'ok' : 'fail',
          detail: ts ? 'installed; hypertables available' : 'not installed; time series use native partitioning',
          ...(!ts && config.postgres.timescaledb === 'required' ? { fix: 'install TimescaleDB 2.15 for PostgreSQL 16, or set postgres.timescaledb: auto' } : {}),
        });
      }
    } catch (e) {
      checks.push({ name: `${s} binary`, status: 'fail', detail: (e as Error).message, ...(isDataplaneError(e) && e.hint ? { fix: e.hint } : {}) });
    }
  }
  // ha: etcd, HAProxy and sentinels (Patroni is checked with PostgreSQL's binaries above).
  for (const d of serverDrivers(config).filter((x) => !(SERVICES as readonly string[]).includes(x.name))) {
    try {
      const b = await d.locate(config);
      checks.push({ name: `${d.name} binary`, status: 'ok', detail: `${b.version} at ${b.server}` });
    } catch (e) {
      checks.push({ name: `${d.name} binary`, status: 'fail', detail: (e as Error).message, ...(isDataplaneError(e) && e.hint ? { fix: e.hint } : {}) });
    }
  }
  for (const m of wantedMonitors(config)) {
    try {
      const b = await monitorDrivers[m].locate(config);
      checks.push({ name: `${m} binary`, status: 'ok', detail: `${b.version} at ${b.server}` });
    } catch (e) {
      // Installed by `up` as root; monitoring can also be turned off.
      checks.push({ name: `${m} binary`, status: 'warn', detail: (e as Error).message, fix: `${isDataplaneError(e) && e.hint ? e.hint : 'install it'}, or set monitoring.enabled: false` });
    }
  }
  for (const req of [REQUIREMENTS.redisCli, REQUIREMENTS.psql, REQUIREMENTS.openssl] as Requirement[]) {
    const found = findWorkingBinary(req.binary, req.versionArgs);
    checks.push(
      found
        ? { name: req.binary, status: 'ok', detail: found }
        : { name: req.binary, status: 'warn', detail: 'client tool missing (`dataplane up` installs it as root)', fix: `apt-get install -y ${req.package}` },
    );
  }
  return checks;
}

async function portChecks(config: Config): Promise<Check[]> {
  const paths = statePaths(config);
  const claims = SERVICES.filter((s) => config[s].enabled).flatMap((s) => drivers[s].ports(config).map((c) => ({ ...c, owner: s as string })));
  if (config.health.enabled) claims.push({ host: config.health.host, port: config.health.port, configPath: 'health.port', owner: SUPERVISOR });
  for (const m of wantedMonitors(config)) claims.push(...monitorDrivers[m].ports(config).map((c) => ({ ...c, owner: m as string })));
  const checks: Check[] = [];
  for (const c of claims) {
    const name = `port ${c.port}`;
    if (await isPortFree(c.host, c.port)) {
      checks.push({ name, status: 'ok', detail: `free for ${c.owner} on ${c.host}` });
      continue;
    }
    const rec = readPidFile(paths.pidFile(c.owner));
    if (rec && isRecordAlive(rec)) {
      checks.push({ name, status: 'ok', detail: `in use by this stack's ${c.owner} (pid ${rec.pid})` });
    } else {
      checks.push({
        name,
        status: 'fail',
        detail: `${c.host}:${c.port} is taken by another process; ${c.owner} cannot start`,
        fix: `find it with \`ss -ltnp 'sport = :${c.port}'\`, or set ${c.configPath} in dataplane.config.yaml`,
      });
    }
  }
  return checks;
}

function diskCheck(config: Config): Check {
  const free = freeDisk(config.stateDir);
  const detail = `${formatSize(free)} free for ${config.stateDir}`;
  if (free < 256 * MiB) return { name: 'disk', status: 'fail', detail, fix: 'free disk space or set stateDir to a larger filesystem' };
  if (free < 2 * GiB) return { name: 'disk', status: 'warn', detail: `${detail}; WAL and JetStream are sized down to fit`, fix: 'free disk space or set stateDir to a larger filesystem' };
  return { name: 'disk', status: 'ok', detail };
}

async function userCheck(config: Config): Promise<Check | undefined> {
  if (process.getuid?.() !== 0) return undefined;
  const r = await run('getent', ['passwd', config.runAs]);
  return r.code === 0
    ? { name: 'service user', status: 'ok', detail: `servers run as ${config.runAs}` }
    : { name: 'service user', status: 'ok', detail: `${config.runAs} does not exist yet; \`dataplane up\` creates it` };
}

function stateChecks(config: Config): Check[] {
  const paths = statePaths(config);
  const checks: Check[] = [];
  if (existsSync(paths.secrets)) {
    const mode = statSync(paths.secrets).mode & 0o777;
    checks.push(
      mode & 0o077
        ? { name: 'secrets file', status: 'fail', detail: `${paths.secrets} has mode ${mode.toString(8)}`, fix: `chmod 600 ${paths.secrets}` }
        : { name: 'secrets file', status: 'ok', detail: `${paths.secrets} (0600)` },
    );
    const stored = storedSecrets(config);
    const exported = stored ? exportState(config, stored) : null;
    if (exported) {
      const notice = staleExportNotice(exported);
      checks.push(notice ? { name: 'credentials export', status: 'warn', detail: notice, fix: 'dataplane credentials export --recipient … --out …' } : { name: 'credentials export', status: 'ok', detail: `current (${exported.kind} ${exported.at.slice(0, 10)}, ${exported.file})` });
    }
  }
  const supRec = readPidFile(paths.pidFile(SUPERVISOR));
  if (supRec && !liveSupervisor(paths)) {
    checks.push({
      name: 'pid files',
      status: 'warn',
      detail: `supervisor pid ${supRec.pid} is gone but its pid files remain (a crash)`,
      fix: '`dataplane up` cleans them and stops any server left behind; `dataplane down` only cleans',
    });
  }
  return checks;
}

function certificateChecks(config: Config): Check[] {
  if (!config.tls.enabled) return [{ name: 'tls', status: config.profile === 'prod' ? 'fail' : 'warn', detail: 'TLS is off: passwords cross the network in plaintext', fix: 'set tls.enabled: true' }];
  const certs = certificateList(config).map((c) => ({ ...c, name: `${c.name} certificate` }));
  const out: Check[] = [];
  for (const c of config.tls.source === 'files' ? certs.slice(0, 2) : certs) {
    if (!existsSync(c.file)) {
      out.push({ name: c.name, status: config.tls.source === 'files' ? 'fail' : 'ok', detail: `${c.file} does not exist yet${config.tls.source === 'generate' ? '; `dataplane up` creates it' : ''}` });
      continue;
    }
    const info = readCertificate(c.file);
    const when = `expires ${info.notAfter.toISOString().slice(0, 10)} (${info.daysLeft} days)`;
    if (info.daysLeft < 0) out.push({ name: c.name, status: 'fail', detail: `expired ${info.notAfter.toISOString().slice(0, 10)}`, fix: 'dataplane certs rotate' });
    else if (info.daysLeft < config.tls.renewBeforeDays) out.push({ name: c.name, status: 'warn', detail: when, fix: 'dataplane certs rotate' });
    else out.push({ name: c.name, status: 'ok', detail: when });
  }
  return out;
}

/** Where backups go and whether they open: encryption, its key, the off-host copy. */
function backupChecks(config: Config): Check[] {
  const b = config.backup;
  const prod = config.profile === 'prod';
  const checks: Check[] = [];
  if (!b.encryption.recipients.length) {
    if (prod) checks.push({ name: 'backup encryption', status: 'warn', detail: 'backups are not encrypted at rest', fix: 'set backup.encryption.recipients (age public keys) and backup.encryption.identityFile' });
  } else if (!b.encryption.identityFile) {
    checks.push({ name: 'backup encryption', status: 'warn', detail: `encrypted to ${b.encryption.recipients.length} recipient(s), but no identity file: verify, restore and drills cannot open them here`, fix: 'set backup.encryption.identityFile' });
  } else {
    try {
      readIdentityFile(b.encryption.identityFile);
      checks.push({ name: 'backup encryption', status: 'ok', detail: `age, ${b.encryption.recipients.length} recipient(s); identity ${b.encryption.identityFile}` });
    } catch (e) {
      checks.push({ name: 'backup encryption', status: 'fail', detail: (e as Error).message, ...(isDataplaneError(e) && e.hint ? { fix: e.hint } : {}) });
    }
  }
  const dest = b.offsite.destination;
  if (!dest) {
    if (prod) checks.push({ name: 'off-host copy', status: 'warn', detail: 'backups stay on this host: losing its disk loses them', fix: 'set backup.offsite.destination (a mounted path or user@host:/path)' });
  } else if (dest.startsWith('/') && existsSync(dest)) {
    // A "mounted path" on the backups' own filesystem protects against nothing the copy is for.
    const paths = statePaths(config);
    const same = existsSync(paths.backups) && statSync(dest).dev === statSync(paths.backups).dev;
    checks.push(same ? { name: 'off-host copy', status: 'warn', detail: `${dest} is on the same filesystem as ${paths.backups}`, fix: 'point backup.offsite.destination at another disk or host' } : { name: 'off-host copy', status: 'ok', detail: dest });
  } else if (dest.startsWith('/')) {
    checks.push({ name: 'off-host copy', status: 'fail', detail: `${dest} does not exist (not mounted?)`, fix: 'mount it, or create the folder' });
  } else {
    checks.push({ name: 'off-host copy', status: 'ok', detail: `${dest} over SSH (\`dataplane backup copy\` tries it)` });
  }
  return checks;
}

export async function runDoctor(config: Config): Promise<Check[]> {
  const checks: Check[] = [nodeCheck()];
  checks.push(...(await binaryChecks(config)));
  const user = await userCheck(config);
  if (user) checks.push(user);
  checks.push(...(await portChecks(config)));
  checks.push(diskCheck(config));
  checks.push(...certificateChecks(config));
  checks.push(...stateChecks(config));
  checks.push(...backupChecks(config));
  return checks;
}
