#!/usr/bin/env bash
# Builds the reference we compare against, containerd/stargz-snapshotter's Go snapshotter, as a
# daemon the readiness benchmark can run: artifacts/bin/stargz-go-reference/stargz-go-reference.
# Debian ships its library (golang-github-containerd-stargz-snapshotter-dev, 0.12) and ctr-remote but
# not its daemon, so script/go-reference/main.go (ours) serves the library's snapshotter on a
# containerd proxy-plugin socket with the daemon's usual flags. Offline: Go and every dependency
# come from Debian's packages (GOPATH mode). The library's resolver/cri.go (CRI registry settings)
# is left out of the build, since Debian has no k8s.io/cri-api; nothing the benchmark uses needs it.
# Usage: script/build-go-reference.sh   (root: apt-get). Prints the executable's path.
# Then, e.g.: script/bench-ab.sh default go=bin:artifacts/bin/stargz-go-reference/stargz-go-reference:script/go-reference/stargz.toml
set -euo pipefail
cd "$(dirname "$0")/.."
library=/usr/share/gocode/src/github.com/containerd/stargz-snapshotter
if ! command -v go >/dev/null || [[ ! -d $library ]]; then
  echo "build-go-reference: installing Go and the stargz-snapshotter library from Debian" >&2
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends golang-go golang-github-containerd-stargz-snapshotter-dev >/dev/null
fi
out=$PWD/artifacts/bin/stargz-go-reference
gopath=$(mktemp -d)
trap 'rm -rf "$gopath"' EXIT
mkdir -p "$gopath/src/github.com/containerd" "$gopath/src/stargz-go-reference" "$out"
cp -a "$library" "$gopath/src/github.com/containerd/"
rm "$gopath/src/github.com/containerd/stargz-snapshotter/service/resolver/cri.go"
cp script/go-reference/main.go "$gopath/src/stargz-go-reference/"
(cd "$gopath/src/stargz-go-reference" &&
  GO111MODULE=off GOPATH="$gopath:/usr/share/gocode" GOFLAGS= GOCACHE="$gopath/cache" go build -o "$out/stargz-go-reference" .)
echo "$out/stargz-go-reference"
