#!/usr/bin/env bash
# Runs every test project of the solution (Microsoft.Testing.Platform, opted in by global.json)
# and prints one closing line: `tests: N passed, M failed[, K skipped]`.
set -uo pipefail
cd "$(dirname "$0")/.."
configuration=${1:-Release}
results=${2:-artifacts/test-results}
rm -rf "$results"
mkdir -p "$results"

# Test modules run one at a time: the integration suites start containerd, registries and FUSE
# mounts, and two cores are all CI has.
dotnet test --solution Snapshotter.sln -c "$configuration" --no-build \
  --max-parallel-test-modules 1 --results-directory "$results" --report-xunit-trx \
  --timeout 25m
status=$?

./script/test-summary.sh "$results"
summary_status=$?
exit $(( status != 0 ? status : summary_status ))
