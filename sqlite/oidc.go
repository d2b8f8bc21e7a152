package sqlite

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/batonauth/baton"
)

// The OpenID provider's storage: registered clients, consents, and the
// revocation of a single-sign-on session with the sessions it issued.

var (
	_ baton.ClientStore          = (*DB)(nil)
	_ baton.ConsentStore         = (*DB)(nil)
	_ baton.ProviderSessionStore = (*DB)(nil)
)

var (
	errClientNotFound  = baton.Errorf(baton.ENotFound, "client not found")
	errConsentNotFound = baton.Errorf(baton.ENotFound, "consent not found")
)

const clientColumns = `id, name, secret_hash, redirect_uris, post_logout_redirect_uris, backchannel_logout_uri,
	first_party, require_par, scopes, grant_types, id_token_alg, access_ttl, refresh_ttl, refresh_idle_ttl,
	created_at, updated_at`

// listArg is the bind value of a list column: a JSON array, [] for none.
func listArg(l []string) string {
	if len(l) == 0 {
		return "[]"
	}
	b, _ := json.Marshal(l) // strings always marshal
	return string(b)
}

// scanList scans a list column (a JSON array of strings) into *p; an
// empty array is nil.
type scanList struct{ p *[]string }

func (s scanList) Scan(v any) error {
	str, ok := v.(string)
	if !ok {
		return fmt.Errorf("scan list: unexpected %T", v)
	}
	var l []string
	if err := json.Unmarshal([]byte(str), &l); err != nil {
		return fmt.Errorf("scan list: %w", err)
	}
	if len(l) == 0 {
		l = nil
	}
	*s.p = l
	return nil
}

// scanDuration scans an INTEGER microsecond column into *p.
type scanDuration struct{ p *time.Duration }

func (s scanDuration) Scan(v any) error {
	n, ok := v.(int64)
	if !ok {
		return fmt.Errorf("scan duration: unexpected %T", v)
	}
	*s.p = time.Duration(n) * time.Microsecond
	return nil
}

func scanClient(r row) (*baton.OAuthClient, error) {
	c := new(baton.OAuthClient)
	err := r.Scan(&c.ID, &c.Name, &c.SecretHash, scanList{&c.RedirectURIs}, scanList{&c.PostLogoutRedirectURIs},
		&c.BackchannelLogoutURI, &c.FirstParty, &c.RequirePAR, scanList{&c.Scopes}, scanList{&c.GrantTypes},
		&c.IDTokenAlg, scanDuration{&c.AccessTTL}, scanDuration{&c.RefreshTTL}, scanDuration{&c.RefreshIdleTTL},
		scanTime{&c.CreatedAt}, scanTime{&c.UpdatedAt})
	if errors.Is(err, sql.ErrNoRows) {
		return nil, errClientNotFound
	}
	if err != nil {
		return nil, err
	}
	return c, nil
}

// secretArg is the bind value of a secret hash: NULL for a public client.
func secretArg(hash []byte) any {
	if len(hash) == 0 {
		return nil
	}
	return hash
}

