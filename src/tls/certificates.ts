/**
 * Certificates: a local certificate authority and one server certificate per server
 * (generated with openssl, keys 0600), or files the config points to (production).
 *
 * openssl rather than a JavaScript X.509 library: the maintained WebCrypto one
 * (@peculiar/x509) needs a global reflect-metadata polyfill in every process that
 * loads it, and openssl is part of every Debian system.
 */
import { X509Certificate, randomBytes } from 'node:crypto';
import { chmodSync, existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { statePaths } from '../config/paths.js';
import { SERVICES, type Config, type ServiceName } from '../config/schema.js';
import { DataplaneError } from '../errors/index.js';
import { REQUIREMENTS, requireBinary } from '../lib/packages.js';
import { run } from '../lib/process.js';

export class CertificateError extends DataplaneError {
  readonly code = 'CERTIFICATE';
}

export interface ServerCert {
  certFile: string;
  keyFile: string;
}

export interface TlsFiles {
  caFile: string;
  servers: Record<ServiceName, ServerCert>;
  /**
   * The HTTP surfaces' certificate (health server, Prometheus, Alertmanager, exporters),
   * also Prometheus's client certificate towards the Redis exporter.
   */
  http: ServerCert;
}

/** The subjects certificates are issued for: the three servers and the HTTP surfaces. */
type Subject = ServiceName | 'http';

export interface CertificateInfo {
  file: string;
  subject: string;
  notAfter: Date;
  daysLeft: number;
  ips: string[];
  dnsNames: string[];
}

/** Where the CA and each server's certificate live (generated, or the configured files). */
export function tlsFiles(config: Config): TlsFiles {
  if (config.tls.source === 'files') {
    const server = { certFile: config.tls.certFile, keyFile: config.tls.keyFile };
    return { caFile: config.tls.caFile, servers: { postgres: server, redis: server, nats: server }, http: server };
  }
  const dir = statePaths(config).tls;
  const pair = (s: Subject) => ({ certFile: path.join(dir, `${s}.crt`), keyFile: path.join(dir, `${s}.key`) });
  const servers = Object.fromEntries(SERVICES.map((s) => [s, pair(s)])) as Record<ServiceName, ServerCert>;
  return { caFile: path.join(dir, 'ca.crt'), servers, http: pair('http') };
}

/** Whether the HTTP surfaces need a certificate: TLS on, and any of them runs. */
export function wantsHttpCertificate(config: Config): boolean {
  return config.tls.enabled && (config.health.enabled || config.monitoring.enabled);
}

/** Every certificate the stack serves, by name (the CA first): doctor, `certs`, the expiry metric. */
export function certificateList(config: Config): { name: string; file: string }[] {
  const files = tlsFiles(config);
  return [
    { name: 'ca', file: files.caFile },
    ...SERVICES.filter((s) => config[s].enabled).map((s) => ({ name: s, file: files.servers[s].certFile })),
    ...(wantsHttpCertificate(config) && config.tls.source !== 'files' ? [{ name: 'http', file: files.http.certFile }] : []),
  ];
}

export function readCertificate(file: string): CertificateInfo {
  const cert = new X509Certificate(readFileSync(file));
  const notAfter = new Date(cert.validTo);
  const alt = cert.subjectAltName ?? '';
  return {
    file,
    subject: cert.subject.replace(/\n/g, ', '),
    notAfter,
    daysLeft: Math.floor((notAfter.getTime() - Date.now()) / 86_400_000),
    ips: [...alt.matchAll(/IP Address:([^,\s]+)/g)].map((m) => m[1]!),
    dnsNames: [...alt.matchAll(/DNS:([^,\s]+)/g)].map((m) => m[1]!),
  };
}

/** One spelling per address (X509Certificate writes ::1 as 0:0:0:0:0:0:0:1). */
function canonicalIp(ip: string): string {
  if (!net.isIPv6(ip)) return ip;
  const [head, tail] = ip.includes('::') ? ip.split('::') : [ip, undefined];
  const left = head ? head.split(':') : [];
  const right = tail ? tail.split(':') : [];
  const groups = tail === undefined ? left : [...left, ...Array<string>(8 - left.length - right.length).fill('0'), ...right];
  return groups.map((g) => parseInt(g, 16).toString(16)).join(':');
}

/**
 * The names a certificate must carry: its server's address (the HTTP surfaces': the
 * health server's and monitoring's), loopback, and configured DNS names.
 */
export function subjectAltNames(config: Config, subject: Subject): { ips: string[]; dns: string[] } {
  const hosts = subject === 'http' ? [config.health.host, config.monitoring.host] : [config[subject].host];
  const ips = new Set(['127.0.0.1', '::1']);
  const dns = new Set(['localhost', ...config.tls.hostnames]);
  for (const host of hosts) if (net.isIP(host) && host !== '0.0.0.0' && host !== '::') ips.add(host);
  return { ips: [...ips], dns: [...dns] };
}

async function openssl(args: string[], cwd: string): Promise<void> {
  const bin = requireBinary(REQUIREMENTS.openssl);
  const r = await run(bin, args, { cwd });
  if (r.code !== 0) throw new CertificateError(`openssl ${args[0]} failed: ${r.stderr.trim().split('\n').slice(-2).join(' ')}`);
}

function writePrivate(file: string, content: string): void {
  writeFileSync(file, content, { mode: 0o600 });
  chmodSync(file, 0o600);
}

/**
 * The CA signs with ca.key and ca-current.crt; clients trust ca.crt, which holds
 * the current CA and, after a CA rotation, the previous one too: servers switch to
 * certificates of the new CA one by one, and no client loses trust meanwhile. The
 * previous CA leaves the bundle at the next CA rotation.
 */
async function createCa(dir: string): Promise<void> {
  const key = path.join(dir, 'ca.key');
  const current = path.join(dir, 'ca-current.crt');
  const previous = existsSync(current) ? readFileSync(current, 'utf8') : '';
  await openssl(['genpkey', '-algorithm', 'EC', '-pkeyopt', 'ec_paramgen_curve:P-256', '-out', key], dir);
  chmodSync(key, 0o600);
  const id = randomBytes(4).toString('hex');
  await openssl(
    [
      'req', '-x509', '-new', '-key', key, '-sha256', '-days', '3650',
      '-subj', `/O=dataplane/CN=dataplane local CA ${id}`,
      '-addext', 'basicConstraints=critical,CA:TRUE,pathlen:0',
      '-addext', 'keyUsage=critical,keyCertSign,cRLSign',
      '-addext', 'subjectKeyIdentifier=hash',
      '-out', current,
    ],
    dir,
  );
  chmodSync(current, 0o644);
  writeFileSync(path.join(dir, 'ca.crt'), readFileSync(current, 'utf8') + previous, { mode: 0o644 });
  chmodSync(path.join(dir, 'ca.crt'), 0o644);
}

async function issue(dir: string, config: Config, service: Subject, files: ServerCert): Promise<void> {
  await issueCertificate(dir, { name: service, ...subjectAltNames(config, service), days: config.tls.certDays }, files);
}

/**
 * A certificate of the CA in `caDir` (ca-current.crt, ca.key) for `name` and its
 * addresses, for servers and clients alike; key 0600. Also issues production hosts'.
 */
export async function issueCertificate(caDir: string, subject: { name: string; ips: string[]; dns: string[]; days: number }, files: ServerCert): Promise<void> {
  const { ips, dns, name: service } = subject;
  const dir = caDir;
  const tmpKey = `${files.keyFile}.new`;
  const csr = path.join(path.dirname(files.keyFile), `${service}.csr`);
  const ext = path.join(path.dirname(files.keyFile), `${service}.ext`);
  await openssl(['genpkey', '-algorithm', 'EC', '-pkeyopt', 'ec_paramgen_curve:P-256', '-out', tmpKey], dir);
  chmodSync(tmpKey, 0o600);
  try {
    await openssl(['req', '-new', '-key', tmpKey, '-subj', `/O=dataplane/CN=${service}`, '-out', csr], dir);
    writeFileSync(
      ext,
      [
        'basicConstraints = critical, CA:FALSE',
        'keyUsage = critical, digitalSignature',
        'extendedKeyUsage = serverAuth, clientAuth',
        'subjectKeyIdentifier = hash',
        'authorityKeyIdentifier = keyid',
        `subjectAltName = ${[...ips.map((ip) => `IP:${ip}`), ...dns.map((d) => `DNS:${d}`)].join(', ')}`,
      ].join('\n') + '\n',
    );
    await openssl(
      [
        'x509', '-req', '-in', csr, '-CA', path.join(dir, 'ca-current.crt'), '-CAkey', path.join(dir, 'ca.key'),
        '-set_serial', `0x${randomBytes(16).toString('hex')}`, '-days', String(subject.days), '-sha256',
        '-extfile', ext, '-out', `${files.certFile}.new`,
      ],
      dir,
    );
    // Key and certificate replace the old pair together.
    writePrivate(files.keyFile, readFileSync(tmpKey, 'utf8'));
    writeFileSync(files.certFile, readFileSync(`${files.certFile}.new`, 'utf8'), { mode: 0o644 });
    chmodSync(files.certFile, 0o644);
  } finally {
    for (const f of [tmpKey, csr, ext, `${files.certFile}.new`]) rmSync(f, { force: true });
  }
}

function needsNewCertificate(config: Config, service: Subject, files: ServerCert, currentCa: string): string | undefined {
  if (!existsSync(files.certFile) || !existsSync(files.keyFile)) return 'missing';
  const info = readCertificate(files.certFile);
  if (info.daysLeft < config.tls.renewBeforeDays) return `expires in ${info.daysLeft} days`;
  const want = subjectAltNames(config, service);
  const have = new Set(info.ips.map(canonicalIp));
  const missing = [...want.ips.filter((ip) => !have.has(canonicalIp(ip))), ...want.dns.filter((d) => !info.dnsNames.includes(d))];
  if (missing.length) return `does not name ${missing.join(', ')}`;
  if (!new X509Certificate(readFileSync(files.certFile)).checkIssued(new X509Certificate(readFileSync(currentCa)))) return 'not issued by the current CA';
  return undefined;
}

export interface EnsureResult {
  createdCa: boolean;
  issued: { service: Subject; reason: string }[];
}

/**
 * Generated mode: create the CA on first use and (re)issue server certificates that
 * are missing, expiring, issued by another CA or missing a configured name.
 * `force` reissues every server certificate; `newCa` replaces the CA too.
 * Files mode: check the configured files exist and parse.
 */
export async function ensureCertificates(
  config: Config,
  opts: { force?: boolean; newCa?: boolean; onProgress?: (msg: string) => void } = {},
): Promise<EnsureResult> {
  const files = tlsFiles(config);
  const result: EnsureResult = { createdCa: false, issued: [] };
  if (!config.tls.enabled) return result;
  if (config.tls.source === 'files') {
    for (const f of [files.caFile, files.servers.postgres.certFile, files.servers.postgres.keyFile]) {
      if (!existsSync(f)) throw new CertificateError(`TLS file ${f} does not exist`, { hint: 'check tls.caFile, tls.certFile and tls.keyFile' });
    }
    readCertificate(files.servers.postgres.certFile);
    return result;
  }
  const dir = statePaths(config).tls;
  // Readable folder, private keys: clients anywhere on the machine need ca.crt.
  mkdirSync(dir, { recursive: true, mode: 0o755 });
  chmodSync(dir, 0o755);
  const currentCa = path.join(dir, 'ca-current.crt');
  if (opts.newCa || !existsSync(currentCa) || !existsSync(files.caFile) || !existsSync(path.join(dir, 'ca.key'))) {
    opts.onProgress?.('creating the local certificate authority');
    await createCa(dir);
    result.createdCa = true;
  }
  const subjects: [Subject, ServerCert][] = [
    ...SERVICES.filter((s) => config[s].enabled).map((s): [Subject, ServerCert] => [s, files.servers[s]]),
    ...(wantsHttpCertificate(config) ? [['http', files.http] as [Subject, ServerCert]] : []),
  ];
  for (const [service, pair] of subjects) {
    const reason = opts.force ? 'renewal requested' : result.createdCa ? 'new certificate authority' : needsNewCertificate(config, service, pair, currentCa);
    if (!reason) continue;
    opts.onProgress?.(`issuing the ${service} ${service === 'http' ? 'surfaces' : 'server'} certificate (${reason})`);
    await issue(dir, config, service, pair);
    result.issued.push({ service, reason });
  }
  return result;
}
