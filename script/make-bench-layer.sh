#!/usr/bin/env bash
# Makes a realistic ~SIZE_MB uncompressed layer (real binaries, libraries and text from this
# machine's /usr, in name order) as OUT.tar, OUT.tar.gz and an OCI image layout OUT.oci holding it.
# Usage: make-bench-layer.sh OUT [SIZE_MB]
set -euo pipefail
out=${1:?usage: make-bench-layer.sh OUT [SIZE_MB]}
size_mb=${2:-500}
list=$(mktemp)
trap 'rm -f "$list"' EXIT

# Small text files first (/usr/share), then libraries: about the mix of a distribution layer.
for root in /usr/share /usr/lib; do
  find "$root" -xdev \( -type f -o -type l -o -type d \) -printf '%s\t%p\n' 2>/dev/null | LC_ALL=C sort -t$'\t' -k2,2 || true
done | awk -F'\t' -v limit=$((size_mb * 1024 * 1024)) '{ total += $1; if (total > limit) exit; print substr($2, 2) }' >"$list" || true
tar -C / --no-recursion -cf "$out.tar" -T "$list" 2>/dev/null || true
pigz -6 -n -c "$out.tar" >"$out.tar.gz"

# An OCI layout holding the gzip layer, for whole-image converters (ours and ctr-remote).
layout="$out.oci"
rm -rf "$layout"
mkdir -p "$layout/blobs/sha256"
put() { local d; d=$(sha256sum "$1" | cut -d' ' -f1); cp "$1" "$layout/blobs/sha256/$d"; echo "$d"; }
layer=$(put "$out.tar.gz")
diff_id=$(sha256sum "$out.tar" | cut -d' ' -f1)
config_file=$(mktemp)
printf '{"architecture":"amd64","os":"linux","config":{},"rootfs":{"type":"layers","diff_ids":["sha256:%s"]}}' "$diff_id" >"$config_file"
config=$(put "$config_file")
manifest_file=$(mktemp)
printf '{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","config":{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"sha256:%s","size":%d},"layers":[{"mediaType":"application/vnd.oci.image.layer.v1.tar+gzip","digest":"sha256:%s","size":%d}]}' \
  "$config" "$(stat -c%s "$config_file")" "$layer" "$(stat -c%s "$out.tar.gz")" >"$manifest_file"
manifest=$(put "$manifest_file")
echo '{"imageLayoutVersion":"1.0.0"}' >"$layout/oci-layout"
printf '{"schemaVersion":2,"manifests":[{"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"sha256:%s","size":%d,"annotations":{"org.opencontainers.image.ref.name":"bench"}}]}' \
  "$manifest" "$(stat -c%s "$manifest_file")" >"$layout/index.json"
rm -f "$config_file" "$manifest_file"
echo "bench layer: $(stat -c%s "$out.tar") bytes uncompressed, $(stat -c%s "$out.tar.gz") gzip, $(wc -l <"$list") entries"
