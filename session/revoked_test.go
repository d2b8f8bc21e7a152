package session

import (
	"testing"
	"time"
)

func TestRevokedSet(t *testing.T) {
	t0 := time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)
	s := newRevokedSet()
	s.add("a", t0.Add(time.Minute))
	s.add("b", t0.Add(time.Hour))
	s.add("a", t0) // an earlier until never shortens an entry
	s.expire(t0.Add(2 * time.Minute))
	if s.has("a") || !s.has("b") || s.len() != 1 {
		t.Fatalf("after expiry: a=%v b=%v len=%d, want only b", s.has("a"), s.has("b"), s.len())
	}
	s.expire(t0.Add(time.Hour)) // until itself is still covered
	if !s.has("b") {
		t.Fatal("entry dropped at its until")
	}
}
