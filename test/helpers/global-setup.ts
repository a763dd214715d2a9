/**
 * Once per run: build dist/ (CLI tests run the real `dataplane` binary) and make
 * sure the Debian packages behind the servers are there.
 */
import { execFileSync } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { MONITOR_REQUIREMENTS, PROMTOOL } from '../../src/servers/monitoring.js';
import { ensurePackages, REQUIREMENTS } from '../../src/lib/packages.js';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');

export default async function setup(): Promise<void> {
  execFileSync(process.execPath, [path.join(root, 'node_modules/typescript/bin/tsc'), '-p', path.join(root, 'tsconfig.build.json')], {
    stdio: 'inherit',
  });
  // shellcheck: the deploy test lints the rendered install scripts. age: files dataplane
  // encrypts must open with the standard tool.
  const shellcheck = { binary: 'shellcheck', package: 'shellcheck' };
  const age = { binary: 'age', package: 'age' };
  // sshd: the backup copy's SSH destination runs in a namespace of the test.
  const sshd = { binary: '/usr/sbin/sshd', package: 'openssh-server', versionArgs: ['-V'] };
  await ensurePackages([...Object.values(REQUIREMENTS), ...Object.values(MONITOR_REQUIREMENTS), PROMTOOL, shellcheck, age, sshd], (m) => process.stderr.write(`• ${m}\n`));
}
