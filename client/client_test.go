package client_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/batonauth/baton/batontest"
	"github.com/batonauth/baton/client"
	"golang.org/x/oauth2"
)

var userSeq atomic.Int64

const password = "correct horse battery staple"

// register makes a fresh user on srv.
func register(t *testing.T, srv *batontest.Server) string {
	t.Helper()
	user := fmt.Sprintf("user%d@example.com", userSeq.Add(1))
	b, _ := json.Marshal(map[string]string{"username": user, "password": password})
	resp, err := http.Post(srv.URL+"/v1/register", "application/json", bytes.NewReader(b))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusCreated {
		t.Fatalf("register: got %d, want 201", resp.StatusCode)
	}
	return user
}

// counter is a base RoundTripper that counts refreshes.
type counter struct {
	refreshes atomic.Int64
}

func (c *counter) RoundTrip(r *http.Request) (*http.Response, error) {
	if strings.HasSuffix(r.URL.Path, "/v1/refresh") {
		c.refreshes.Add(1)
	}
	return http.DefaultTransport.RoundTrip(r)
}

func newServer(t *testing.T, clock *batontest.Clock) *batontest.Server {
	return batontest.NewServer(t, batontest.Env{
		"BATON_ACCESS_TTL":        "2s",
		"BATON_REUSE_GRACE":       "0",
		"BATON_LIMIT_IP_FAILURES": "off",
		// Sixteen concurrent reauths of one account from one address would
		// otherwise meet the account limit: a password check in flight
		// holds one failure of the budget until it succeeds.
		"BATON_LIMIT_ACCOUNT_FAILURES": "off",
	}, clock)
}

func me(t *testing.T, hc *http.Client, url string) (int, string) {
	t.Helper()
	resp, err := hc.Get(url + "/v1/me")
	if err != nil {
		t.Error(err)
		return 0, ""
	}
	defer resp.Body.Close()
	var body struct {
		Username string `json:"username"`
		Error    string `json:"error"`
	}
	_ = json.NewDecoder(resp.Body).Decode(&body)
	return resp.StatusCode, body.Username + body.Error
}

func TestLoginAndRefreshBeforeExpiry(t *testing.T) {
	srv := newServer(t, nil)
	user := register(t, srv)
	ctx := context.Background()
	store := &client.MemoryStore{}
	c := &counter{}
	tr := client.New(client.Options{BaseURL: srv.URL, Store: store, Base: c})
	if err := tr.Login(ctx, user, password); err != nil {
		t.Fatal(err)
	}
	first, _ := store.Load(ctx)
	if !strings.HasPrefix(first, "brt_") {
		t.Fatalf("stored %q, want a refresh token", first)
	}
	hc := tr.Client()
	if st, got := me(t, hc, srv.URL); st != 200 || got != user {
		t.Fatalf("me: got %d %q, want 200 %q", st, got, user)
	}
	// Past the margin (a third of 2 s): the next request refreshes first.
	time.Sleep(1500 * time.Millisecond)
	if st, _ := me(t, hc, srv.URL); st != 200 {
		t.Fatalf("me: got %d, want 200", st)
	}
	if n := c.refreshes.Load(); n != 1 {
		t.Fatalf("refreshed %d times, want 1", n)
	}
	if rt, _ := store.Load(ctx); rt == first || !strings.HasPrefix(rt, "brt_") {
		t.Fatalf("store holds %q after a rotation", rt)
	}

	t.Run("ResumeFromStore", func(t *testing.T) {
		// A new process: only the store survives.
		tr2 := client.New(client.Options{BaseURL: srv.URL, Store: store})
		if st, got := me(t, tr2.Client(), srv.URL); st != 200 || got != user {
			t.Fatalf("me: got %d %q, want 200 %q", st, got, user)
		}
		// tr's refresh token is now spent (grace 0): reuse detection.
		if err := tr.Refresh(ctx, ""); err == nil {
			t.Fatal("refresh with a spent token succeeded")
		} else if e := (*client.Error)(nil); !errors.As(err, &e) || e.Code != "invalid_grant" {
			t.Fatalf("got %v, want invalid_grant", err)
		}
	})
}

// TestSingleFlightAcrossExpiry: 32 concurrent requests meet an expired
// token; they share exactly one refresh.
func TestSingleFlightAcrossExpiry(t *testing.T) {
	srv := newServer(t, nil)
	user := register(t, srv)
	ctx := context.Background()
	c := &counter{}
	tr := client.New(client.Options{BaseURL: srv.URL, Base: c})
	if err := tr.Login(ctx, user, password); err != nil {
		t.Fatal(err)
	}
	time.Sleep(2100 * time.Millisecond) // the access token has expired
	hc := tr.Client()
	var wg sync.WaitGroup
	var failed atomic.Int64
	for range 32 {
		wg.Go(func() {
			if st, _ := me(t, hc, srv.URL); st != 200 {
				failed.Add(1)
			}
		})
	}
	wg.Wait()
	if n := failed.Load(); n != 0 {
		t.Fatalf("%d of 32 requests failed", n)
	}
	if n := c.refreshes.Load(); n != 1 {
		t.Fatalf("32 concurrent requests refreshed %d times, want exactly 1", n)
	}
}

