package session

import (
	"context"
	"encoding/base64"
	"strconv"
	"strings"
	"time"

	"github.com/batonauth/baton"
	"github.com/batonauth/baton/token"
)

// MaxSessionsPage is the most sessions one page of Sessions holds (and
// the default page size).
const MaxSessionsPage = 100

// Sessions lists a page of the live sessions of the token's user, most
// recently used first: at most limit (MaxSessionsPage when limit is 0 or
// larger), after the position cursor ("" for the first page). next is the
// cursor of the following page, "" when no session remains. Outcomes:
// EInvalidRequest for a malformed cursor or a negative limit.
func (s *Service) Sessions(ctx context.Context, c *token.Claims, cursor string, limit int) (list []*baton.Session, next string, err error) {
	return s.UserSessions(ctx, c.Subject, cursor, limit)
}

// UserSessions is Sessions for any user (the admin commands).
func (s *Service) UserSessions(ctx context.Context, userID, cursor string, limit int) (list []*baton.Session, next string, err error) {
	if limit < 0 {
		return nil, "", baton.Errorf(baton.EInvalidRequest, "limit must be a positive number")
	}
	if limit == 0 || limit > MaxSessionsPage {
		limit = MaxSessionsPage
	}
	page, err := parseSessionCursor(cursor)
	if err != nil {
		return nil, "", err
	}
	// One more than asked tells whether another page follows.
	page.Limit = limit + 1
	list, err = s.store.Sessions(ctx, userID, s.Now(), page)
	if err != nil {
		return nil, "", err
	}
	if len(list) > limit {
		list = list[:limit]
		last := list[limit-1]
		next = sessionCursor(last)
	}
	return list, next, nil
}

// A session cursor is opaque to clients: the last session's LastUsedAt in
// unix microseconds and its id, base64url-encoded. It only positions the
// list; the store query is limited to the caller's own sessions whatever
// the cursor says.
func sessionCursor(last *baton.Session) string {
	return base64.RawURLEncoding.EncodeToString([]byte(strconv.FormatInt(last.LastUsedAt.UnixMicro(), 10) + "." + last.ID))
}

var errBadCursor = baton.Errorf(baton.EInvalidRequest, "the cursor is not one this server handed out")

func parseSessionCursor(cursor string) (baton.SessionPage, error) {
	if cursor == "" {
		return baton.SessionPage{}, nil
	}
	if len(cursor) > 128 {
		return baton.SessionPage{}, errBadCursor
	}
	raw, err := base64.RawURLEncoding.DecodeString(cursor)
	if err != nil {
		return baton.SessionPage{}, errBadCursor
	}
	us, id, ok := strings.Cut(string(raw), ".")
	micros, err := strconv.ParseInt(us, 10, 64)
	if !ok || err != nil || id == "" {
		return baton.SessionPage{}, errBadCursor
	}
	return baton.SessionPage{AfterUsed: time.UnixMicro(micros).UTC(), AfterID: id}, nil
}

// RevokeOwnSession revokes one of the caller's live sessions. Any id that is
// not one of them is ENotFound, so ids of other users reveal nothing.
func (s *Service) RevokeOwnSession(ctx context.Context, c *token.Claims, id string, cl Client) error {
	sess, err := s.store.Session(ctx, id)
	if err != nil {
		return err
	}
	if sess.UserID != c.Subject || !sess.Live(s.Now()) {
		return baton.Errorf(baton.ENotFound, "no such session")
	}
	_, err = s.revoke(ctx, revocation{SessionID: id, Reason: baton.ReasonUser,
		Event: Event{Type: EventRevoke, Outcome: OutcomeOK, UserID: c.Subject, Client: cl, Detail: baton.ReasonUser}})
	return err
}
