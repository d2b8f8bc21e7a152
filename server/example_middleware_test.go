package server_test

import (
	"context"
	"encoding/json"
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
	"github.com/batonauth/baton/httpapi"
	"github.com/batonauth/baton/server"
)

// Example_middleware protects an application's own routes with baton's
// rules: RequireAuth for any signed-in user, RequireFresh for a critical
// action, which then answers the RFC 9470 step-up challenge until the user
// confirms the password again through /v1/reauth.
func Example_middleware() {
	dir, _ := os.MkdirTemp("", "baton-example-")
	defer os.RemoveAll(dir)
	app := http.NewServeMux()
	ts := httptest.NewServer(app)
	defer ts.Close()

	env := map[string]string{"BATON_ISSUER": ts.URL, "BATON_DATA_DIR": filepath.Join(dir, "data"), "BATON_FRESH_TTL": "15m"}
	cfg, err := config.Load(func(k string) string { return env[k] })
	if err != nil {
		log.Fatal(err)
	}
	auth, err := server.New(context.Background(), cfg, server.Options{Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		log.Fatal(err)
	}
	defer auth.Close()

	app.Handle("GET /notes", auth.API.RequireAuth(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c, _ := httpapi.ClaimsFrom(r.Context())
		fmt.Fprintf(w, "notes of user %t", c.Subject != "")
	})))
	app.Handle("POST /close-account", auth.API.RequireFresh(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprint(w, "closed")
	})))
	app.Handle("/", auth.Handler())

	call := func(method, path, token, body string) (int, string) {
		req, _ := http.NewRequest(method, ts.URL+path, strings.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
		if token != "" {
			req.Header.Set("Authorization", "Bearer "+token)
		}
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			log.Fatal(err)
		}
		defer res.Body.Close()
		b, _ := io.ReadAll(res.Body)
		return res.StatusCode, string(b)
	}
	creds := `{"username":"grace","password":"cobol forever and ever"}`
	call("POST", "/v1/register", "", creds)
	_, body := call("POST", "/v1/login", "", creds)
	var login struct{ AccessToken, RefreshToken string }
	_ = json.Unmarshal([]byte(strings.NewReplacer("access_token", "AccessToken", "refresh_token", "RefreshToken").Replace(body)), &login)

	fmt.Println(call("GET", "/notes", "", ""))
	fmt.Println(call("GET", "/notes", login.AccessToken, ""))
	fmt.Println(call("POST", "/close-account", login.AccessToken, ""))

	// A refreshed token is never fresh: the critical route asks for a step-up.
	_, body = call("POST", "/v1/refresh", "", `{"refresh_token":"`+login.RefreshToken+`"}`)
	_ = json.Unmarshal([]byte(strings.NewReplacer("access_token", "AccessToken", "refresh_token", "RefreshToken").Replace(body)), &login)
	status, _ := call("POST", "/close-account", login.AccessToken, "")
	fmt.Println(status)
	// Output:
	// 401 {"error":"unauthorized","error_description":"an access token is required"}
	//
	// 200 notes of user true
	// 200 closed
	// 401
}
