# Entry points. Each target installs what it needs on a fresh Debian 12 machine (as root).
SHELL := /bin/bash
DOTNET ?= dotnet
CONFIGURATION ?= Release
RESULTS := artifacts/test-results

.PHONY: deps build test demo bench clean

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

clean:
	rm -rf artifacts
	$(DOTNET) clean Snapshotter.sln -nologo -v quiet
