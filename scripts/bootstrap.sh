#!/usr/bin/env bash
# Run by `npm start` and `npm test` before anything else: installs the npm packages
# pinned in package-lock.json (only when they changed) and compiles the CLI.
# Debian packages (redis-server, redis-tools, nats-server, postgresql-client-15)
# are installed by `dataplane up` and by the test setup themselves, with progress.
set -euo pipefail
cd "$(dirname "$0")/.."

stamp=node_modules/.dataplane-lockfile
if [ ! -f "$stamp" ] || ! cmp -s package-lock.json "$stamp"; then
  echo "• installing npm packages from package-lock.json (npm ci)" >&2
  npm ci --no-audit --no-fund --loglevel=error
  cp package-lock.json "$stamp"
fi

echo "• compiling (tsc)" >&2
node node_modules/typescript/bin/tsc -p tsconfig.build.json
chmod +x dist/cli/main.js
