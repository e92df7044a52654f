#!/usr/bin/env bash
# `make bench`: every benchmark this project has so far; figures go into docs/benchmarks.md by hand,
# with the machine and date.
set -euo pipefail
cd "$(dirname "$0")/.."
echo "machine: $(nproc) cores, $(free -g | awk '/Mem:/ {print $2}') GiB, $(uname -r), $(date -u +%F)"
./script/bench-convert.sh "${BENCH_LAYER_MB:-500}"
dotnet run --project tests/Snapshotter.Benchmarks -c Release -- --filter '*' --job short
