#!/usr/bin/env bash
# The main job, end to end on this machine: build a sample image offline, convert it to eStargz
# with our `estargz`, verify every layer, check that the Go tools (ctr-remote) agree with our
# TOC digests, push it to a local registry, lazy-pull it through our snapshotter daemon with our
# `stargzctl rpull`, run it, and time pull-to-first-HTTP-200 against a plain pull. (The same lazy
# pull with the Go `ctr-remote images rpull` is covered by the tests: tests/Snapshotter.Containerd.Tests
# compares what both leave in containerd, tests/Snapshotter.Daemon.Tests pulls with ctr-remote.)
set -euo pipefail
cd "$(dirname "$0")/.."
source script/lib.sh

work=$PWD/artifacts/demo
# A run that was killed may have left layers mounted, their connections kept by the descriptor
# holder: detach them first, or rm would wait on them.
cleanup_dirs+=("$work") && stop_started && cleanup_dirs=()
rm -rf "$work"
mkdir -p "$work"

log "building the estargz and stargzctl tools and the stargz-snapshotter daemon"
publish estargz-tools estargz
publish_daemon
publish_native src/Snapshotter.Cli stargzctl
estargz=$PWD/artifacts/bin/estargz/estargz
stargzctl=$PWD/artifacts/bin/stargzctl/stargzctl

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

log "starting a registry, our stargz-snapshotter and containerd (own roots and sockets under $work)"
port=${DEMO_REGISTRY_PORT:-15000}
start_registry "$work/registry" "$port"
start_snapshotter "$work/snapshotter"
start_containerd "$work/containerd" "stargz=$SNAPSHOTTER_SOCKET"
tar -C "$work/sample-esgz" -cf "$work/sample-esgz.tar" .
ctr_ images import --index-name localhost/sample:esgz "$work/sample-esgz.tar" >/dev/null

log "the Go ctr-remote reads our layers and agrees with our TOC digests"
while read -r layer toc; do
  theirs=$(ctr_remote images get-toc-digest "$layer")
  [[ $theirs == "$toc" ]] || { echo "TOC digest mismatch for $layer: ours $toc, ctr-remote $theirs" >&2; exit 1; }
  echo "  $layer  toc $toc  ok"
done <"$work/layers.txt"

log "pushing the eStargz image and the original to the registry"
skopeo copy -q --preserve-digests --dest-tls-verify=false "oci:$work/sample-esgz:sample" "docker://127.0.0.1:$port/sample:esgz"
skopeo copy -q --dest-tls-verify=false "oci:$work/sample:sample" "docker://127.0.0.1:$port/sample:plain"
# Forget the imported copy (import also names it after its ref annotation) so the lazy pull starts cold.
ctr_ images ls -q | xargs -r ctr --address "$CONTAINERD_ADDRESS" images rm --sync >/dev/null

# pull_and_serve NAME SNAPSHOTTER REF PULL-COMMAND...: pulls, starts the image's httpd, waits for the first
# HTTP 200; prints "pull start-to-ready total" seconds.
pull_and_serve() {
  local name=$1 snapshotter=$2; shift 2
  local ref=$1 t0 t1 pull ready total http_port=$((18000 + RANDOM % 1000))
  t0=$(now)
  "${@:2}" >/dev/null
  pull=$(since "$t0")
  t1=$(now)
  ctr_ run -d --net-host --snapshotter "$snapshotter" "$ref" "demo-$name-$$" \
    /bin/httpd -f -p "127.0.0.1:$http_port" -h /www >/dev/null
  wait_for "$name container" curl -fsS "http://127.0.0.1:$http_port/index.html"
  ready=$(since "$t1")
  total=$(since "$t0") # to the first 200, not counting the container's teardown below
  curl -fsS "http://127.0.0.1:$http_port/index.html" >"$work/$name.html"
  ctr_ tasks kill -s KILL "demo-$name-$$" >/dev/null
  for _ in $(seq 1 50); do ctr_ tasks rm "demo-$name-$$" >/dev/null 2>&1 && break; sleep 0.1; done
  ctr_ containers rm "demo-$name-$$" >/dev/null
  echo "$pull $ready $total"
}

log "lazy pull: stargzctl rpull through our snapshotter (only the TOCs are fetched)"
lazy=$(pull_and_serve lazy stargz "127.0.0.1:$port/sample:esgz" \
  "$stargzctl" rpull --quiet --address "$CONTAINERD_ADDRESS" --snapshotter stargz "127.0.0.1:$port/sample:esgz")
echo "  layers mounted lazily over FUSE: $(grep ' fuse.stargz ' /proc/self/mountinfo | grep -c " $work/" || true)"
present=0
while read -r layer _; do ctr_ content info "$layer" >/dev/null 2>&1 && present=$((present + 1)); done <"$work/layers.txt"
echo "  layer blobs downloaded into containerd's content store: $present of $(wc -l <"$work/layers.txt")"
log "plain pull of the original image with containerd's overlayfs snapshotter"
plain=$(pull_and_serve plain overlayfs "127.0.0.1:$port/sample:plain" \
  ctr_ images pull --plain-http --snapshotter overlayfs "127.0.0.1:$port/sample:plain")
cmp "$work/lazy.html" "$work/plain.html"
echo "  both containers served: $(cat "$work/lazy.html")"

read -r lp lr lt <<<"$lazy"
read -r pp pr pt <<<"$plain"
echo
echo "| sample image (busybox httpd, 5 MB) | pull (s) | start to first HTTP 200 (s) | total (s) |"
echo "|---|---|---|---|"
echo "| lazy: stargzctl rpull + our snapshotter | $lp | $lr | $lt |"
echo "| plain: ctr pull + overlayfs | $pp | $pr | $pt |"
log "demo done"
