#!/usr/bin/env bash
# `make bench-readiness`: how soon a container answers HTTP 200 on a cold node, full pull on
# overlayfs vs lazy pull through our snapshotter, over a shaped link to a registry.
#
# 1. Builds (once, cached under artifacts/bench/images) the images of BENCH_IMAGES: a Debian nginx
#    image, a Python image whose service imports numpy and pandas, and one whose service imports
#    numpy only (script/build-bench-images.sh), and converts each to
#    eStargz with our `estargz convert` (mode lazy) and, for mode lazy-optimized, with
#    `estargz optimize`: the files the workload read at start, recorded once by running it lazily
#    pulled through our daemon, come first and are prefetched.
# 2. Creates a network namespace joined to the host by a link of two TUN interfaces
#    (`stargz-bench link`, a user-space delay line: this kernel has no sch_netem), runs
#    docker-registry inside, and pushes the original gzip images (for overlayfs) and the eStargz
#    images (for the lazy pull) to it.
# 3. Shapes both directions: BENCH_DELAY_MS one way from the delay line (RTT = 2x), and tc tbf
#    limits the rate to BENCH_RATE with at most ~50 ms of queue (no bufferbloat).
# 4. Runs `stargz-bench run`: each repetition of each image and mode on a fresh containerd and
#    daemon with empty roots after dropping the page cache. Writes artifacts/bench/readiness.{json,md,png,svg}.
#
# Environment: BENCH_RATE (150mbit), BENCH_DELAY_MS (10, one way), BENCH_REPETITIONS (5),
# BENCH_IMAGES ("nginx python numpy"), BENCH_MODES ("overlayfs lazy lazy-optimized"),
# BENCH_OPTIMIZE_PERIOD (60: seconds the workload runs while recording), BENCH_LAZY_PULL (the lazy pull
# command template, e.g. "stargzctl --address {address} rpull {ref}"), BENCH_CONVERT (the
# converter command, given SOURCE TARGET; default our `estargz convert`), BENCH_ESTARGZ_FLAGS (layer options
# for our `estargz convert` and `optimize`, e.g. "--zstdchunked --compression-level 19 --prefetch-group-size
# 4194304"; cached images are rebuilt when they change), BENCH_VARIANT_FLAGS and BENCH_VARIANT_NAME (also
# convert every image with these options instead, and measure it as image NAME-VARIANT_NAME in the same
# interleaved runs: two layer formats compared under the same conditions), BENCH_SNAPSHOTTER_CONFIG
# (a TOML file of daemon settings to measure, without [registry]; {registry} in it stands for the
# registry's host:port), BENCH_SNAPSHOTTER_BIN (the daemon executable to run instead of the one built
# here, e.g. a wrapper that sets its environment or priority, or the Go reference built by
# script/build-go-reference.sh, with BENCH_SNAPSHOTTER_CONFIG=script/go-reference/stargz.toml),
# BENCH_LABEL (names the result), BENCH_NODE_FS (ext4: the default, the node's state on a
# journaled ext4 of its own, see node_filesystem below; host: in /tmp, on whatever filesystem that is),
# BENCH_CONTAINERD_LOG_LEVEL (containerd's log level in each run, warn by default; debug logs its side),
# BENCH_SKIP_BUILD (1: use the tools already in artifacts/bin, e.g. for alternating blocks of runs
# that compare settings or daemons given by BENCH_SNAPSHOTTER_CONFIG or BENCH_SNAPSHOTTER_BIN, as
# script/bench-ab.sh runs them; the report then names HEAD with "tools prebuilt", since the
# binaries may come from another commit).
# To compare two results: stargz-bench report A.json B.json -o DIR.
# Needs root. Everything it creates (namespace, TUN link, qdiscs, processes) goes away on exit.
set -euo pipefail
cd "$(dirname "$0")/.."
source script/lib.sh

rate=${BENCH_RATE:-150mbit}
delay_ms=${BENCH_DELAY_MS:-10}
repetitions=${BENCH_REPETITIONS:-5}
read -r -a wanted <<<"${BENCH_IMAGES:-nginx python numpy}"
read -r -a modes <<<"${BENCH_MODES:-overlayfs lazy lazy-optimized}"
export NGINX_PORT=${NGINX_PORT:-18480} PYTHON_PORT=${PYTHON_PORT:-18481} NUMPY_PORT=${NUMPY_PORT:-18482}
out=$PWD/artifacts/bench
images=$out/images
mkdir -p "$out"

[[ $EUID -eq 0 ]] || { echo "bench-readiness: needs root (netns, mounts, containerd, drop_caches)" >&2; exit 1; }
command -v debootstrap >/dev/null || {
  log "installing debootstrap"
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends debootstrap >/dev/null
}