// TestRetryOnTokenExpired: the server's clock runs ahead, so a token the
// client thinks valid is answered 401 token_expired; 32 concurrent requests
// share one refresh and each is retried once.
func TestRetryOnTokenExpired(t *testing.T) {
	clock := batontest.NewClock(time.Now())
	srv := newServer(t, clock)
	user := register(t, srv)
	ctx := context.Background()
	c := &counter{}
	tr := client.New(client.Options{BaseURL: srv.URL, Base: c, RefreshMargin: -1})
	if err := tr.Login(ctx, user, password); err != nil {
		t.Fatal(err)
	}
	clock.Advance(10 * time.Second) // past exp + leeway on the server only
	hc := tr.Client()
	var wg sync.WaitGroup
	var failed atomic.Int64
	for i := range 32 {
		wg.Go(func() {
			// Half of them with a body, replayed on the retry.
			var resp *http.Response
			var err error
			if i%2 == 0 {
				resp, err = hc.Get(srv.URL + "/v1/me")
			} else {
				resp, err = hc.Post(srv.URL+"/v1/reauth", "application/json", strings.NewReader(`{"password":"`+password+`"}`))
			}
			if err != nil || resp.StatusCode != 200 {
				failed.Add(1)
			}
			if resp != nil {
				io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
			}
		})
	}
	wg.Wait()
	if n := failed.Load(); n != 0 {
		t.Fatalf("%d of 32 requests failed", n)
	}
	if n := c.refreshes.Load(); n != 1 {
		t.Fatalf("refreshed %d times, want exactly 1", n)
	}
}

func TestOAuth2Interop(t *testing.T) {
	srv := newServer(t, nil)
	user := register(t, srv)
	ctx := context.Background()
	conf := &oauth2.Config{ClientID: "cli", Endpoint: oauth2.Endpoint{TokenURL: srv.URL + "/oauth/token", AuthStyle: oauth2.AuthStyleInParams}}
	tok, err := conf.PasswordCredentialsToken(ctx, user, password)
	if err != nil {
		t.Fatal(err)
	}
	c := &counter{}
	tr := client.New(client.Options{BaseURL: srv.URL, Base: c})
	if err := tr.SetToken(ctx, tok); err != nil {
		t.Fatal(err)
	}
	// Our TokenSource drives x/oauth2's own client.
	hc := oauth2.NewClient(ctx, tr.TokenSource(ctx))
	if st, got := me(t, hc, srv.URL); st != 200 || got != user {
		t.Fatalf("me: got %d %q, want 200 %q", st, got, user)
	}
	time.Sleep(2100 * time.Millisecond)
	if st, _ := me(t, hc, srv.URL); st != 200 {
		t.Fatalf("me after expiry: got %d, want 200", st)
	}
	if n := c.refreshes.Load(); n != 1 {
		t.Fatalf("refreshed %d times, want 1", n)
	}
	got, err := tr.TokenSource(ctx).Token()
	if err != nil || !got.Expiry.After(time.Now()) || got.RefreshToken == tok.RefreshToken {
		t.Fatalf("token %+v, %v: want a valid rotated token", got, err)
	}
	if err := tr.Logout(ctx, ""); err != nil {
		t.Fatal(err)
	}
	if _, err := tr.Token(ctx); !errors.Is(err, client.ErrNoSession) {
		t.Fatalf("after logout: got %v, want ErrNoSession", err)
	}
}

func TestTokenOnlyToOwnHosts(t *testing.T) {
	var seen atomic.Value
	base := roundTripFunc(func(r *http.Request) (*http.Response, error) {
		if r.URL.Host == "elsewhere.example" {
			seen.Store(r.Header.Get("Authorization"))
			return &http.Response{StatusCode: 200, Body: io.NopCloser(strings.NewReader("")), Header: http.Header{}}, nil
		}
		return http.DefaultTransport.RoundTrip(r)
	})
	srv := newServer(t, nil)
	user := register(t, srv)
	tr := client.New(client.Options{BaseURL: srv.URL, Base: base})
	if err := tr.Login(context.Background(), user, password); err != nil {
		t.Fatal(err)
	}
	resp, err := tr.Client().Get("http://elsewhere.example/x")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if got := seen.Load(); got != "" {
		t.Fatalf("another host got Authorization %q", got)
	}
}

type roundTripFunc func(*http.Request) (*http.Response, error)

func (f roundTripFunc) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }
