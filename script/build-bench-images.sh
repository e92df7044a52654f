#!/usr/bin/env bash
# Builds the readiness benchmark's images offline-from-Docker-Hub, from Debian packages, as OCI
# image layouts (tag = image name), the way a Dockerfile would layer them:
#   base:   debootstrap --variant=minbase bookworm (one layer, apt lists and caches removed)
#   nginx:  base + `apt-get install nginx` + a page, serving on 127.0.0.1:$NGINX_PORT
#   python: base + `apt-get install python3-numpy python3-pandas` + a service that imports both
#           and then answers HTTP 200 on 127.0.0.1:$PYTHON_PORT
#   numpy:  base + `apt-get install python3-numpy` + a service that imports numpy only (issue #7's
#           example workload), answering on 127.0.0.1:$NUMPY_PORT
# Layouts are cached under OUT_DIR; each is rebuilt only when what builds it changes (its image_NAME
# function, build_app, the ports, or the base).
# Usage: build-bench-images.sh OUT_DIR [NAME...]   (default: all; root: debootstrap, chroot, mounts).
# Prints nothing else on stdout than "NAME LAYOUT" lines for the images built or reused.
set -euo pipefail
out=${1:?usage: build-bench-images.sh OUT_DIR [NAME...]}
shift
mirror=${BENCH_DEBIAN_MIRROR:-http://deb.debian.org/debian}
suite=${BENCH_DEBIAN_SUITE:-bookworm}
NGINX_PORT=${NGINX_PORT:-18480}
PYTHON_PORT=${PYTHON_PORT:-18481}
NUMPY_PORT=${NUMPY_PORT:-18482}
mkdir -p "$out"
out=$(realpath "$out")

say() { echo "build-bench-images: $*" >&2; }

work=$(mktemp -d "$out/.work.XXXXXX")
mounted=()
cleanup() {
  local m
  for m in "${mounted[@]}"; do umount -l "$m" 2>/dev/null || true; done
  rm -rf "$work"
}
trap cleanup EXIT

fresh() { [[ -f $out/$1/index.json && $(cat "$out/$1.stamp" 2>/dev/null) == "$2" ]]; }

# A layer built from a directory: repack an empty bundle that now holds ROOTFS's files.
build_base() {
  local layout=$out/base rootfs=$work/base-rootfs bundle=$work/base-bundle
  say "debootstrap --variant=minbase $suite from $mirror (a few minutes, once)"
  debootstrap --variant=minbase "$suite" "$rootfs" "$mirror" >"$work/debootstrap.log" 2>&1 ||
    { tail -20 "$work/debootstrap.log" >&2; return 1; }
  # As Debian's official images: no package lists or downloaded .debs, an empty /dev.
  rm -rf "$rootfs"/var/lib/apt/lists/* "$rootfs"/var/cache/apt/*.bin "$rootfs"/var/cache/apt/archives/*.deb "$rootfs"/dev/*
  rm -rf "$layout" && umoci init --layout "$layout" >/dev/null
  umoci new --image "$layout:base" >/dev/null
  umoci unpack --image "$layout:base" "$bundle" >/dev/null
  cp -a "$rootfs"/. "$bundle/rootfs/"
  umoci repack --image "$layout:base" "$bundle" >/dev/null
  umoci config --image "$layout:base" --config.env PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin >/dev/null
  umoci gc --layout "$layout" >/dev/null
  echo "$base_stamp" >"$out/base.stamp"
}

# build_app NAME STAMP PACKAGES FILES_DIR CONFIG_ARGS...: base + a layer of installed packages + layers of FILES_DIR's directories.
build_app() {
  local name=$1 stamp=$2 packages=$3 files=$4; shift 4
  local layout=$out/$name bundle=$work/$name-bundle
  say "$name: base + apt-get install $packages"
  rm -rf "$layout" && cp -a "$out/base" "$layout"
  umoci unpack --image "$layout:base" "$bundle" >/dev/null
  local root=$bundle/rootfs
  cp /etc/resolv.conf "$root/etc/resolv.conf"
  printf '#!/bin/sh\nexit 101\n' >"$root/usr/sbin/policy-rc.d" # no service starts in the chroot
  chmod +x "$root/usr/sbin/policy-rc.d"
  mount --bind /dev "$root/dev" && mounted+=("$root/dev")
  mount -t proc proc "$root/proc" && mounted+=("$root/proc")
  chroot "$root" apt-get update -qq >"$work/$name-apt.log" 2>&1 &&
    chroot "$root" env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $packages >>"$work/$name-apt.log" 2>&1 ||
    { tail -20 "$work/$name-apt.log" >&2; return 1; }
  chroot "$root" apt-get clean
  umount "$root/proc" "$root/dev"
  mounted=()
  rm -rf "$root"/var/lib/apt/lists/* "$root/usr/sbin/policy-rc.d" "$root"/var/log/apt/* "$root"/var/log/dpkg.log
  : >"$root/etc/resolv.conf"
  umoci repack --image "$layout:$name" "$bundle" >/dev/null
  umoci rm --image "$layout:base" >/dev/null
  # One insert per top-level directory: inserting at / would put an entry named "/" in the layer.
  local top
  for top in "$files"/*; do
    umoci insert --image "$layout:$name" "$top" "/${top##*/}" >/dev/null
  done
  umoci config --image "$layout:$name" "$@" >/dev/null
  umoci gc --layout "$layout" >/dev/null
  echo "$stamp" >"$out/$name.stamp"
}

