// Package backchannel delivers OpenID Connect back-channel logout tokens
// (Back-Channel Logout 1.0 §2.5): the outbox's dispatcher claims each
// OutboxBackchannelLogout message, the session engine signs its logout
// token, and a Sender POSTs it to the relying party's URI, retrying as mail
// is retried.
package backchannel

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/batonauth/baton"
)

// Timeout bounds one delivery.
const Timeout = 10 * time.Second

// Sender delivers logout tokens.
type Sender struct {
	// Token signs the logout token of a message.
	Token func(ctx context.Context, m *baton.OutboxMessage) (string, error)
	// Client makes the requests; default: one with Timeout that follows
	// no redirect (the relying party's URI is registered exactly).
	Client *http.Client
}

// Error is a failed delivery.
type Error struct {
	// Status is the relying party's HTTP status, 0 when none came.
	Status int
	Err    error
	// badURI: the registered URI makes no request at all.
	badURI bool
}

func (e *Error) Error() string {
	if e.Status != 0 {
		return fmt.Sprintf("back-channel logout: the relying party answered %d", e.Status)
	}
	return "back-channel logout: " + e.Err.Error()
}

func (e *Error) Unwrap() error { return e.Err }

// Permanent reports whether retrying cannot help: the relying party
// refused the token (4xx; §2.8 answers 400 for a token it rejects),
// except 408 and 429, which ask for a later try.
func (e *Error) Permanent() bool {
	return e.badURI || e.Status >= 400 && e.Status < 500 && e.Status != http.StatusRequestTimeout && e.Status != http.StatusTooManyRequests
}

// Deliver POSTs the message's logout token to its Recipient as the form
// field logout_token. A 2xx answer is success.
func (s *Sender) Deliver(ctx context.Context, m *baton.OutboxMessage) error {
	tok, err := s.Token(ctx, m)
	if err != nil {
		return err
	}
	client := s.Client
	if client == nil {
		client = &http.Client{Timeout: Timeout, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	}
	ctx, cancel := context.WithTimeout(ctx, Timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, m.Recipient, strings.NewReader(url.Values{"logout_token": {tok}}.Encode()))
	if err != nil {
		return &Error{Err: err, badURI: true}
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Cache-Control", "no-store")
	resp, err := client.Do(req)
	if err != nil {
		return &Error{Err: err}
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	if resp.StatusCode/100 != 2 {
		return &Error{Status: resp.StatusCode}
	}
	return nil
}
