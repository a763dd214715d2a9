import type { ServiceName } from '../config/schema.js';
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
