package server_test

import (
	"bytes"
	"context"
	"encoding/json"
	"github.com/batonauth/baton/admin"
	"net/http"
	"sync"
	"testing"

	"github.com/batonauth/baton/password"
	"github.com/batonauth/baton/postgres/pgtest"
	"github.com/batonauth/baton/server"
)

// TestLoginsInFlightDoNotOutliveCredentialChanges: logins whose password
// check is running while an administrator locks the account, or the
// password changes, must not leave a session that works afterwards. The
// store creates a session only while the user is unlocked and still at the
// credential generation the login verified (one compare-and-set), so every
// login that answered 200 before the change is revoked by it, and every
// later one fails. The hashing is made slow enough (a few ms) that the
// logins really are in flight when the change lands.
func TestLoginsInFlightDoNotOutliveCredentialChanges(t *testing.T) {
	changes := []struct {
		name   string
		change func(t *testing.T, s *credServer)
	}{
		{"Lock", func(t *testing.T, s *credServer) {
			if _, err := s.Admin.Lock(context.Background(), admin.Username("alice")); err != nil {
				t.Fatal(err)
			}
		}},
		{"SetPassword", func(t *testing.T, s *credServer) {
			if _, err := s.Admin.SetPassword(context.Background(), admin.Username("alice"), "another horse battery staple"); err != nil {
				t.Fatal(err)
			}
		}},
		{"PasswordChange", func(t *testing.T, s *credServer) {
			// The user changes the password through the API from a session
			// made before the race.
			if r := call(t, "POST", s.URL+"/v1/password", s.userToken, map[string]string{
				"current_password": pw, "new_password": "another horse battery staple"}); r.status != 200 {
				t.Fatalf("password change: %d %s", r.status, r.raw)
			}
		}},
	}
	for _, store := range []string{"SQLite", "PostgreSQL"} {
		for _, ch := range changes {
			t.Run(store+"/"+ch.name, func(t *testing.T) {
				env := map[string]string{"BATON_LIMIT_ACCOUNT_FAILURES": "off", "BATON_LIMIT_IP_FAILURES": "off"}
				if store == "PostgreSQL" {
					env["BATON_DATABASE_URL"] = pgtest.NewDatabase(t)
				}
				params := password.Params{Memory: 4 * 1024, Time: 1, Threads: 1, SaltLen: 16, KeyLen: 32}
				s := &credServer{testServer: newTestServer(t, env, nil, server.Options{PasswordParams: &params})}
				if r := call(t, "POST", s.URL+"/v1/register", "", map[string]string{"username": "alice", "password": pw}); r.status != 201 {
					t.Fatalf("register: %d %s", r.status, r.raw)
				}
				first := call(t, "POST", s.URL+"/v1/login", "", map[string]string{"username": "alice", "password": pw})
				s.userToken = first.str("access_token")
				survivors := s.raceLogins(t, 30, func() { ch.change(t, s) })
				t.Logf("%s, %s: %d of 30 in-flight logins left a working session", store, ch.name, survivors)
				if survivors != 0 {
					t.Errorf("sessions alive after %s: got %d, want 0", ch.name, survivors)
				}
			})
		}
	}
}

type credServer struct {
	*testServer
	userToken string
}

// raceLogins starts n concurrent logins of alice, runs change while they
// are in flight, and counts the sessions they created that still refresh
// once change has returned.
func (s *credServer) raceLogins(t *testing.T, n int, change func()) int {
	t.Helper()
	var wg sync.WaitGroup
	refresh := make([]string, n)
	started := make(chan struct{}, n)
	for i := 0; i < n; i++ {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			started <- struct{}{}
			body, _ := json.Marshal(map[string]string{"username": "alice", "password": pw})
			res, err := http.Post(s.URL+"/v1/login", "application/json", bytes.NewReader(body))
			if err != nil {
				return
			}
			defer res.Body.Close()
			var g struct {
				RefreshToken string `json:"refresh_token"`
			}
			if res.StatusCode == 200 && json.NewDecoder(res.Body).Decode(&g) == nil {
				refresh[i] = g.RefreshToken
			}
		}(i)
	}
	for i := 0; i < n/3; i++ {
		<-started
	}
	change()
	wg.Wait()
	survivors := 0
	for _, rt := range refresh {
		if rt == "" {
			continue
		}
		if r := call(t, "POST", s.URL+"/v1/refresh", "", map[string]string{"refresh_token": rt}); r.status == 200 {
			survivors++
		}
	}
	return survivors
}
