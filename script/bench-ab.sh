#!/usr/bin/env bash
# `script/bench-ab.sh ARM...`: compares daemon settings, or daemons, on the readiness benchmark in
# alternating blocks of cold runs, the way the rounds in docs/benchmarks.md compare them. This
# machine's load drifts by more within an hour than most differences worth measuring, so
# back-to-back sets of runs mislead: each arm runs a block of BENCH_AB_REPETITIONS (3) runs in
# turn, BENCH_AB_BLOCKS (3) times over, and each arm's medians are taken over all its runs.
#
# An ARM is NAME=default or just default (the daemon as built, with its default settings),
# NAME=FILE.toml (daemon settings, as BENCH_SNAPSHOTTER_CONFIG) or NAME=bin:EXECUTABLE[:FILE.toml] (a
# daemon, or a wrapper of it, as BENCH_SNAPSHOTTER_BIN, with its settings if given, e.g. the Go
# reference of script/build-go-reference.sh); the arms set those two, the environment's are not used.
# The tools are built once, then every block runs bench-readiness.sh with BENCH_SKIP_BUILD=1. Other
# BENCH_* variables pass through; BENCH_IMAGES defaults to python and BENCH_MODES to lazy-optimized.
#
# Writes artifacts/bench/ab/NAME-bN.json (and .md) per block; prints each block's median as it ends
# and a table of every arm's medians at the end.
# Example: script/bench-ab.sh default two=/tmp/two-requests.toml
set -euo pipefail
cd "$(dirname "$0")/.."
source script/lib.sh

(($# >= 1)) || { echo "usage: script/bench-ab.sh NAME=default|NAME=FILE.toml|NAME=bin:EXECUTABLE[:FILE.toml] ..." >&2; exit 2; }
blocks=${BENCH_AB_BLOCKS:-3}
export BENCH_REPETITIONS=${BENCH_AB_REPETITIONS:-3}
export BENCH_IMAGES=${BENCH_IMAGES:-python} BENCH_MODES=${BENCH_MODES:-lazy-optimized}
arms=()
for arm in "$@"; do [[ $arm == default ]] && arms+=(default=default) || arms+=("$arm"); done
set -- "${arms[@]}"
# Each arm's name, daemon executable and settings file ("": the built daemon, its defaults).
names=() executables=() settings=()
for arm in "$@"; do
  name=${arm%%=*} what=${arm#*=} executable= setting=
  [[ $arm == *=* && $name =~ ^[A-Za-z0-9_.-]+$ ]] || { echo "bench-ab: '$arm' is not NAME=default, NAME=FILE.toml or NAME=bin:EXECUTABLE[:FILE.toml]" >&2; exit 2; }
  case $what in
    default) ;;
    bin:*)
      executable=${what#bin:}
      [[ $executable == *:* ]] && setting=${executable#*:} executable=${executable%%:*}
      [[ -x $executable ]] || { echo "bench-ab: $executable is not an executable" >&2; exit 2; } ;;
    *) setting=$what ;;
  esac
  [[ -z $setting || -f $setting ]] || { echo "bench-ab: no such settings file: $setting" >&2; exit 2; }
  names+=("$name") executables+=("$executable") settings+=("$setting")
done

log "building estargz, stargz-snapshotter and stargz-bench (once for every block)"
publish_bench_tools

results=artifacts/bench/ab
mkdir -p "$results"
# median FILES...: per image and mode, the median pull → ready and start → ready of the successful runs.
median() {
  jq -rs '
    def med: sort | if length == 0 then null elif length % 2 == 1 then .[length / 2 | floor] else (.[length / 2 - 1] + .[length / 2]) / 2 end;
    [.[].runs[] | select(.succeeded)] | group_by([.image, .mode])[]
    | "\(.[0].image) \(.[0].mode): n=\(length), pull → ready \([.[].pullToReadySeconds] | med | . * 1000 | round / 1000) s, start → ready \([.[].startToReadySeconds] | med | . * 1000 | round / 1000) s"' "$@"
}
for block in $(seq 1 "$blocks"); do
  for index in "${!names[@]}"; do
    name=${names[$index]}
    unset BENCH_SNAPSHOTTER_CONFIG BENCH_SNAPSHOTTER_BIN
    [[ -n ${executables[$index]} ]] && export BENCH_SNAPSHOTTER_BIN=${executables[$index]}
    [[ -n ${settings[$index]} ]] && export BENCH_SNAPSHOTTER_CONFIG=${settings[$index]}
    BENCH_SKIP_BUILD=1 BENCH_LABEL="$name, block $block" ./script/bench-readiness.sh >"$results/$name-b$block.log" 2>&1 ||
      { echo "bench-ab: block $block of $name failed; see $results/$name-b$block.log" >&2; exit 1; }
    cp artifacts/bench/readiness.json "$results/$name-b$block.json"
    cp artifacts/bench/readiness.md "$results/$name-b$block.md"
    echo "block $block, $name: $(median "$results/$name-b$block.json" | paste -sd ';')"
  done
done

echo
echo "medians over $blocks block(s) of $BENCH_REPETITIONS run(s) per arm:"
for name in "${names[@]}"; do
  files=()
  for block in $(seq 1 "$blocks"); do files+=("$results/$name-b$block.json"); done
  median "${files[@]}" | sed "s/^/  $name: /"
done
