#!/usr/bin/env bash
# Conversion throughput, ours against the Go ctr-remote, on the same ~500 MB layer and machine.
# Prints a Markdown table row per tool (MB/s of uncompressed input). Usage: bench-convert.sh [SIZE_MB]
set -euo pipefail
cd "$(dirname "$0")/.."
source script/lib.sh
size_mb=${1:-500}
work=$PWD/artifacts/bench/convert
rm -rf "$work"
mkdir -p "$work"

publish estargz-tools estargz
estargz=$PWD/artifacts/bin/estargz/estargz

log "making a ${size_mb} MB layer"
./script/make-bench-layer.sh "$work/layer" "$size_mb"
bytes=$(stat -c%s "$work/layer.tar")
mbps() { awk -v b="$bytes" -v s="$1" 'BEGIN { printf "%.1f", b / 1e6 / s }'; }
seconds() { local start end; start=$(date +%s.%N); "$@" >/dev/null; end=$(date +%s.%N); awk -v a="$start" -v b="$end" 'BEGIN { printf "%.2f", b - a }'; }

sync; echo 3 >/proc/sys/vm/drop_caches 2>/dev/null || true
log "ours: estargz convert (OCI layout → OCI layout, gzip level 9, 4 MiB chunks)"
ours=$(seconds "$estargz" convert "$work/layer.oci" "$work/ours.oci")

log "ctr-remote image convert --estargz --oci (inside containerd)"
start_containerd "$work/containerd"
tar -C "$work/layer.oci" -cf "$work/layer-oci.tar" .
ctr_ images import --index-name bench:gzip "$work/layer-oci.tar" >/dev/null
sync; echo 3 >/proc/sys/vm/drop_caches 2>/dev/null || true
theirs=$(seconds ctr_remote images convert --estargz --oci bench:gzip bench:esgz)

ours_size=$(du -sb "$work/ours.oci/blobs" | cut -f1)
echo
echo "| converter | input (uncompressed) | seconds | MB/s |"
echo "|---|---|---|---|"
echo "| estargz convert (ours) | $((bytes / 1000000)) MB | $ours | $(mbps "$ours") |"
echo "| ctr-remote image convert --estargz --oci | $((bytes / 1000000)) MB | $theirs | $(mbps "$theirs") |"
echo
echo "(our output layout: $((ours_size / 1000000)) MB)"
