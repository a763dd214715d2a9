/** The supervisor's health server: /livez, /readyz with each server's figures, /metrics (library and server metrics). */
import type { Config } from '../../config/schema.js';
import type { StatePaths } from '../../config/paths.js';
import type { Access } from '../../connect/access.js';
import { collectProcessMetrics, registry as libraryMetrics } from '../../lib/metrics.js';
import { startHealthServer, type ComponentHealth, type HealthServer } from '../../observe/health.js';
import { createServerMetrics } from '../../observe/server-metrics.js';
import { MONITORING_USER } from '../../render/monitoring.js';
import { secretFor } from '../../secrets/store.js';
import { tlsFiles } from '../../tls/certificates.js';
import { httpsRequired } from '../../tls/policy.js';
import { readFileSync } from 'node:fs';
import type { Job } from './job.js';

export interface HealthJobSources {
  config: Config;
  paths: StatePaths;
  access: () => Access;
  readiness: () => Promise<ComponentHealth[]>;
  services: () => { name: string; up: boolean; restarts: number; cluster?: string }[];
}

export class HealthJob implements Job {
  readonly name = 'health server';
  private server: HealthServer | undefined;

  constructor(private readonly src: HealthJobSources) {}

  get url(): string | undefined {
    return this.server?.url;
  }

  async start(): Promise<void> {
    const { config } = this.src;
    if (!config.health.enabled) return;
    collectProcessMetrics();
    const serverMetrics = createServerMetrics({ config, paths: this.src.paths, access: this.src.access, services: this.src.services });
    // Where plaintext is not allowed: HTTPS with the monitoring login (Prometheus scrapes with it).
    const secure = httpsRequired(config, config.health.host);
    this.server = await startHealthServer({
      host: config.health.host,
      port: config.health.port,
      check: this.src.readiness,
      registries: [libraryMetrics, serverMetrics],
      ...(secure
        ? {
            tls: this.certificate(),
            login: () => ({ user: MONITORING_USER, password: secretFor(this.src.access().secrets, 'monitoring', MONITORING_USER) }),
          }
        : {}),
    });
  }

  private certificate(): { cert: Buffer; key: Buffer } {
    const files = tlsFiles(this.src.config).http;
    return { cert: readFileSync(files.certFile), key: readFileSync(files.keyFile) };
  }

  /** After a certificate rotation: new connections get the renewed certificate. */
  reload(): void {
    if (this.server?.url.startsWith('https:')) this.server.setCertificate(this.certificate());
  }

  async stop(): Promise<void> {
    await this.server?.close();
    this.server = undefined;
  }
}
