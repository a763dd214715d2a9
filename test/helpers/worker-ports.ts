/**
 * Each vitest worker chooses loopback ports from its own slice of 10000-32000: two
 * workers drawing at random from one range can both pick a port before either binds
 * it ("Address already in use" in CI). The CLI processes a test starts inherit the
 * slice through DATAPLANE_EPHEMERAL_PORTS (test/helpers/cli.ts passes it on).
 */
import { choosePortsFrom } from '../../src/lib/ports.js';

const SLICES = 4;
const FLOOR = 10_000;
const CEILING = 32_000;
const pool = Math.max(1, Number(process.env.VITEST_POOL_ID ?? '1'));
const width = Math.floor((CEILING - FLOOR) / SLICES);
const low = FLOOR + ((pool - 1) % SLICES) * width;
process.env.DATAPLANE_EPHEMERAL_PORTS = `${low}-${low + width}`;
choosePortsFrom(low, low + width);
