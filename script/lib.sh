# Shell helpers shared by demo.sh and bench.sh: processes we start are tracked by PID and
# stopped by PID on exit; mounts they leave under our work dirs are detached.
# shellcheck shell=bash

started_pids=()
cleanup_dirs=()

log() { printf '\033[1;34m==>\033[0m %s\n' "$*" >&2; }

# start_containerd DIR [NAME=SOCKET ...]: a containerd with its own root, state and socket
# under DIR, with proxy snapshotters NAME at SOCKET. Sets CONTAINERD_ADDRESS.
start_containerd() {
  local dir=$1; shift
  mkdir -p "$dir"
  {
    echo 'version = 2'
    echo "root = \"$dir/root\""
    echo "state = \"$dir/state\""
    echo 'disabled_plugins = ["io.containerd.grpc.v1.cri"]'
    echo '[grpc]'
    echo "  address = \"$dir/containerd.sock\""
    local proxy
    for proxy in "$@"; do
      echo "[proxy_plugins.${proxy%%=*}]"
      echo '  type = "snapshot"'
      echo "  address = \"${proxy#*=}\""
    done
  } >"$dir/config.toml"
  containerd --config "$dir/config.toml" >"$dir/containerd.log" 2>&1 &
  started_pids+=($!)
  cleanup_dirs+=("$dir")
  CONTAINERD_ADDRESS=$dir/containerd.sock
  local i
  for i in $(seq 1 200); do
    ctr --address "$CONTAINERD_ADDRESS" version >/dev/null 2>&1 && return 0
    sleep 0.1
  done
  echo "containerd did not start; log:" >&2
  tail -20 "$dir/containerd.log" >&2
  return 1
}

ctr_() { ctr --address "$CONTAINERD_ADDRESS" "$@"; }
ctr_remote() { ctr-remote --address "$CONTAINERD_ADDRESS" "$@"; }

stop_started() { stop_started_since 0 0; }

# stop_started_since P D: stops the processes from index P of started_pids on (newest first) and
# forgets them, then detaches the mounts left under the directories from index D of cleanup_dirs.
# Save ${#started_pids[@]} and ${#cleanup_dirs[@]} before starting a group to stop it alone.
stop_started_since() {
  local from=$1 dirs_from=$2 pid i
  for ((i = ${#started_pids[@]} - 1; i >= from; i--)); do
    kill -TERM "${started_pids[i]}" 2>/dev/null || true
  done
  for ((i = ${#started_pids[@]} - 1; i >= from; i--)); do
    pid=${started_pids[i]}
    for _ in $(seq 1 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    kill -KILL "$pid" 2>/dev/null || true
  done
  started_pids=("${started_pids[@]:0:from}")
  local dir mnt
  for dir in "${cleanup_dirs[@]:dirs_from}"; do
    [[ -d $dir ]] || continue
    # Deepest first; mountinfo's 5th field is the mount point.
    awk -v d="$(realpath "$dir")/" 'index($5 "/", d) == 1 { print $5 }' /proc/self/mountinfo | sort -r |
      while read -r mnt; do umount -l "$mnt" 2>/dev/null || true; done
  done
}
trap stop_started EXIT

# publish PROJECT NAME: a framework-dependent build of an executable into artifacts/bin/NAME,
# precompiled (ReadyToRun) for this machine: a daemon's first pull does not wait for the JIT
# (0.2-0.35 s of a cold pull, docs/benchmarks.md "Readiness, fourth round").
publish() {
  dotnet publish "$1" -c Release -o "artifacts/bin/$2" --use-current-runtime --self-contained false \
    -p:PublishReadyToRun=true -nologo -v quiet >/dev/null
}

# publish_daemon: the daemon into artifacts/bin/stargz-snapshotter, self-contained and compiled
# with the .NET libraries as one composite ReadyToRun image: generic code of the libraries over
# the daemon's types (async state machines above all) is then precompiled too, where a
# framework-dependent build left ~730 methods to the JIT during a first pull (~220 remain), on the
# cores the pull and the container's start need (docs/benchmarks.md, eleventh round).
publish_daemon() {
  dotnet publish src/Snapshotter.Daemon -c Release -o artifacts/bin/stargz-snapshotter --use-current-runtime \
    --self-contained true -p:PublishReadyToRun=true -p:PublishReadyToRunComposite=true -nologo -v quiet >/dev/null
}

# publish_bench_tools: what the readiness benchmark runs, into artifacts/bin (estargz, the daemon,
# stargz-bench); bench_tools_built says whether they are there (BENCH_SKIP_BUILD=1).
bench_tools=(estargz/estargz stargz-snapshotter/stargz-snapshotter stargz-bench/stargz-bench)
publish_bench_tools() {
  publish estargz-tools estargz
  publish_daemon
  publish src/Snapshotter.Benchmark stargz-bench
}
bench_tools_built() {
  local tool
  for tool in "${bench_tools[@]}"; do
    [[ -x artifacts/bin/$tool ]] || { echo "artifacts/bin/$tool is missing" >&2; return 1; }
  done
}

# publish_native PROJECT NAME: a native (ahead-of-time compiled) executable into artifacts/bin/NAME,
# for stargzctl: a command that starts for every pull must not spend its first 0.35 s starting
# the runtime and compiling (docs/stargzctl.md). Needs clang (script/install-deps.sh).
publish_native() {
  rm -rf "artifacts/bin/$2"
  dotnet publish "$1" -c Release -o "artifacts/bin/$2" --use-current-runtime -p:PublishAot=true -nologo -v quiet >/dev/null
}

# start_registry DIR PORT: Debian's docker-registry (CNCF distribution) on 127.0.0.1:PORT.
start_registry() {
  local dir=$1 port=$2
  mkdir -p "$dir/storage"
  cat >"$dir/config.yml" <<YAML
version: 0.1
log:
  level: warn
storage:
  filesystem:
    rootdirectory: $dir/storage
http:
  addr: 127.0.0.1:$port
YAML
  docker-registry serve "$dir/config.yml" >"$dir/registry.log" 2>&1 &
  started_pids+=($!)
  wait_for "registry on :$port" curl -fsS "http://127.0.0.1:$port/v2/"
}

# start_snapshotter DIR [CONFIG]: our daemon with its root and socket under DIR (and a config
# file, e.g. for [registry] config_path). Sets SNAPSHOTTER_SOCKET.
start_snapshotter() {
  local dir=$1 config=()
  [[ -n ${2:-} ]] && config=(--config "$2")
  mkdir -p "$dir"
  SNAPSHOTTER_SOCKET=$dir/snapshotter.sock
  artifacts/bin/stargz-snapshotter/stargz-snapshotter "${config[@]}" --root "$dir/root" --address "$SNAPSHOTTER_SOCKET" \
    --log-level info >"$dir/snapshotter.log" 2>&1 &
  started_pids+=($!)
  cleanup_dirs+=("$dir")
  wait_for "stargz-snapshotter" test -S "$SNAPSHOTTER_SOCKET"
}

# wait_for WHAT COMMAND...: polls COMMAND for up to 20 s.
wait_for() {
  local what=$1; shift
  for _ in $(seq 1 200); do
    "$@" >/dev/null 2>&1 && return 0
    sleep 0.1
  done
  echo "$what did not come up" >&2
  return 1
}

now() { date +%s.%N; }
since() { awk -v a="$1" -v b="$(now)" 'BEGIN { printf "%.2f", b - a }'; }
