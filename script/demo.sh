#!/usr/bin/env bash
# The main job, end to end on this machine: build a sample image offline, convert it to eStargz
# with our `estargz`, verify every layer, check that the Go tools (ctr-remote) agree with our
# TOC digests, and run the converted image with a real containerd.
set -euo pipefail
cd "$(dirname "$0")/.."
source script/lib.sh

work=$PWD/artifacts/demo
rm -rf "$work"
mkdir -p "$work"

log "building the estargz tool"
publish estargz-tools estargz
estargz=$PWD/artifacts/bin/estargz/estargz

log "building a sample image (busybox httpd) as an OCI layout"
./script/build-sample-image.sh "$work/sample"

log "converting it to eStargz"
"$estargz" convert "$work/sample" "$work/sample-esgz"

log "verifying every layer (footer, TOC digest, every chunk digest, tar stream)"
manifest=$(jq -r '.manifests[0].digest' "$work/sample-esgz/index.json")
manifest_file=$work/sample-esgz/blobs/sha256/${manifest#sha256:}
jq -r '.layers[] | "\(.digest) \(.annotations["containerd.io/snapshot/stargz/toc.digest"])"' "$manifest_file" >"$work/layers.txt"
while read -r layer toc; do
  "$estargz" verify --toc-digest "$toc" "$work/sample-esgz/blobs/sha256/${layer#sha256:}"
done <"$work/layers.txt"
first_layer=$(head -1 "$work/layers.txt" | cut -d' ' -f1)
"$estargz" inspect "$work/sample-esgz/blobs/sha256/${first_layer#sha256:}" | head -15

log "starting containerd (its own root and socket under $work)"
start_containerd "$work/containerd"
tar -C "$work/sample-esgz" -cf "$work/sample-esgz.tar" .
ctr_ images import --index-name localhost/sample:esgz "$work/sample-esgz.tar" >/dev/null

log "the Go ctr-remote reads our layers and agrees with our TOC digests"
while read -r layer toc; do
  theirs=$(ctr_remote images get-toc-digest "$layer")
  [[ $theirs == "$toc" ]] || { echo "TOC digest mismatch for $layer: ours $toc, ctr-remote $theirs" >&2; exit 1; }
  echo "  $layer  toc $toc  ok"
done <"$work/layers.txt"

log "running the converted image (overlayfs) and fetching its page"
ctr_ run --rm --net-host localhost/sample:esgz demo-$$ /bin/sh -c \
  'httpd -p 127.0.0.1:18080 -h /www && sleep 0.3 && wget -qO- http://127.0.0.1:18080/'
log "demo done"
