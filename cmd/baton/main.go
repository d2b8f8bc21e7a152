// Command baton is the baton authentication server and its admin tool. It
// only wires packages together; the work happens in server, session,
// httpapi and the stores.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"os/signal"
	"runtime/debug"
	"syscall"

	"github.com/batonauth/baton/config"
	"github.com/batonauth/baton/server"
)

const usage = `baton — access and refresh tokens done right.

Usage:
  baton serve                 start the server (embedded SQLite store unless BATON_DATABASE_URL is set)
  baton migrate               create or upgrade the store's schema, then exit
  baton version               print version and build information
  baton help                  show this help

Configuration comes from BATON_* environment variables; see the README.
`

func main() {
	os.Exit(run(context.Background(), os.Args[1:], os.Getenv, os.Stdout, os.Stderr))
}

// run is main without process globals, so tests can call it.
func run(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return 2
	}
	switch args[0] {
	case "help", "-h", "--help", "-help":
		fmt.Fprint(stdout, usage)
		return 0
	case "version", "--version":
		fmt.Fprintln(stdout, versionString())
		return 0
	case "serve":
		return serve(ctx, getenv, stderr)
	case "migrate":
		return migrate(ctx, getenv, stdout, stderr)
	}
	fmt.Fprintf(stderr, "baton: unknown command %q\n\n%s", args[0], usage)
	return 2
}

func newLogger(w io.Writer) *slog.Logger {
	// JSON for machines, text on a terminal.
	if f, ok := w.(*os.File); ok {
		if fi, err := f.Stat(); err == nil && fi.Mode()&os.ModeCharDevice != 0 {
			return slog.New(slog.NewTextHandler(w, nil))
		}
	}
	return slog.New(slog.NewJSONHandler(w, nil))
}

func loadConfig(getenv func(string) string, stderr io.Writer) (*config.Config, bool) {
	cfg, err := config.Load(getenv)
	if err != nil {
		fmt.Fprintf(stderr, "baton: configuration: %v\n", err)
		return nil, false
	}
	return cfg, true
}

func serve(ctx context.Context, getenv func(string) string, stderr io.Writer) int {
	cfg, ok := loadConfig(getenv, stderr)
	if !ok {
		return 2
	}
	log := newLogger(stderr)
	ctx, stop := signal.NotifyContext(ctx, os.Interrupt, syscall.SIGTERM)
	defer stop()
	srv, err := server.New(ctx, cfg, server.Options{Logger: log, Demo: demoHandler()})
	if err != nil {
		log.Error("start-up failed", "err", err)
		return 1
	}
	defer srv.Close()
	ln, err := net.Listen("tcp", cfg.Addr)
	if err != nil {
		log.Error("listen failed", "addr", cfg.Addr, "err", err)
		return 1
	}
	store := "sqlite:" + cfg.DataDir
	if cfg.DatabaseURL != "" {
		store = "postgres"
	}
	if cfg.MasterKey == nil {
		log.Warn("BATON_MASTER_KEY is not set: keys are stored unencrypted")
	}
	log.Info("baton listening", "addr", ln.Addr().String(), "issuer", cfg.Issuer, "store", store, "version", version())
	if err := srv.Serve(ctx, ln); err != nil {
		log.Error("server failed", "err", err)
		return 1
	}
	log.Info("baton stopped")
	return 0
}

func migrate(ctx context.Context, getenv func(string) string, stdout, stderr io.Writer) int {
	cfg, ok := loadConfig(getenv, stderr)
	if !ok {
		return 2
	}
	store, err := server.OpenStore(ctx, cfg)
	if err != nil {
		fmt.Fprintf(stderr, "baton migrate: %v\n", err)
		return 1
	}
	defer store.Close()
	fmt.Fprintln(stdout, "schema is up to date")
	return 0
}

func version() string {
	if bi, ok := debug.ReadBuildInfo(); ok && bi.Main.Version != "" {
		return bi.Main.Version
	}
	return "(devel)"
}

func versionString() string {
	bi, ok := debug.ReadBuildInfo()
	if !ok {
		return "baton (devel)"
	}
	s := fmt.Sprintf("baton %s %s", version(), bi.GoVersion)
	for _, st := range bi.Settings {
		if st.Key == "vcs.revision" || st.Key == "vcs.time" || st.Key == "vcs.modified" {
			s += " " + st.Key + "=" + st.Value
		}
	}
	return s
}

var errUsage = errors.New("usage")
