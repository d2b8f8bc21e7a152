package session

// RevocationCursor is the Seq of the last revocation-feed entry this
// instance has applied from the store (for the feed-lag metric).
func (s *Service) RevocationCursor() int64 { return s.revCursor.Load() }
