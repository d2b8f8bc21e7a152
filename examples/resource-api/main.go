// Command resource-api is a small API that accepts baton's access tokens:
// it verifies them against the baton server's JWKS, follows its revocation
// feed when given resource credentials, and asks for a fresh login on its
// critical route.
//
//	BATON_ISSUER=http://127.0.0.1:8080 \
//	BATON_RESOURCE_CLIENT_ID=api BATON_RESOURCE_CLIENT_SECRET=… \
//	go run ./examples/resource-api -addr 127.0.0.1:9090
//
//	curl -H "Authorization: Bearer $AT" http://127.0.0.1:9090/api/hello
package main

import (
	"context"
	"encoding/json"
	"flag"
	"log/slog"
	"net/http"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/batonauth/baton/resource"
)

func main() {
	addr := flag.String("addr", "127.0.0.1:9090", "listen address")
	flag.Parse()
	issuer := os.Getenv("BATON_ISSUER")
	if issuer == "" {
		issuer = "http://127.0.0.1:8080"
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	log := slog.New(slog.NewJSONHandler(os.Stderr, nil))

	v, err := resource.New(ctx, resource.Options{
		Issuer:       issuer,
		Audience:     os.Getenv("BATON_AUDIENCE"),
		ClientID:     os.Getenv("BATON_RESOURCE_CLIENT_ID"),
		ClientSecret: os.Getenv("BATON_RESOURCE_CLIENT_SECRET"),
		Logger:       log,
	})
	if err != nil {
		log.Error("resource verifier", "err", err)
		os.Exit(1)
	}
	defer v.Close()

	srv := &http.Server{Addr: *addr, Handler: routes(v), ReadHeaderTimeout: 5 * time.Second}
	go func() {
		<-ctx.Done()
		shutdown, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = srv.Shutdown(shutdown)
	}()
	log.Info("resource-api listening", "addr", *addr, "issuer", issuer)
	if err := srv.ListenAndServe(); err != nil && err != http.ErrServerClosed {
		log.Error("serve", "err", err)
		os.Exit(1)
	}
}

// routes is the API: every route needs a valid access token, the critical
// one a password verification from the last five minutes.
func routes(v *resource.Verifier) http.Handler {
	mux := http.NewServeMux()
	mux.Handle("GET /api/hello", v.Require(http.HandlerFunc(hello)))
	mux.Handle("POST /api/critical", v.Require(v.RequireFresh(5*time.Minute)(http.HandlerFunc(critical))))
	return mux
}

func hello(w http.ResponseWriter, r *http.Request) {
	c, _ := resource.ClaimsFrom(r.Context())
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(map[string]any{"user": c.Subject, "session": c.SessionID, "expires_at": c.ExpiresAt})
}

func critical(w http.ResponseWriter, r *http.Request) {
	c, _ := resource.ClaimsFrom(r.Context())
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(map[string]any{"user": c.Subject, "done": true, "authenticated_at": c.AuthTime})
}
