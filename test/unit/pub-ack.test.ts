/** The JetStream publish ack reader: the common shape from bytes, everything else as JSON. */
import { describe, expect, it } from 'vitest';
import { readAck } from '../../src/nats/pub-ack.js';

const ack = (s: string) => readAck(new TextEncoder().encode(s));

describe('readAck', () => {
  it('reads the common shape, and the same stream name twice', () => {
    expect(ack('{"stream":"ORDERS","seq":42}')).toEqual({ stream: 'ORDERS', seq: 42 });
    expect(ack('{"stream":"ORDERS","seq":9007199254740}')).toEqual({ stream: 'ORDERS', seq: 9007199254740 });
    expect(ack('{"stream":"EVENTS","seq":1}')).toEqual({ stream: 'EVENTS', seq: 1 });
    expect(ack('{"stream":"EVENTS","seq":2}')).toEqual({ stream: 'EVENTS', seq: 2 });
    expect(ack('{"stream":"ÉVÉNEMENTS","seq":3}')).toEqual({ stream: 'ÉVÉNEMENTS', seq: 3 });
  });

  it('hands every other shape to JSON', () => {
    expect(ack('{"stream":"ORDERS","seq":42,"duplicate":true}')).toEqual({ stream: 'ORDERS', seq: 42, duplicate: true });
    expect(ack('{"stream":"ORDERS","domain":"hub","seq":7}')).toEqual({ stream: 'ORDERS', domain: 'hub', seq: 7 });
    expect(ack('{"error":{"code":503,"err_code":10039,"description":"no stream"}}')).toMatchObject({ error: { code: 503, description: 'no stream' } });
    expect(ack('{"stream":"A\\"B","seq":1}')).toEqual({ stream: 'A"B', seq: 1 });
    expect(ack('{"stream":"ORDERS","seq":12345678901234567}')).toEqual({ stream: 'ORDERS', seq: 12345678901234567 });
    expect(ack('{ "stream": "ORDERS", "seq": 5 }')).toEqual({ stream: 'ORDERS', seq: 5 });
  });

  it('throws on what is not JSON, whatever its start', () => {
    expect(() => ack('{"stream":"ORDERS","seq":}')).toThrow(SyntaxError);
    expect(() => ack('{"stream":"ORDERS","seq":4')).toThrow(SyntaxError);
    expect(() => ack('not json')).toThrow(SyntaxError);
    expect(() => ack('')).toThrow(SyntaxError);
  });
});
