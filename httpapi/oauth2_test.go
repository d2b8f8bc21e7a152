package httpapi_test

import (
	"context"
	"encoding/json"
	"testing"

	"golang.org/x/oauth2"

	"github.com/batonauth/baton/batontest"
)

// TestGolangOAuth2Client: golang.org/x/oauth2, unchanged, logs in with the
// password grant and keeps a session alive through its TokenSource, which
// refreshes (rotating the refresh token) once the access token is about to
// expire.
func TestGolangOAuth2Client(t *testing.T) {
	// oauth2 treats a token within 10 s of expiry as expired, so a 5 s
	// access lifetime makes every Token call refresh.
	srv := batontest.NewServer(t, batontest.Env{"BATON_ACCESS_TTL": "5s"}, nil)
	newClient(t, srv).register("alice")
	conf := &oauth2.Config{
		ClientID: "cli",
		Endpoint: oauth2.Endpoint{TokenURL: srv.URL + "/oauth/token", AuthStyle: oauth2.AuthStyleInParams},
	}
	ctx := context.Background()
	tok, err := conf.PasswordCredentialsToken(ctx, "alice", pw)
	if err != nil {
		t.Fatalf("PasswordCredentialsToken: %v", err)
	}
	if tok.AccessToken == "" || tok.RefreshToken == "" || tok.Expiry.IsZero() {
		t.Fatalf("token: %+v", tok)
	}
	src := conf.TokenSource(ctx, tok)
	seen := map[string]bool{tok.RefreshToken: true}
	for i := 0; i < 3; i++ {
		nt, err := src.Token()
		if err != nil {
			t.Fatalf("refresh %d: %v", i, err)
		}
		if seen[nt.RefreshToken] {
			t.Fatalf("refresh %d: refresh token was not rotated", i)
		}
		seen[nt.RefreshToken] = true
	}
	hc := oauth2.NewClient(ctx, src)
	res, err := hc.Get(srv.URL + "/v1/me")
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	var me map[string]any
	_ = json.NewDecoder(res.Body).Decode(&me)
	if res.StatusCode != 200 || me["username"] != "alice" {
		t.Fatalf("GET /v1/me through oauth2 client: %d %v", res.StatusCode, me)
	}
	// The first refresh token was rotated away: presenting it again is
	// reuse (outside the grace window it would revoke; inside it replays).
	if _, err := conf.TokenSource(ctx, &oauth2.Token{RefreshToken: "brt_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"}).Token(); err == nil {
		t.Fatal("unknown refresh token accepted")
	} else if re, ok := err.(*oauth2.RetrieveError); !ok || re.ErrorCode != "invalid_grant" {
		t.Fatalf("got %v, want invalid_grant", err)
	}
}
