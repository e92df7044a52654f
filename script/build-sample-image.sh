#!/usr/bin/env bash
# Builds the demo's sample image as an OCI image layout, offline: a static busybox (Debian's
# busybox-static) that serves a small web root with `httpd`. Usage: build-sample-image.sh DIR
set -euo pipefail
out=${1:?usage: build-sample-image.sh OUTPUT_DIR}
rm -rf "$out"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

mkdir -p "$work/bin" "$work/www" "$work/etc"
cp /bin/busybox "$work/bin/busybox"
for applet in sh ls cat httpd wget sha256sum find sleep; do ln -s busybox "$work/bin/$applet"; done
echo '<!doctype html><title>lazy</title><h1>served from a lazily pulled eStargz image</h1>' >"$work/www/index.html"
head -c 3000000 /dev/urandom >"$work/www/blob.bin" # a file big enough to be split into chunks
echo 'root:x:0:0:root:/root:/bin/sh' >"$work/etc/passwd"

umoci init --layout "$out" >/dev/null
umoci new --image "$out:sample" >/dev/null
umoci insert --image "$out:sample" "$work/bin" /bin >/dev/null
umoci insert --image "$out:sample" "$work/etc" /etc >/dev/null
umoci insert --image "$out:sample" "$work/www" /www >/dev/null
umoci config --image "$out:sample" --config.cmd /bin/httpd --config.cmd -f \
  --config.cmd -p --config.cmd 127.0.0.1:8080 --config.cmd -h --config.cmd /www >/dev/null
umoci gc --layout "$out" >/dev/null
echo "sample image: $out ($(du -sh "$out" | cut -f1), tag 'sample')"