// CreateClient stores c. EConflict when its id exists.
func (db *DB) CreateClient(ctx context.Context, c *baton.OAuthClient) error {
	return db.write(ctx, "create client", func(tx *tx) error {
		return tx.exec(`INSERT INTO clients (`+clientColumns+`)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
			c.ID, c.Name, secretArg(c.SecretHash), listArg(c.RedirectURIs), listArg(c.PostLogoutRedirectURIs),
			c.BackchannelLogoutURI, c.FirstParty, c.RequirePAR, listArg(c.Scopes), listArg(c.GrantTypes),
			c.IDTokenAlg, c.AccessTTL.Microseconds(), c.RefreshTTL.Microseconds(), c.RefreshIdleTTL.Microseconds(),
			timeArg(c.CreatedAt), timeArg(c.UpdatedAt))
	})
}

// Client returns the client, or ENotFound.
func (db *DB) Client(ctx context.Context, id string) (*baton.OAuthClient, error) {
	c, err := scanClient(db.queryRow(ctx, `SELECT `+clientColumns+` FROM clients WHERE id = ?`, id))
	return c, formatError("client", err)
}

// Clients lists clients by id (byte order), after after.
func (db *DB) Clients(ctx context.Context, after string, limit int) ([]*baton.OAuthClient, error) {
	if limit <= 0 {
		return nil, nil
	}
	rows, err := db.query(ctx, `SELECT `+clientColumns+` FROM clients WHERE id > ? ORDER BY id LIMIT ?`, after, limit)
	if err != nil {
		return nil, formatError("list clients", err)
	}
	defer rows.Close()
	var out []*baton.OAuthClient
	for rows.Next() {
		c, err := scanClient(rows)
		if err != nil {
			return nil, formatError("list clients", err)
		}
		out = append(out, c)
	}
	return out, formatError("list clients", rows.Err())
}

// UpdateClient replaces the client's fields but its id, secret and
// creation time. ENotFound.
func (db *DB) UpdateClient(ctx context.Context, c *baton.OAuthClient) error {
	return db.write(ctx, "update client", func(tx *tx) error {
		n, err := tx.execN(`UPDATE clients SET name = ?, redirect_uris = ?, post_logout_redirect_uris = ?,
				backchannel_logout_uri = ?, first_party = ?, require_par = ?, scopes = ?, grant_types = ?,
				id_token_alg = ?, access_ttl = ?, refresh_ttl = ?, refresh_idle_ttl = ?, updated_at = ?
			WHERE id = ?`,
			c.Name, listArg(c.RedirectURIs), listArg(c.PostLogoutRedirectURIs),
			c.BackchannelLogoutURI, c.FirstParty, c.RequirePAR, listArg(c.Scopes), listArg(c.GrantTypes),
			c.IDTokenAlg, c.AccessTTL.Microseconds(), c.RefreshTTL.Microseconds(), c.RefreshIdleTTL.Microseconds(),
			timeArg(c.UpdatedAt), c.ID)
		if err == nil && n == 0 {
			return errClientNotFound
		}
		return err
	})
}

// SetClientSecret replaces the client's secret hash (nil: public).
// ENotFound.
func (db *DB) SetClientSecret(ctx context.Context, id string, hash []byte, now time.Time) error {
	return db.write(ctx, "set client secret", func(tx *tx) error {
		n, err := tx.execN(`UPDATE clients SET secret_hash = ?, updated_at = ? WHERE id = ?`,
			secretArg(hash), timeArg(now), id)
		if err == nil && n == 0 {
			return errClientNotFound
		}
		return err
	})
}

// DeleteClient revokes the client's sessions (enqueuing their logout
// tokens while the client's URI is still there to read), then deletes the
// client and, by the cascade, its consents, in one op of the single writer.
// ENotFound.
func (db *DB) DeleteClient(ctx context.Context, id string, r baton.Revoke) ([]string, error) {
	var ids []string
	err := db.write(ctx, "delete client", func(tx *tx) error {
		var one int
		if err := tx.queryRow(`SELECT 1 FROM clients WHERE id = ?`, id).Scan(&one); errors.Is(err, sql.ErrNoRows) {
			return errClientNotFound
		} else if err != nil {
			return err
		}
		var err error
		if ids, err = revokeWhere(tx, `client_id = ?`, r, id); err != nil {
			return err
		}
		if err := appendRevocation(tx, id, r); err != nil {
			return err
		}
		return tx.exec(`DELETE FROM clients WHERE id = ?`, id)
	})
	if err != nil {
		return nil, err
	}
	return ids, nil
}

const consentColumns = `user_id, client_id, scopes, granted_at`

func scanConsent(r row) (*baton.Consent, error) {
	c := new(baton.Consent)
	err := r.Scan(&c.UserID, &c.ClientID, scanList{&c.Scopes}, scanTime{&c.GrantedAt})
	if errors.Is(err, sql.ErrNoRows) {
		return nil, errConsentNotFound
	}
	if err != nil {
		return nil, err
	}
	return c, nil
}

// mergeScopes returns the union of a and b, sorted, without duplicates.
func mergeScopes(a, b []string) []string {
	out := slices.Concat(a, b)
	slices.Sort(out)
	return slices.Compact(out)
}

// GrantConsent stores the consent, or adds its scopes to the user's
// consent for the client: the read and the write are one op of the single
// writer. ENotFound (the foreign keys) when the user or the client does
// not exist.
func (db *DB) GrantConsent(ctx context.Context, c *baton.Consent) error {
	return db.write(ctx, "grant consent", func(tx *tx) error {
		var had []string
		err := tx.queryRow(`SELECT scopes FROM consents WHERE user_id = ? AND client_id = ?`, c.UserID, c.ClientID).
			Scan(scanList{&had})
		if err != nil && !errors.Is(err, sql.ErrNoRows) {
			return err
		}
		return tx.exec(`INSERT INTO consents (`+consentColumns+`) VALUES (?, ?, ?, ?)
			ON CONFLICT (user_id, client_id) DO UPDATE SET scopes = excluded.scopes, granted_at = excluded.granted_at`,
			c.UserID, c.ClientID, listArg(mergeScopes(had, c.Scopes)), timeArg(c.GrantedAt))
	})
}

// Consent returns the user's consent for the client, or ENotFound.
func (db *DB) Consent(ctx context.Context, userID, clientID string) (*baton.Consent, error) {
	c, err := scanConsent(db.queryRow(ctx, `SELECT `+consentColumns+` FROM consents WHERE user_id = ? AND client_id = ?`,
		userID, clientID))
	return c, formatError("consent", err)
}

// Consents lists the user's consents, most recently granted first (ties by
// client id).
func (db *DB) Consents(ctx context.Context, userID string, limit int) ([]*baton.Consent, error) {
	if limit <= 0 {
		return nil, nil
	}
	rows, err := db.query(ctx, `SELECT `+consentColumns+` FROM consents WHERE user_id = ?
		ORDER BY granted_at DESC, client_id LIMIT ?`, userID, limit)
	if err != nil {
		return nil, formatError("list consents", err)
	}
	defer rows.Close()
	var out []*baton.Consent
	for rows.Next() {
		c, err := scanConsent(rows)
		if err != nil {
			return nil, formatError("list consents", err)
		}
		out = append(out, c)
	}
	return out, formatError("list consents", rows.Err())
}

// DeleteConsent deletes the consent and revokes the user's sessions of the
// client, in one op of the single writer. ENotFound.
func (db *DB) DeleteConsent(ctx context.Context, userID, clientID string, r baton.Revoke) ([]string, error) {
	var ids []string
	err := db.write(ctx, "delete consent", func(tx *tx) error {
		n, err := tx.execN(`DELETE FROM consents WHERE user_id = ? AND client_id = ?`, userID, clientID)
		if err != nil {
			return err
		}
		if n == 0 {
			return errConsentNotFound
		}
		ids, err = revokeWhere(tx, `client_id = ? AND user_id = ?`, r, clientID, userID)
		return err
	})
	if err != nil {
		return nil, err
	}
	return ids, nil
}

// RevokeSessionTree revokes the session and the sessions it issued, in one
// op of the single writer. ENotFound.
func (db *DB) RevokeSessionTree(ctx context.Context, id string, r baton.Revoke) ([]string, error) {
	var ids []string
	err := db.write(ctx, "revoke session tree", func(tx *tx) error {
		var one int
		if err := tx.queryRow(`SELECT 1 FROM sessions WHERE id = ?`, id).Scan(&one); errors.Is(err, sql.ErrNoRows) {
			return errSessionNotFound
		} else if err != nil {
			return err
		}
		var err error
		// "parent <> ''" lets the planner use the partial index
		// sessions_parent.
		ids, err = revokeWhere(tx, `(id = ? OR (parent = ? AND parent <> ''))`, r, id, id)
		return err
	})
	if err != nil {
		return nil, err
	}
	return ids, nil
}
