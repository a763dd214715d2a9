/** Connecting to a test stack's PostgreSQL as one of its roles. */
import pg from 'pg';
import type { EphemeralStack } from '../../src/testing.js';
import { credential, pgConfig } from './connect.js';

/** Run `fn` as `role` (optionally inside a tenant), always disconnecting. */
export async function asRole<T>(stack: EphemeralStack, role: string, fn: (c: pg.Client) => Promise<T>, tenant?: number | string): Promise<T> {
  const client = new pg.Client(pgConfig(credential(stack.credentials, 'postgres', role), stack.config.postgres.database));
  await client.connect();
  try {
    if (tenant !== undefined) await client.query(`select set_config('dataplane.org_id', $1, false)`, [String(tenant)]);
    return await fn(client);
  } finally {
    await client.end();
  }
}

/** The SQLSTATE a statement fails with, or 'ok'. */
export async function outcome(client: pg.Client, sql: string, params: unknown[] = []): Promise<string> {
  try {
    await client.query(sql, params);
    return 'ok';
  } catch (e) {
    return (e as { code?: string }).code ?? (e as Error).message;
  }
}

/** insufficient_privilege: missing grants, row-level security, the audit trigger */
export const PERMISSION_DENIED = '42501';
export const CHECK_OPTION_VIOLATION = '44000';
export const FK_VIOLATION = '23503';