if [[ ${BENCH_SKIP_BUILD:-0} == 1 ]]; then
  bench_tools_built || { echo "bench-readiness: BENCH_SKIP_BUILD=1 needs the tools built first" >&2; exit 2; }
  log "using the tools already built in artifacts/bin (BENCH_SKIP_BUILD=1)"
else
  log "building estargz, stargz-snapshotter and stargz-bench"
  publish_bench_tools
fi
# Variants of the eStargz images: suffix "" with BENCH_ESTARGZ_FLAGS (or BENCH_CONVERT), and with
# BENCH_VARIANT_FLAGS a second one, "-NAME", converted by our estargz with those flags.
suffixes=("")
flag_sets=("${BENCH_ESTARGZ_FLAGS:-}")
if [[ -n ${BENCH_VARIANT_FLAGS:-} ]]; then
  suffixes+=("-${BENCH_VARIANT_NAME:-variant}")
  flag_sets+=("$BENCH_VARIANT_FLAGS")
fi
converter_of() { # converter_of INDEX: the conversion command of variant INDEX
  if [[ $1 == 0 && -n ${BENCH_CONVERT:-} ]]; then echo "$BENCH_CONVERT"; else echo "$PWD/artifacts/bin/estargz/estargz convert --quiet ${flag_sets[$1]}"; fi
}

log "building the benchmark images (cached in $images)"
./script/build-bench-images.sh "$images" "${wanted[@]}" >/dev/null

# convert_cached NAME INDEX: NAME-esgzSUFFIX beside NAME, redone when the image or the converter command changes.
convert_cached() {
  local name=$1 target=$images/$1-esgz${suffixes[$2]} convert stamp
  convert=$(converter_of "$2")
  stamp=$(cat "$images/$name/index.json" <(echo "$convert") | sha256sum | cut -c1-16)
  if [[ $(cat "$target.stamp" 2>/dev/null) != "$stamp" ]]; then
    log "converting $name to eStargz: $convert"
    rm -rf "$target"
    $convert "$images/$name" "$target"
    echo "$stamp" >"$target.stamp"
  fi
}
for name in "${wanted[@]}"; do
  for index in "${!suffixes[@]}"; do convert_cached "$name" "$index"; done
done

# A namespace, link and subnet of our own (names unique by PID), removed on exit with everything in
# them. This kernel has no sch_netem, so the delay comes from `stargz-bench link`: two TUN
# interfaces (gone when it stops) joined by a user-space delay line; tc tbf on each sets the rate.
ns=sgzb-$$
host_if=sgzb$$h
ns_if=sgzb$$n
subnet=10.213.$(($$ % 250)).
registry_host=${subnet}2:5000
work=/tmp/sgzb-$$
node_image=$out/node-fs.img
node_loop=
remove_netns() {
  stop_started
  if [[ -d $work/logs ]]; then rm -rf "$out/logs" && mv "$work/logs" "$out/logs"; fi
  if [[ -n $node_loop ]]; then
    umount -l "$work" 2>/dev/null || true # lazily: a FUSE mount a failed run left below it must not keep it
    losetup -d "$node_loop" 2>/dev/null || true
    rm -f "$node_image"
  fi
  rm -rf "$work"
  ip netns del "$ns" 2>/dev/null || true
}
trap remove_netns EXIT

# The node's disk: containerd's and the daemon's roots of every run go on a journaled ext4 of
# their own (8 GiB, a preallocated file behind a direct-I/O loop device), as /var/lib on a node.
# This VM's root filesystem is an ext4 without a journal, where creating an inode re-checks every
# recently deleted one of its group (the kernel's recently_deleted(), skipped with a journal): a
# benchmark that wipes the node between cold runs then makes each run's file creations pay for
# the previous runs' deletions (the daemon's CPU for the Python image's pull: 1.40-1.45 s there
# against 1.06-1.23 s on a journaled ext4; docs/benchmarks.md, thirteenth round).
node_filesystem() {
  mkdir -p "$work"
  [[ ${BENCH_NODE_FS:-ext4} == host ]] && return 0
  [[ ${BENCH_NODE_FS:-ext4} == ext4 ]] || { echo "bench-readiness: BENCH_NODE_FS is ext4 or host, not '$BENCH_NODE_FS'" >&2; exit 2; }
  rm -f "$node_image"
  fallocate -l 8G "$node_image"
  # Inode tables and journal written now: no lazy-init thread writing in the background of the runs.
  mkfs.ext4 -q -F -E lazy_itable_init=0,lazy_journal_init=0,nodiscard "$node_image"
  node_loop=$(losetup --find --show --direct-io=on "$node_image")
  mount "$node_loop" "$work"
  log "node state on $(findmnt -n -o SOURCE,FSTYPE,OPTIONS "$work")"
}
node_filesystem
ip netns add "$ns"
artifacts/bin/stargz-bench/stargz-bench link "$host_if" "$ns_if" --delay-ms "$delay_ms" >"$out/link.log" 2>&1 &
started_pids+=($!)
wait_for "the link's interfaces" ip link show "$ns_if"
ip link set "$ns_if" netns "$ns"
ip addr add "${subnet}1/30" dev "$host_if"
ip link set "$host_if" up
ip -n "$ns" addr add "${subnet}2/30" dev "$ns_if"
ip -n "$ns" link set "$ns_if" up
ip -n "$ns" link set lo up

