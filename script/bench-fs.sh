#!/usr/bin/env bash
# Layer filesystem benchmark: sequential/random reads of a 1 GiB file and lstat of a 30,000-file
# layer through our FUSE mount (with and without passthrough), the local disk and bindfs.
# Needs root, /dev/fuse and bindfs (script/install-deps.sh). Usage: script/bench-fs.sh [workdir] [MiB] [files]
set -euo pipefail
cd "$(dirname "$0")/.."
[[ $EUID -eq 0 ]] || { echo "bench-fs: needs root (FUSE mounts, drop_caches)" >&2; exit 1; }
command -v bindfs >/dev/null || { echo "bench-fs: bindfs is missing (apt-get install bindfs)" >&2; exit 1; }
dotnet build tests/Snapshotter.Fs.Bench -c Release -nologo -v quiet
exec dotnet tests/Snapshotter.Fs.Bench/bin/Release/net10.0/Snapshotter.Fs.Bench.dll "${1:-/tmp/fs-bench}" "${2:-1024}" "${3:-30000}"
