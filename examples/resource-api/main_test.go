package main

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/batonauth/baton/batontest"
	"github.com/batonauth/baton/resource"
)

func TestRoutes(t *testing.T) {
	srv := batontest.NewServer(t, batontest.Env{"BATON_RESOURCE_CLIENT_ID": "api", "BATON_RESOURCE_CLIENT_SECRET": "resource-secret-0123456789"}, nil)
	v, err := resource.New(context.Background(), resource.Options{Issuer: srv.URL, ClientID: "api", ClientSecret: "resource-secret-0123456789"})
	if err != nil {
		t.Fatal(err)
	}
	defer v.Close()
	api := httptest.NewServer(routes(v))
	defer api.Close()

	creds, _ := json.Marshal(map[string]string{"username": "alice@example.com", "password": "correct horse battery staple"})
	for _, path := range []string{"/v1/register", "/v1/login"} {
		resp, err := http.Post(srv.URL+path, "application/json", bytes.NewReader(creds))
		if err != nil {
			t.Fatal(err)
		}
		if path == "/v1/login" {
			var g struct {
				AccessToken string `json:"access_token"`
			}
			_ = json.NewDecoder(resp.Body).Decode(&g)
			req, _ := http.NewRequest(http.MethodGet, api.URL+"/api/hello", nil)
			req.Header.Set("Authorization", "Bearer "+g.AccessToken)
			hello, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			var body map[string]any
			_ = json.NewDecoder(hello.Body).Decode(&body)
			hello.Body.Close()
			if hello.StatusCode != 200 || body["user"] == "" {
				t.Fatalf("hello: got %d %v, want 200 with the user", hello.StatusCode, body)
			}
		}
		resp.Body.Close()
	}
	resp, err := http.Get(api.URL + "/api/hello")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 401 || !strings.HasPrefix(resp.Header.Get("WWW-Authenticate"), "Bearer") {
		t.Fatalf("no token: got %d %q, want 401 with a Bearer challenge", resp.StatusCode, resp.Header.Get("WWW-Authenticate"))
	}
}
