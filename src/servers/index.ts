import type { ProcessName, ServiceName } from '../config/schema.js';
import { monitorDrivers } from './monitoring.js';
import { natsDriver } from './nats.js';
import { postgresDriver } from './postgres.js';
import { redisDriver } from './redis.js';
import type { ServerDriver } from './types.js';

/** Start order; shutdown runs in reverse. */
export const drivers: Record<ServiceName, ServerDriver> = {
  postgres: postgresDriver,
  redis: redisDriver,
  nats: natsDriver,
};

/** Data servers and monitoring processes alike, by process name. */
export const allDrivers: Record<ProcessName, ServerDriver> = { ...drivers, ...monitorDrivers };
