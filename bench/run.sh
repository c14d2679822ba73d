#!/bin/sh
# Runs the whole benchmark (machine limits, tnv up, a multi-process cluster on
# MariaDB with mirrored and single-member groups, MinIO) and writes
# bench/results/DATE.{md,json}. Flags are passed on: see `go run ./bench -h`.
# Env: TNV_BENCH_CACHE (MinIO binary and scratch data), TNV_BENCH_MYSQL.
set -eu
cd "$(dirname "$0")/.."
exec go run ./bench "$@"
