package backchannel_test

import (
	"context"
	"errors"
	"net"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/batonauth/baton"
	"github.com/batonauth/baton/backchannel"
	"github.com/batonauth/baton/mail"
)

func sender() *backchannel.Sender {
	return &backchannel.Sender{Token: func(_ context.Context, m *baton.OutboxMessage) (string, error) {
		return "logout-token-of-" + m.ID, nil
	}}
}

// TestDeliver: the token goes as the form field logout_token; a 2xx is
// success, a refusal (4xx but 408 and 429) is permanent, and everything
// else — 5xx, 408, 429, no answer, a redirect, which is not followed — is
// tried again later.
func TestDeliver(t *testing.T) {
	for _, tc := range []struct {
		name      string
		status    int
		ok        bool
		permanent bool
	}{
		{"OK", http.StatusOK, true, false},
		{"NoContent", http.StatusNoContent, true, false},
		{"BadRequest", http.StatusBadRequest, false, true},
		{"NotFound", http.StatusNotFound, false, true},
		{"Timeout", http.StatusRequestTimeout, false, false},
		{"TooMany", http.StatusTooManyRequests, false, false},
		{"Unavailable", http.StatusServiceUnavailable, false, false},
		{"Redirect", http.StatusFound, false, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var got, ctype string
			rp := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				_ = r.ParseForm()
				got, ctype = r.PostForm.Get("logout_token"), r.Header.Get("Content-Type")
				if tc.status == http.StatusFound {
					http.Redirect(w, r, "/elsewhere", tc.status)
					return
				}
				w.WriteHeader(tc.status)
			}))
			defer rp.Close()
			err := sender().Deliver(context.Background(), &baton.OutboxMessage{ID: "m1", Recipient: rp.URL + "/logout"})
			if (err == nil) != tc.ok || mail.IsPermanent(err) != tc.permanent {
				t.Fatalf("status %d: err %v (permanent %v), want ok=%v permanent=%v", tc.status, err, mail.IsPermanent(err), tc.ok, tc.permanent)
			}
			if got != "logout-token-of-m1" || ctype != "application/x-www-form-urlencoded" {
				t.Fatalf("the relying party got logout_token %q as %q", got, ctype)
			}
		})
	}
	t.Run("Unreachable", func(t *testing.T) {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		addr := ln.Addr().String()
		ln.Close()
		err = sender().Deliver(context.Background(), &baton.OutboxMessage{ID: "m2", Recipient: "http://" + addr + "/logout"})
		if err == nil || mail.IsPermanent(err) {
			t.Fatalf("nobody listening: err %v, want a retry", err)
		}
	})
	t.Run("BadURI", func(t *testing.T) {
		err := sender().Deliver(context.Background(), &baton.OutboxMessage{ID: "m4", Recipient: "http://[::1"})
		if !mail.IsPermanent(err) {
			t.Fatalf("an unusable URI: err %v, want a permanent failure", err)
		}
	})
	t.Run("TokenFails", func(t *testing.T) {
		boom := errors.New("no key")
		s := &backchannel.Sender{Token: func(context.Context, *baton.OutboxMessage) (string, error) { return "", boom }}
		if err := s.Deliver(context.Background(), &baton.OutboxMessage{ID: "m3", Recipient: "http://127.0.0.1:9/"}); !errors.Is(err, boom) {
			t.Fatalf("err %v, want the signer's", err)
		}
	})
}
