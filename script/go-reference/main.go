// Command stargz-go-reference serves the snapshotter of containerd/stargz-snapshotter's Go library
// (Debian's golang-github-containerd-stargz-snapshotter-dev) on a containerd proxy-plugin socket,
// with the command line the readiness benchmark gives a daemon (--address, --config, --root,
// --log-level). Debian packages the library and ctr-remote, not the daemon, so this is what the
// benchmark runs as the Go reference. Built by script/build-go-reference.sh; not part of our daemon.
package main

import (
	"context"
	"flag"
	"net"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"

	snapshotsapi "github.com/containerd/containerd/api/services/snapshots/v1"
	"github.com/containerd/containerd/contrib/snapshotservice"
	"github.com/containerd/containerd/log"
	"github.com/containerd/stargz-snapshotter/service"
	"github.com/pelletier/go-toml"
	"github.com/sirupsen/logrus"
	"google.golang.org/grpc"
)

func main() {
	address := flag.String("address", "/run/containerd-stargz-grpc/containerd-stargz-grpc.sock", "socket to serve the snapshots API on")
	configPath := flag.String("config", "", "TOML file of the library's settings (fs, resolver, ...)")
	root := flag.String("root", "/var/lib/containerd-stargz-grpc", "state directory")
	logLevel := flag.String("log-level", "info", "logrus level")
	flag.Parse()

	level, err := logrus.ParseLevel(*logLevel)
	if err != nil {
		logrus.WithError(err).Fatal("bad --log-level")
	}
	logrus.SetLevel(level)
	ctx := context.Background()

	var config service.Config
	if *configPath != "" {
		tree, err := toml.LoadFile(*configPath)
		if err != nil {
			log.G(ctx).WithError(err).Fatalf("reading %s", *configPath)
		}
		if err := tree.Unmarshal(&config); err != nil {
			log.G(ctx).WithError(err).Fatalf("parsing %s", *configPath)
		}
	}

	snapshotter, err := service.NewStargzSnapshotterService(ctx, *root, &config)
	if err != nil {
		log.G(ctx).WithError(err).Fatal("starting the snapshotter")
	}
	if err := os.MkdirAll(filepath.Dir(*address), 0o700); err != nil {
		log.G(ctx).WithError(err).Fatal("socket directory")
	}
	_ = os.Remove(*address)
	listener, err := net.Listen("unix", *address)
	if err != nil {
		log.G(ctx).WithError(err).Fatalf("listening on %s", *address)
	}
	server := grpc.NewServer()
	snapshotsapi.RegisterSnapshotsServer(server, snapshotservice.FromSnapshotter(snapshotter))

	signals := make(chan os.Signal, 1)
	signal.Notify(signals, syscall.SIGINT, syscall.SIGTERM)
	go func() {
		<-signals
		server.Stop()
	}()
	if err := server.Serve(listener); err != nil {
		log.G(ctx).WithError(err).Error("serving")
	}
	// Unmounts every layer, so that a stopped daemon leaves no FUSE mount behind.
	if err := snapshotter.Close(); err != nil {
		log.G(ctx).WithError(err).Warn("closing the snapshotter")
	}
}
