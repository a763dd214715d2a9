/** Which failed publishes are refusals (the outbox relay holds the key) and which got no answer (it starts again). */
import { describe, expect, it } from 'vitest';
import { isRefusal, PublishError } from '../../src/nats/publisher.js';

const connection = (state: 'open' | 'draining' | 'closed') => ({ isClosed: () => state === 'closed', isDraining: () => state === 'draining' });

describe('isRefusal', () => {
  it('JetStream answering with an error, or nats.js refusing the message, is a refusal on an open connection', () => {
    expect(isRefusal(new PublishError('a.b', 'no stream captures this subject (503 no responders)', 503), connection('open'))).toBe(true);
    expect(isRefusal(new PublishError('a.b', 'maximum messages exceeded', 10077), connection('open'))).toBe(true);
    expect(isRefusal(new Error('payload exceeds max_payload'), connection('open'))).toBe(true);
  });

  it('no ack in time or an unreadable one is no answer', () => {
    expect(isRefusal(new PublishError('a.b', 'no ack within 5000 ms'), connection('open'))).toBe(false);
    expect(isRefusal(new PublishError('a.b', 'unreadable ack'), connection('open'))).toBe(false);
  });

  it('anything on a draining or closed connection is no answer', () => {
    for (const state of ['draining', 'closed'] as const) {
      expect(isRefusal(new Error('connection draining'), connection(state)), state).toBe(false);
      expect(isRefusal(new PublishError('a.b', 'no stream', 503), connection(state)), state).toBe(false);
    }
  });
});
