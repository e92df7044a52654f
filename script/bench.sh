#!/usr/bin/env bash
# `make bench`: every benchmark this project has so far. Figures go into docs/benchmarks.md by
# hand, with the machine and date. Needs root (FUSE mounts, drop_caches, containerd).
set -euo pipefail
cd "$(dirname "$0")/.."
echo "machine: $(nproc) cores, $(free -g | awk '/Mem:/ {print $2}') GiB, $(uname -r), $(date -u +%F)"
echo "== conversion throughput: ours vs ctr-remote"
./script/bench-convert.sh "${BENCH_LAYER_MB:-500}"
echo "== layer filesystem: our FUSE mount vs local disk vs bindfs"
./script/bench-fs.sh
echo "== registry ranged reads against a local docker-registry"
dotnet test --project tests/Snapshotter.Registry.Tests -c Release -- --filter-class "*RegistryReadBenchmark" --explicit only
cat tests/Snapshotter.Registry.Tests/bin/Release/net10.0/registry-read-benchmark.txt
echo "== lazy reads through FUSE, the registry client, the chunk cache and a local docker-registry"
dotnet test --project tests/Snapshotter.Daemon.Tests -c Release -- --filter-class "*LazyReadBenchmark" --explicit only
cat tests/Snapshotter.Daemon.Tests/bin/Release/net10.0/lazy-read-benchmark.txt
echo "== micro-benchmarks (BenchmarkDotNet): TOC parse, build, chunk read+verify"
dotnet run --project tests/Snapshotter.Benchmarks -c Release -- --filter '*' --job short
echo "== readiness: pull to first HTTP 200, overlayfs full pull vs lazy pull, over a shaped link"
./script/bench-readiness.sh
