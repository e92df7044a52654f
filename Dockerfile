# syntax=docker/dockerfile:1
# Image of the stargz-snapshotter daemon and its tools (estargz, stargzctl). It is meant to run on
# a node beside the node's containerd, privileged, with the root dir shared back to the host; see
# deploy/kubernetes/ and docs/operations.md. Build: docker buildx build -t stargz-snapshotter .
#
# The daemon is self-contained and compiled ahead of time together with the .NET libraries (one
# composite ReadyToRun image): generic library code over its types is then precompiled too, where a
# framework-dependent build left ~730 methods to the JIT during a first pull, on the cores the pull
# and the container's start need (docs/benchmarks.md, eleventh round). estargz is a console app
# and shares the base image's .NET runtime (no ASP.NET Core needed: the daemon carries its own).
# stargzctl is a native executable (native AOT): a pull starts in ~30 ms instead of spending
# ~0.35 s starting the runtime and compiling (docs/benchmarks.md, thirteenth round). The
# publishes are RID-specific (-a) so that only the target's native libraries (SQLite's
# libe_sqlite3.so) are copied.

ARG DOTNET_VERSION=10.0

# The SDK runs on the build machine's platform and publishes for the target's (cross-building
# needs no emulation: the output is IL precompiled by crossgen2, a cross compiler, for the target,
# plus its native SQLite library). ReadyToRun: the first pull after a start does not wait for the
# JIT (docs/benchmarks.md, "Readiness, fourth round").
FROM --platform=$BUILDPLATFORM mcr.microsoft.com/dotnet/sdk:${DOTNET_VERSION} AS build
ARG TARGETARCH
WORKDIR /src
COPY . .
# script/lib.sh's publish_daemon and publish plus the target architecture; the NuGet cache
# survives between builds.
RUN --mount=type=cache,id=stargz-nuget,target=/root/.nuget/packages \
    set -eu; \
    dotnet publish src/Snapshotter.Daemon -c Release -a "$TARGETARCH" --self-contained true \
      -p:PublishReadyToRun=true -p:PublishReadyToRunComposite=true -o /out/stargz-snapshotter -nologo; \
    dotnet publish estargz-tools -c Release -a "$TARGETARCH" --self-contained false \
      -p:PublishReadyToRun=true -o /out/estargz -nologo

# The native compiler does not cross-compile between architectures without the target's sysroot,
# so stargzctl is built on the target's platform (under emulation when that is a foreign one),
# with clang from the SDK image's distribution.
FROM mcr.microsoft.com/dotnet/sdk:${DOTNET_VERSION} AS build-native
WORKDIR /src
RUN set -eu; \
    apt-get update -qq; \
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends clang zlib1g-dev; \
    rm -rf /var/lib/apt/lists/*
COPY . .
RUN --mount=type=cache,id=stargz-nuget-native,target=/root/.nuget/packages \
    dotnet publish src/Snapshotter.Cli -c Release --use-current-runtime -p:PublishAot=true \
      -o /out/stargzctl -nologo

FROM mcr.microsoft.com/dotnet/runtime:${DOTNET_VERSION}
# No fuse3 package: the daemon speaks FUSE over /dev/fuse itself and mounts with mount(2), which
# needs CAP_SYS_ADMIN (a privileged container), not fusermount3; fusermount3 is only its fallback
# when mount(2) is refused with EPERM (src/Snapshotter.Fuse/Mount/FuseMount.cs).
# estargz's apphost finds the runtime through DOTNET_ROOT (where the base image installs it); the
# daemon's runs the runtime beside it; stargzctl needs none.
ENV DOTNET_ROOT=/usr/share/dotnet \
    DOTNET_CLI_TELEMETRY_OPTOUT=1 \
    DOTNET_NOLOGO=1
COPY --from=build /out/ /opt/stargz-snapshotter/
COPY --from=build-native /out/stargzctl/stargzctl /opt/stargz-snapshotter/stargzctl/stargzctl
# Each tool starts once, so a broken image fails its build (for a foreign platform this step runs
# under emulation, as any RUN of that stage would).
RUN set -eu; \
    for tool in stargz-snapshotter estargz stargzctl; do \
      ln -s "/opt/stargz-snapshotter/$tool/$tool" "/usr/local/bin/$tool"; \
      "$tool" --help >/dev/null; \
    done; \
    mkdir -p /etc/stargz-snapshotter; \
    cp /opt/stargz-snapshotter/stargz-snapshotter/config.example.toml /etc/stargz-snapshotter/
# root: mount(2) of FUSE layers, /dev/fuse, the socket containerd (root) connects to.
USER root
# Flags override /etc/stargz-snapshotter/config.toml (optional; defaults when absent).
ENTRYPOINT ["/usr/local/bin/stargz-snapshotter"]
