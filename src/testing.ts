/**
 * Test support for applications: a real, throw-away stack per test file.
 *
 *   import { startEphemeralStack } from 'dataplane/testing';
 *   await using stack = await startEphemeralStack({ services: ['postgres', 'redis'] });
 */
export { startEphemeralStack, type EphemeralStack, type EphemeralStackOptions } from './stack/ephemeral.js';
export type { Credential } from './connect/credentials.js';
export type { Access } from './connect/access.js';
