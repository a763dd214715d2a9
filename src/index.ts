/**
 * The public library surface. Internals stay reachable to tests by path but are
 * not advertised here.
 */
export { loadConfig, parseConfig, type LoadOptions, type LoadedConfig } from './config/load.js';
export type { Config, ConfigInput, ServiceName } from './config/schema.js';
export { SERVICES } from './config/schema.js';
export { statePaths, type StatePaths } from './config/paths.js';
export { resolveResources, detectMachine, type Resources, type Machine } from './config/resources.js';
export { computeTuning, type Tuning } from './config/tuning.js';
export { Supervisor, type SupervisorOptions, type ServiceSnapshot } from './stack/supervisor.js';
export { stackStatus, type StackStatus, type ServiceStatus } from './stack/status.js';
export { stopStack } from './stack/control.js';
export { credentialsFor, type Credential } from './stack/credentials.js';
export { createLogger, type Logger } from './stack/logger.js';
export { startHealthServer, type ComponentHealth, type Readiness } from './observe/health.js';
export * from './errors.js';
