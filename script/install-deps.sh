#!/usr/bin/env bash
# Installs the system packages the build, tests and demo use, once; restores NuGet packages.
set -euo pipefail
cd "$(dirname "$0")/.."

packages=(containerd runc fuse3 attr docker-registry skopeo umoci stargz-snapshotter busybox-static pigz jq curl iproute2 bindfs clang zlib1g-dev)
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
  if [[ $EUID -ne 0 ]]; then
    echo "install-deps: missing packages (${missing[*]}); run as root or install them" >&2
    exit 1
  fi
  echo "install-deps: installing ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

# Debian starts containerd and docker-registry as services on install; the tests run their own
# instances with their own roots and sockets, so the packaged ones are not needed.
command -v dotnet >/dev/null || { echo "install-deps: the .NET SDK (dotnet) is required" >&2; exit 1; }
dotnet restore Snapshotter.sln -nologo -v quiet
