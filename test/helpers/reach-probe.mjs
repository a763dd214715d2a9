// Run inside a namespace: does each address:port answer a TCP connect from here?
// One process for every check (a shell per port was slow enough under load to miss the
// connect timeout). Usage: node reach-probe.mjs '<json [[address, port], ...]>' <timeout ms>
import { tcpReach } from '../../dist/lib/reach.js';

const targets = JSON.parse(process.argv[2]);
const timeoutMs = Number(process.argv[3] ?? 3000);
const seen = await Promise.all(targets.map(([host, port]) => tcpReach(host, port, timeoutMs)));
process.stdout.write(JSON.stringify(seen) + '\n');
