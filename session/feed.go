package session

import (
	"context"

	"github.com/batonauth/baton"
)

// Revocations returns the revocation feed for resource servers: the
// entries after the cursor since whose until has not passed, at most limit.
func (s *Service) Revocations(ctx context.Context, since int64, limit int) ([]baton.Revocation, error) {
	return s.store.Revocations(ctx, since, s.Now(), limit)
}

// Ping reports whether the store is reachable (readiness).
func (s *Service) Ping(ctx context.Context) error { return s.store.Ping(ctx) }
