/** The delivery count read from a JetStream reply subject, in both of the server's forms, as a string or as received bytes. */
import { describe, expect, it } from 'vitest';
import { deliveryCounter } from '../../src/nats/delivery-count.js';

const deliveryCount = deliveryCounter('ORDERS', 'billing');

/** As nats.js 3.x holds it: a decoded `reply`, or the parsed bytes on `msg._msg.reply`, here inside a larger read buffer. */
const forms = {
  string: (reply: unknown) => ({ reply }) as never,
  bytes: (reply: unknown) => {
    if (typeof reply !== 'string') return { reply } as never;
    const read = Buffer.from(`MSG x 1 ${reply} 4\r\n`);
    return { msg: { _msg: { reply: new Uint8Array(read.buffer, read.byteOffset + 8, Buffer.byteLength(reply)) } } } as never;
  },
};

describe.each(Object.entries(forms))('deliveryCount from a reply subject as a %s', (_form, msg) => {
  it('reads the count of the 9-token form ($JS.ACK.<stream>.<consumer>.<delivered>...)', () => {
    expect(deliveryCount(msg('$JS.ACK.ORDERS.billing.1.42.40.1732900000000000000.0'))).toBe(1);
    expect(deliveryCount(msg('$JS.ACK.ORDERS.billing.17.42.40.1732900000000000000.3'))).toBe(17);
  });

  it('reads the count of the form with domain and account hash (nats-server 2.10+)', () => {
    expect(deliveryCount(msg('$JS.ACK._.HASH123.ORDERS.billing.3.42.40.1732900000000000000.0.rAnD0m'))).toBe(3);
    expect(deliveryCount(msg('$JS.ACK.hub.HASH123.ORDERS.billing.250.42.40.1732900000000000000.0'))).toBe(250);
  });

  it('answers undefined for anything else, so that the caller asks msg.info', () => {
    for (const reply of [undefined, 42, '', '_INBOX.abc', '$JS.ACK.ORDERS.billing.x.42.40.1.0', '$JS.ACK.a.b.c', '$JS.ACK.ORDERS.billing..42.40.1.0', '$JS.ACK.ORDERS.other.1.2.3.4.5', '$JS.ACK.ORDERS.billing', '$JS.AC']) {
      expect(deliveryCount(msg(reply)), String(reply)).toBeUndefined();
    }
  });
});