# image_NAME DIR: image NAME's packages and config (the variables `packages` and `config`), and its
# own files written under DIR.
image_nginx() {
  packages=nginx
  config=(--config.entrypoint nginx --config.entrypoint -g --config.entrypoint 'daemon off;'
    --config.exposedports "$NGINX_PORT/tcp")
  mkdir -p "$1/etc/nginx/sites-enabled" "$1/var/www/html"
  cat >"$1/etc/nginx/sites-enabled/default" <<NGINX
server {
  listen 127.0.0.1:$NGINX_PORT default_server;
  root /var/www/html;
  index index.html;
}
NGINX
  echo '<!doctype html><title>ready</title><h1>nginx from a Debian minbase image</h1>' >"$1/var/www/html/index.html"
}

image_python() {
  packages="python3-numpy python3-pandas"
  python_service "$1" "$PYTHON_PORT" "import numpy and pandas, build a frame" <<'PYTHON'
import numpy
import pandas

frame = pandas.DataFrame({"x": numpy.arange(1000), "y": numpy.random.default_rng(1).random(1000)})
summary = f"numpy {numpy.__version__}, pandas {pandas.__version__}, mean y {frame.y.mean():.3f}\n".encode()
PYTHON
}

image_numpy() {
  packages=python3-numpy
  python_service "$1" "$NUMPY_PORT" "import numpy, sum a vector" <<'PYTHON'
import numpy

values = numpy.random.default_rng(1).random(1000)
summary = f"numpy {numpy.__version__}, mean {values.mean():.3f}\n".encode()
PYTHON
}

# python_service DIR PORT WHAT < SETUP: /app/serve.py, a data service's start (SETUP, which sets
# `summary`), then a server answering HTTP 200 with that summary on 127.0.0.1:PORT.
python_service() {
  config=(--config.entrypoint python3 --config.entrypoint /app/serve.py
    --config.env "PORT=$2" --config.exposedports "$2/tcp")
  mkdir -p "$1/app"
  {
    printf '"""A data service'"'"'s start: %s, then answer HTTP 200."""\nimport http.server\nimport os\n\n' "$3"
    cat
    cat <<'PYTHON'


class Handler(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        self.send_response(200)
        self.send_header("Content-Type", "text/plain")
        self.send_header("Content-Length", str(len(summary)))
        self.end_headers()
        self.wfile.write(summary)

    def log_message(self, *args):
        pass


http.server.ThreadingHTTPServer(("127.0.0.1", int(os.environ["PORT"])), Handler).serve_forever()
PYTHON
  } >"$1/app/serve.py"
}

# image_stamp NAME: what builds image NAME, hashed; its layout is rebuilt when this changes.
image_stamp() {
  (echo "$base_stamp $NGINX_PORT $PYTHON_PORT $NUMPY_PORT"; declare -f build_app python_service "image_$1") | sha256sum | cut -c1-16
}

names=("$@")
[[ ${#names[@]} -gt 0 ]] || names=(nginx python numpy)
for name in "${names[@]}"; do
  declare -F "image_$name" >/dev/null || { say "no image named '$name' (nginx, python, numpy)"; exit 2; }
done

base_stamp=$( (declare -f build_base; echo "$mirror $suite") | sha256sum | cut -c1-16)
fresh base "$base_stamp" || build_base
echo "base $out/base"

for name in "${names[@]}"; do
  stamp=$(image_stamp "$name")
  if ! fresh "$name" "$stamp"; then
    packages= config=()
    "image_$name" "$work/$name-files"
    build_app "$name" "$stamp" "$packages" "$work/$name-files" "${config[@]}"
  fi
  echo "$name $out/$name"
done
