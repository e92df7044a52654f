# Entry points. Each target installs what it needs on a fresh Debian 12 machine (as root).
SHELL := /bin/bash
DOTNET ?= dotnet
CONFIGURATION ?= Release
RESULTS := artifacts/test-results

.PHONY: deps build test demo bench bench-readiness bench-goals clean

deps:
	./script/install-deps.sh

build: deps
	$(DOTNET) build Snapshotter.sln -c $(CONFIGURATION) -nologo -v quiet

# Every test, unit and integration (real registry, containerd and FUSE mounts need root).
test: build
	./script/test.sh $(CONFIGURATION) $(RESULTS)

# The main job: see README.md.
demo: deps
	./script/demo.sh

bench: deps
	./script/bench.sh

# Pull-to-ready of a Debian nginx, a numpy/pandas and a numpy-only Python image, overlayfs vs lazy, over a shaped
# link (docs/benchmarks.md; BENCH_REPETITIONS, BENCH_RATE, BENCH_DELAY_MS, BENCH_LAZY_PULL…).
bench-readiness: deps
	./script/bench-readiness.sh

# Issue #7's two goals at once: the Python images, full pull against a lazy pull of their
# optimized conversion, gzip eStargz and zstd:chunked with 4 MiB prefetch groups side by side, with
# the pull ending once the prefetch is local (docs/benchmarks.md, nineteenth round).
bench-goals: deps
	BENCH_IMAGES="$${BENCH_IMAGES:-numpy python}" BENCH_MODES="overlayfs lazy-optimized" \
	  BENCH_VARIANT_FLAGS="--zstdchunked --compression-level 19 --prefetch-group-size 4194304" BENCH_VARIANT_NAME=zstd4m \
	  BENCH_SNAPSHOTTER_CONFIG=script/bench-settings/pull-wait.toml BENCH_LABEL="$${BENCH_LABEL:-the pull waits for the prefetch}" \
	  ./script/bench-readiness.sh

clean:
	rm -rf artifacts
	$(DOTNET) clean Snapshotter.sln -nologo -v quiet