log "registry in network namespace $ns at $registry_host"
registry_dir=$out/registry
rm -rf "$registry_dir" && mkdir -p "$registry_dir/storage"
cat >"$registry_dir/config.yml" <<YAML
version: 0.1
log:
  level: warn
storage:
  filesystem:
    rootdirectory: $registry_dir/storage
http:
  addr: $registry_host
YAML
ip netns exec "$ns" docker-registry serve "$registry_dir/config.yml" >"$registry_dir/registry.log" 2>&1 &
started_pids+=($!)
wait_for "registry at $registry_host" curl -fsS "http://$registry_host/v2/"

# hosts.toml for the registry: our daemon and the pull commands reach it over plain http.
hosts=$work/hosts
mkdir -p "$hosts/$registry_host"
printf 'server = "http://%s"\n\n[host."http://%s"]\n  capabilities = ["pull", "resolve"]\n' "$registry_host" "$registry_host" >"$hosts/$registry_host/hosts.toml"

optimizing=false
for mode in "${modes[@]}"; do [[ $mode == lazy-optimized ]] && optimizing=true; done
# optimize_cached NAME: NAME-opt beside NAME, converted by `estargz optimize` with the files NAME's
# workload reads at start first (prefetched at mount). The record of those files comes from running
# the workload once, lazily pulled through a daemon of ours from the (still unshaped) registry, and
# is kept as NAME.record.jsonl; both are redone when the image changes.
recorder_started=false
# optimize_cached NAME INDEX: the same for variant INDEX, NAME-optSUFFIX, tag esgz-optSUFFIX.
optimize_cached() {
  local name=$1 suffix=${suffixes[$2]} record=$images/$1.record.jsonl stamp flags
  read -r -a flags <<<"${flag_sets[$2]}"
  local target=$images/$name-opt$suffix tag=$registry_host/$name:esgz-opt$suffix
  # No record yet on a first run: cat fails, which must not end the script (pipefail).
  stamp=$({ cat "$images/$name/index.json" "$record" 2>/dev/null || true; echo "${flags[*]}"; } | sha256sum | cut -c1-16)
  [[ $(cat "$target.stamp" 2>/dev/null) == "$stamp" ]] && return 0
  local estargz=(artifacts/bin/estargz/estargz optimize --quiet --hosts-dir "$hosts" --plain-http "${flags[@]}")
  if [[ $(cat "$record.stamp" 2>/dev/null) == "$(sha256sum <"$images/$name/index.json" | cut -c1-16)" ]]; then
    log "converting $name with its recorded files first ($(wc -l <"$record") accesses)${suffix:+, variant $suffix}"
    "${estargz[@]}" --prefetch-list "$record" "$images/$name" "$tag"
  else
    if ! $recorder_started; then
      recorder_pids=${#started_pids[@]} recorder_dirs=${#cleanup_dirs[@]}
      printf '[registry]\nconfig_path = "%s"\n' "$hosts" >"$work/recorder.toml"
      start_snapshotter "$work/recorder/snapshotter" "$work/recorder.toml"
      start_containerd "$work/recorder/containerd" "stargz=$SNAPSHOTTER_SOCKET"
      recorder_started=true
    fi
    log "recording what $name reads at start: estargz optimize runs it for up to ${BENCH_OPTIMIZE_PERIOD:-60} s"
    "${estargz[@]}" --address "$CONTAINERD_ADDRESS" --period "${BENCH_OPTIMIZE_PERIOD:-60}" --record-out "$record" \
      "$images/$name" "$tag" 2>"$out/optimize-$name.log"
    sha256sum <"$images/$name/index.json" | cut -c1-16 >"$record.stamp"
    stamp=$({ cat "$images/$name/index.json" "$record"; echo "${flags[*]}"; } | sha256sum | cut -c1-16)
  fi
  rm -rf "$target"
  skopeo copy -q --preserve-digests --src-tls-verify=false "docker://$tag" "oci:$target:$name"
  echo "$stamp" >"$target.stamp"
}
if $optimizing; then
  for name in "${wanted[@]}"; do
    for index in "${!suffixes[@]}"; do optimize_cached "$name" "$index"; done
  done
  if $recorder_started; then stop_started_since "$recorder_pids" "$recorder_dirs"; fi
fi

log "pushing the original and the eStargz images (unshaped)"
for name in "${wanted[@]}"; do
  skopeo copy -q --dest-tls-verify=false "oci:$images/$name:$name" "docker://$registry_host/$name:plain"
  for suffix in "${suffixes[@]}"; do
    skopeo copy -q --preserve-digests --dest-tls-verify=false "oci:$images/$name-esgz$suffix:$name" "docker://$registry_host/$name:esgz$suffix"
    if $optimizing; then
      skopeo copy -q --preserve-digests --dest-tls-verify=false "oci:$images/$name-opt$suffix:$name" "docker://$registry_host/$name:esgz-opt$suffix"
    fi
  done
done

log "shaping the link: $rate each way (tbf, at most 50 ms queued), $delay_ms ms each way (the delay line)"
tc qdisc add dev "$host_if" root tbf rate "$rate" burst 64kb latency 50ms
tc -n "$ns" qdisc add dev "$ns_if" root tbf rate "$rate" burst 64kb latency 50ms
# What the link really does: TCP connect time is one round trip; a large layer measures the rate.
first_layer=$(curl -fsS -H 'Accept: application/vnd.oci.image.manifest.v1+json' "http://$registry_host/v2/${wanted[0]}/manifests/plain" | jq -r '.layers[0].digest')
read -r rtt speed size < <(curl -fsS -o /dev/null -w '%{time_connect} %{speed_download} %{size_download}\n' "http://$registry_host/v2/${wanted[0]}/blobs/$first_layer")
measured=$(awk -v r="$rtt" -v s="$speed" -v z="$size" 'BEGIN { printf "%.1f ms RTT (TCP connect), %.0f Mbit/s (a %.0f MB layer)", r * 1000, s * 8 / 1e6, z / 1e6 }')
link="$rate (tc tbf) and $delay_ms ms (stargz-bench link) each way, over TUN interfaces into a network namespace; measured $measured"
echo "  link: $link"

commit=$(git rev-parse --short HEAD)
git diff --quiet HEAD -- src estargz-tools || commit="$commit+uncommitted"
[[ ${BENCH_SKIP_BUILD:-0} == 1 ]] && commit="$commit, tools prebuilt"
image_args=()
for name in "${wanted[@]}"; do
  port_var=${name^^}_PORT
  for suffix in "${suffixes[@]}"; do
    optimized=
    $optimizing && optimized=",optimized=$registry_host/$name:esgz-opt$suffix"
    image_args+=(--image "name=$name$suffix,plain=$registry_host/$name:plain,lazy=$registry_host/$name:esgz$suffix$optimized,url=http://127.0.0.1:${!port_var}/")
  done
done
mode_args=()
for mode in "${modes[@]}"; do mode_args+=(--mode "$mode"); done
[[ -n ${BENCH_LAZY_PULL:-} ]] && mode_args+=(--lazy-pull "$BENCH_LAZY_PULL")
if [[ -n ${BENCH_SNAPSHOTTER_CONFIG:-} ]]; then
  # The daemon's own settings to compare (e.g. log_level, [background_fetch] enable = false), then
  # [registry]: first, its top-level keys would otherwise land in the [registry] table.
  # {registry}: for a daemon that reads no hosts.toml, as the Go reference.
  { sed "s/{registry}/$registry_host/g" "$BENCH_SNAPSHOTTER_CONFIG"; printf '\n[registry]\nconfig_path = "%s"\n' "$hosts"; } >"$work/snapshotter.toml"
  mode_args+=(--snapshotter-config "$work/snapshotter.toml")
fi

log "stargz-bench: ${#wanted[@]} image(s) x ${#modes[@]} mode(s) x $repetitions cold runs"
status=0
artifacts/bin/stargz-bench/stargz-bench run "${image_args[@]}" "${mode_args[@]}" --hosts-dir "$hosts" \
  --repetitions "$repetitions" --output "$out" --work "$work" \
  --snapshotter-bin ${BENCH_SNAPSHOTTER_BIN:-artifacts/bin/stargz-snapshotter/stargz-snapshotter} \
  --link-interface "$host_if" --link "$link" --commit "$commit" ${BENCH_LABEL:+--label "$BENCH_LABEL"} \
  ${BENCH_CONTAINERD_LOG_LEVEL:+--containerd-log-level "$BENCH_CONTAINERD_LOG_LEVEL"} || status=$?
exit $status
