// Command batonprof is a benchmark build of "baton serve": the same wiring
// as cmd/baton (server.New, JSON log on stderr, graceful shutdown) plus
// net/http/pprof on a separate loopback listener, so the load tool can take
// CPU and allocation profiles of the server under load. It is not the
// production server and is never shipped; the production binary has no
// pprof.
//
// BATON_BENCH_PPROF_ADDR is the pprof listener (a 127.0.0.1 address,
// default 127.0.0.1:0); the address it got is logged as "pprof listening".
package main

import (
	"context"
	"log/slog"
	"net"
	"net/http"
	"net/http/pprof"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/batonauth/baton/config"
	"github.com/batonauth/baton/server"
)

func main() {
	if len(os.Args) > 1 && os.Args[1] == "migrate" {
		os.Exit(migrate())
	}
	os.Exit(serve())
}

func migrate() int {
	cfg, err := config.Load(os.Getenv)
	if err != nil {
		slog.Error("configuration", "err", err)
		return 2
	}
	store, err := server.OpenStore(context.Background(), cfg)
	if err != nil {
		slog.Error("migrate", "err", err)
		return 1
	}
	store.Close()
	return 0
}

func serve() int {
	cfg, err := config.Load(os.Getenv)
	if err != nil {
		slog.Error("configuration", "err", err)
		return 2
	}
	log := slog.New(slog.NewJSONHandler(os.Stderr, nil))
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()

	paddr := os.Getenv("BATON_BENCH_PPROF_ADDR")
	if paddr == "" {
		paddr = "127.0.0.1:0"
	}
	if !strings.HasPrefix(paddr, "127.0.0.1:") {
		log.Error("BATON_BENCH_PPROF_ADDR must be a 127.0.0.1 address")
		return 2
	}
	pln, err := net.Listen("tcp", paddr)
	if err != nil {
		log.Error("pprof listen failed", "err", err)
		return 1
	}
	mux := http.NewServeMux()
	mux.HandleFunc("/debug/pprof/", pprof.Index)
	mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
	mux.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
	mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
	ps := &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second}
	go func() { _ = ps.Serve(pln) }()
	defer ps.Close()
	log.Info("pprof listening", "addr", pln.Addr().String())

	// As in cmd/baton: listen first, and a default issuer names the
	// address actually bound.
	ln, err := net.Listen("tcp", cfg.Addr)
	if err != nil {
		log.Error("listen failed", "addr", cfg.Addr, "err", err)
		return 1
	}
	defer ln.Close()
	if os.Getenv("BATON_ISSUER") == "" {
		cfg.Issuer = "http://" + ln.Addr().String()
		if os.Getenv("BATON_AUDIENCE") == "" {
			cfg.Audience = cfg.Issuer
		}
	}
	srv, err := server.New(ctx, cfg, server.Options{Logger: log, Version: "benchmark (pprof)"})
	if err != nil {
		log.Error("start-up failed", "err", err)
		return 1
	}
	defer srv.Close()
	log.Info("baton listening", "addr", ln.Addr().String(), "issuer", cfg.Issuer, "build", "benchmark (pprof)")
	if err := srv.Serve(ctx, ln); err != nil {
		log.Error("server failed", "err", err)
		return 1
	}
	return 0
}
