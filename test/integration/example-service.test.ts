/** The runnable example in examples/ works against a real stack (docs that run). */
import { jetstreamManager } from '@nats-io/jetstream';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { runExample } from '../../examples/telemetry-service.js';
import { connectNats } from '../../src/nats/connection.js';
import { reconcile } from '../../src/nats/reconcile.js';
import { startEphemeralStack, type EphemeralStack } from '../../src/testing.js';

let stack: EphemeralStack;

beforeAll(async () => {
  stack = await startEphemeralStack();
  // The example's durable consumer, declared as a service would declare it.
  const nc = await connectNats({ access: stack.access, user: 'admin' });
  await reconcile(await jetstreamManager(nc), { streams: [], consumers: [{ stream: 'EVENTS', name: 'example-service', filterSubject: 'app.events.registry.source_registered.*' }] });
  await nc.close();
});

afterAll(async () => {
  await stack.stop();
});

it('examples/telemetry-service.ts runs end to end', async () => {
  const r = await runExample(stack.access);
  expect(r).toMatchObject({ samples: 1200, eventsHandled: 1 });
});
