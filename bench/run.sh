#!/bin/sh
# Runs the whole benchmark and writes bench/results/DATE.{md,json}: the
# machine's limits, then every system (tnv up; the MariaDB clusters mirror,
# mirror-tcp and single; MinIO) started afresh in each repetition, the
# order rotated by one each time. Method: bench/README.md.
#
# Options (all passed on to `go run ./bench`; `go run ./bench -h` lists them):
#   -reps N          repetitions (default 3)
#   -cell D          duration of each measured cell (default 3s)
#   -systems LIST    e.g. up,mirror,mirror-tcp,single,minio (the default), or mirror-tls
#   -only PREFIXES   only the workloads beginning so, e.g. "PUT 4KiB,OVERWRITE"
#   -all             also PUT 64MiB, the mixed run and the video seeks
#   -sse             also the SSE cells (plain / SSE-S3 / SSE-C) and the SSE cost table
#   -minio-version V the github.com/minio/minio module version (pinned by default)
#   -profile         CPU and heap profiles of the mirror and mirror-tcp clusters and of tnv up (first repetition)
# Env: TNV_BENCH_CACHE (MinIO binary per version, scratch data), TNV_BENCH_MYSQL.
#
# With the defaults a run takes about 20 minutes on 2 cores: 16 cells per
# system and repetition, plus ~25-35 s for each system's start, the objects
# the GET and overwrite cells need, and the cells' tails (plus 10-25 min to
# build MinIO the first time).
set -eu
cd "$(dirname "$0")/.."
exec go run ./bench "$@"
