#!/usr/bin/env bash
# Build natsbench-go, the Go reference client of the messaging benchmarks, from Debian
# packages only (GOPATH mode: no Go module download). nats.go 1.22.1 as Debian ships it.
# Usage: bash bench/natsbench-go/build.sh [output-binary]   (default /tmp/natsbench-go/natsbench-go)
set -euo pipefail
OUT=${1:-/tmp/natsbench-go/natsbench-go}
if ! command -v go >/dev/null || [ ! -d /usr/share/gocode/src/github.com/nats-io/nats.go ]; then
  apt-get update
  DEBIAN_FRONTEND=noninteractive apt-get install -y golang-go golang-github-nats-io-go-nats-dev \
    golang-github-nats-io-nkeys-dev golang-github-nats-io-nuid-dev golang-golang-x-crypto-dev nats-server
fi
mkdir -p "$(dirname "$OUT")" /tmp/gopath
cd "$(dirname "$0")"
GO111MODULE=off GOPATH=/usr/share/gocode:/tmp/gopath GOCACHE=/tmp/gocache GOPROXY=off \
  go build -o "$OUT" .
echo "built $OUT"
