package baton_test

import (
	"testing"
	"time"

	"github.com/batonauth/baton"
	"github.com/google/go-cmp/cmp"
)

func TestNewBackchannelLogout(t *testing.T) {
	now := time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)
	m := baton.NewBackchannelLogout("https://rp.example/bc", "sess-1", "user-1", "client-1", now)
	want := &baton.OutboxMessage{
		ID:            m.ID,
		Kind:          baton.OutboxBackchannelLogout,
		Recipient:     "https://rp.example/bc",
		Payload:       []byte(`{"sid":"sess-1","sub":"user-1","client_id":"client-1"}`),
		CreatedAt:     now,
		NextAttemptAt: now,
	}
	if d := cmp.Diff(want, m); d != "" {
		t.Errorf("NewBackchannelLogout mismatch (-want +got):\n%s", d)
	}
	// The id is the logout token's jti: 128 random bits, new every time.
	other := baton.NewBackchannelLogout("https://rp.example/bc", "sess-1", "user-1", "client-1", now)
	if len(m.ID) < 26 || m.ID == other.ID {
		t.Errorf("ids %q and %q: want two different ones of 26 characters", m.ID, other.ID)
	}
}
