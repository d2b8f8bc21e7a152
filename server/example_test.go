package server_test

import (
	"context"
	"fmt"
	"io"
	"log"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"

	"github.com/batonauth/baton/config"
	"github.com/batonauth/baton/server"
)

// Example mounts baton under /auth/ in an application's own server, next
// to the application's routes.
func Example() {
	dir, _ := os.MkdirTemp("", "baton-example-")
	defer os.RemoveAll(dir)

	app := http.NewServeMux()
	ts := httptest.NewServer(app)
	defer ts.Close()

	// The issuer's path is where baton lives: its routes, cookie paths and
	// metadata URLs all follow it.
	env := map[string]string{
		"BATON_ISSUER":   ts.URL + "/auth",
		"BATON_DATA_DIR": filepath.Join(dir, "data"),
	}
	cfg, err := config.Load(func(k string) string { return env[k] })
	if err != nil {
		log.Fatal(err)
	}
	auth, err := server.New(context.Background(), cfg, server.Options{Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		log.Fatal(err)
	}
	defer auth.Close()

	app.Handle("/auth/", auth.Handler())
	app.HandleFunc("/hello", func(w http.ResponseWriter, r *http.Request) { fmt.Fprintln(w, "hello from the app") })

	post := func(path, body string) string {
		res, err := http.Post(ts.URL+path, "application/json", strings.NewReader(body))
		if err != nil {
			log.Fatal(err)
		}
		defer res.Body.Close()
		return res.Status
	}
	fmt.Println(post("/auth/v1/register", `{"username":"ada","password":"analytical engine 1843"}`))
	fmt.Println(post("/auth/v1/login", `{"username":"ada","password":"analytical engine 1843"}`))
	res, _ := http.Get(ts.URL + "/hello")
	b, _ := io.ReadAll(res.Body)
	res.Body.Close()
	fmt.Print(string(b))
	// Output:
	// 201 Created
	// 200 OK
	// hello from the app
}
