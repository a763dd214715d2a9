/** `dataplane config print | render | docs`. */
import type { Command } from 'commander';
import { stringify } from 'yaml';
import { configurationMarkdown } from '../../config/docs.js';
import { SERVICES, type Config, type ServiceName } from '../../config/schema.js';
import { formatSize } from '../../lib/sizes.js';
import { ensureCertificates } from '../../tls/certificates.js';
import type { Binaries, ServerDriver } from '../../servers/types.js';
import { renderHostFiles, writeRendered } from '../../render/index.js';
import type { TuningPlan } from '../../stack/plan.js';
import { accessFor, loadFor } from '../context.js';
import { printJson, progress } from '../output.js';

/** Binaries are only needed to see whether TimescaleDB is installed; rendering works without them. */
async function bestEffortBinaries(config: Config, drivers: Record<ServiceName, ServerDriver>): Promise<Partial<Record<ServiceName, Binaries>>> {
  const out: Partial<Record<ServiceName, Binaries>> = {};
  for (const s of SERVICES.filter((x) => config[x].enabled)) {
    try {
      out[s] = await drivers[s].locate(config);
    } catch {
      /* reported by `doctor` and `up` */
    }
  }
  return out;
}

function tuningReport(plan: TuningPlan) {
  const r = plan.tuning.resources;
  const why = (v: { value: number; why: string }) => ({ value: v.value, human: formatSize(v.value), why: v.why });
  return {
    resources: {
      cpus: r.cpus,
      memory: formatSize(r.memory),
      disk: formatSize(r.disk),
      measured: Object.entries(r.detected).filter(([, d]) => d).map(([k]) => k),
    },
    timescaledb: plan.timescaledb,
    postgres: Object.fromEntries(Object.entries(plan.tuning.postgres).map(([k, t]) => [k, { value: t.value, why: t.why }])),
    redis: { maxmemory: why(plan.tuning.redis.maxmemory), 'io-threads': plan.tuning.redis.ioThreads },
    nats: {
      max_memory_store: why(plan.tuning.nats.maxMemoryStore),
      max_file_store: why(plan.tuning.nats.maxFileStore),
      max_connections: plan.tuning.nats.maxConnections,
    },
  };
}

/** The drivers and the planner load when print or render runs: they pull in every server's client. */
async function planning() {
  const [{ drivers }, { planStack, planTuning }] = await Promise.all([import('../../servers/index.js'), import('../../stack/plan.js')]);
  return { drivers, planStack, planTuning };
}

export function register(program: Command): void {
  const config = program.command('config').description('show, render and document the configuration');

  config
    .command('print')
    .description('print the effective configuration and the tuning computed from it (no secrets)')
    .option('--json', 'print machine-readable JSON')
    .action(async (opts: { json?: boolean }, cmd: Command) => {
      const loaded = loadFor(cmd);
      const { drivers, planTuning } = await planning();
      const plan = planTuning(loaded.config, { binaries: await bestEffortBinaries(loaded.config, drivers) });
      const sources = Object.fromEntries(loaded.sources);
      const doc = { file: loaded.file ?? null, config: loaded.config, sources, tuning: tuningReport(plan), secrets: `${plan.paths.secrets} (not shown; \`dataplane credentials --reveal\`)` };
      if (opts.json) return printJson(doc);
      process.stdout.write(
        `# effective configuration${loaded.file ? ` from ${loaded.file}` : ' (no config file: defaults)'}\n` +
          (loaded.sources.size ? `# set explicitly: ${[...loaded.sources].map(([k, v]) => `${k} (${v})`).join(', ')}\n` : '') +
          stringify({ ...loaded.config, tuning: doc.tuning }, { lineWidth: 0 }) +
          `# secrets: ${doc.secrets}\n`,
      );
    });

  config
    .command('render')
    .description('write the native config files (postgresql.conf, pg_hba.conf, redis.conf, nats.conf, Prometheus, Alertmanager and exporters), an nftables ruleset and a pgBackRest configuration to a folder')
    .requiredOption('-o, --out <dir>', 'folder to write into (one subfolder per server)')
    .addHelpText(
      'after',
      '\nFiles are mode 0600: they carry password hashes from <stateDir>/secrets.json (generated if missing).\nFor a production host, set stateDir and resources in its config file before rendering.',
    )
    .action(async (opts: { out: string }, cmd: Command) => {
      const { access } = accessFor(cmd, { create: true });
      if (access.config.tls.enabled) await ensureCertificates(access.config, { onProgress: progress });
      const { drivers, planStack } = await planning();
      const plan = planStack(access, { binaries: await bestEffortBinaries(access.config, drivers) });
      // The servers' files, and what a production host needs besides: the firewall ruleset and
      // a pgBackRest configuration for hosts with 2.47+ (docs/backup-restore.md).
      const host = renderHostFiles({ config: access.config, tuning: plan.tuning, secrets: access.secrets, paths: plan.paths });
      for (const w of writeRendered(opts.out, [...plan.files, ...host])) progress(`wrote ${w}`);
    });

  config
    .command('docs')
    .description('print every configuration field as Markdown (docs/configuration.md)')
    .action(() => {
      process.stdout.write(configurationMarkdown());
    });
}
