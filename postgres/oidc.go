package postgres

import (
	"context"
	"time"

	"github.com/batonauth/baton"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgtype"
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

// list is the parameter of a text[] column, which is NOT NULL: pgx sends a
// nil slice as NULL.
func list(l []string) []string {
	if l == nil {
		return []string{}
	}
	return l
}

// fromList returns a scanned text[] as the domain has it: nil when empty,
// as SQLite returns it.
func fromList(l []string) []string {
	if len(l) == 0 {
		return nil
	}
	return l
}

func scanClient(row pgx.Row) (*baton.OAuthClient, error) {
	var c baton.OAuthClient
	var access, refresh, idle int64
	var created, updated pgtype.Timestamptz
	err := row.Scan(&c.ID, &c.Name, &c.SecretHash, &c.RedirectURIs, &c.PostLogoutRedirectURIs, &c.BackchannelLogoutURI,
		&c.FirstParty, &c.RequirePAR, &c.Scopes, &c.GrantTypes, &c.IDTokenAlg, &access, &refresh, &idle, &created, &updated)
	if isNoRows(err) {
		return nil, errClientNotFound
	}
	if err != nil {
		return nil, err
	}
	c.RedirectURIs, c.PostLogoutRedirectURIs = fromList(c.RedirectURIs), fromList(c.PostLogoutRedirectURIs)
	c.Scopes, c.GrantTypes = fromList(c.Scopes), fromList(c.GrantTypes)
	c.AccessTTL = time.Duration(access) * time.Microsecond
	c.RefreshTTL = time.Duration(refresh) * time.Microsecond
	c.RefreshIdleTTL = time.Duration(idle) * time.Microsecond
	c.CreatedAt, c.UpdatedAt = fromTS(created), fromTS(updated)
	return &c, nil
}

// secret is the parameter of a secret hash: NULL for a public client.
func secret(hash []byte) []byte {
	if len(hash) == 0 {
		return nil
	}
	return hash
}

// CreateClient stores c. EConflict when its id exists.
func (db *DB) CreateClient(ctx context.Context, c *baton.OAuthClient) error {
	_, err := db.update(ctx, `INSERT INTO clients (`+clientColumns+`)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16)`,
		c.ID, clean(c.Name), secret(c.SecretHash), list(c.RedirectURIs), list(c.PostLogoutRedirectURIs),
		c.BackchannelLogoutURI, c.FirstParty, c.RequirePAR, list(c.Scopes), list(c.GrantTypes),
		c.IDTokenAlg, c.AccessTTL.Microseconds(), c.RefreshTTL.Microseconds(), c.RefreshIdleTTL.Microseconds(),
		ts(c.CreatedAt), ts(c.UpdatedAt))
	return formatError("create client", err)
}

// Client returns the client, or ENotFound.
func (db *DB) Client(ctx context.Context, id string) (*baton.OAuthClient, error) {
	var c *baton.OAuthClient
	err := db.read(ctx, func() (err error) {
		c, err = scanClient(db.pool.QueryRow(ctx, `SELECT `+clientColumns+` FROM clients WHERE id = $1`, id))
		return err
	})
	return c, formatError("client", err)
}

// Clients lists clients by id (byte order: the column is COLLATE "C"),
// after after.
func (db *DB) Clients(ctx context.Context, after string, limit int) ([]*baton.OAuthClient, error) {
	if limit <= 0 {
		return nil, nil
	}
	var out []*baton.OAuthClient
	err := db.read(ctx, func() error {
		rows, err := db.pool.Query(ctx, `SELECT `+clientColumns+` FROM clients WHERE id > $1 ORDER BY id LIMIT $2`, after, limit)
		if err != nil {
			return err
		}
		out, err = collect(rows, func(row pgx.CollectableRow) (*baton.OAuthClient, error) { return scanClient(row) })
		return err
	})
	return out, formatError("list clients", err)
}

// UpdateClient replaces the client's fields but its id, secret and
// creation time. ENotFound.
func (db *DB) UpdateClient(ctx context.Context, c *baton.OAuthClient) error {
	n, err := db.update(ctx, `UPDATE clients SET name = $2, redirect_uris = $3, post_logout_redirect_uris = $4,
			backchannel_logout_uri = $5, first_party = $6, require_par = $7, scopes = $8, grant_types = $9,
			id_token_alg = $10, access_ttl = $11, refresh_ttl = $12, refresh_idle_ttl = $13, updated_at = $14
		WHERE id = $1`,
		c.ID, clean(c.Name), list(c.RedirectURIs), list(c.PostLogoutRedirectURIs),
		c.BackchannelLogoutURI, c.FirstParty, c.RequirePAR, list(c.Scopes), list(c.GrantTypes),
		c.IDTokenAlg, c.AccessTTL.Microseconds(), c.RefreshTTL.Microseconds(), c.RefreshIdleTTL.Microseconds(),
		ts(c.UpdatedAt))
	if err != nil {
		return formatError("update client", err)
	}
	if n == 0 {
		return errClientNotFound
	}
	return nil
}

// SetClientSecret replaces the client's secret hash (nil: public).
// ENotFound.
func (db *DB) SetClientSecret(ctx context.Context, id string, hash []byte, now time.Time) error {
	n, err := db.update(ctx, `UPDATE clients SET secret_hash = $2, updated_at = $3 WHERE id = $1`, id, secret(hash), ts(now))
	if err != nil {
		return formatError("set client secret", err)
	}
	if n == 0 {
		return errClientNotFound
	}
	return nil
}

// DeleteClient revokes the client's sessions (enqueuing their logout
// tokens while the client's URI is still there to read), then deletes the
// client and, by the cascade, its consents, in one transaction. The
// client's row is locked first, so a consent granted meanwhile (whose
// foreign key waits for the lock) fails rather than outlives the client.
// ENotFound.
func (db *DB) DeleteClient(ctx context.Context, id string, r baton.Revoke) ([]string, error) {
	var ids []string
	err := db.inTx(ctx, func(tx pgx.Tx) error {
		if err := lockRevocationFeed(ctx, tx); err != nil {
			return err
		}
		var one int
		if err := tx.QueryRow(ctx, `SELECT 1 FROM clients WHERE id = $1 FOR UPDATE`, id).Scan(&one); isNoRows(err) {
			return errClientNotFound
		} else if err != nil {
			return err
		}
		var err error
		if ids, err = revokeSessions(ctx, tx, `client_id = $4`, r, id); err != nil {
			return err
		}
		// The sid of the client's client_credentials tokens.
		if _, err = tx.Exec(ctx, `INSERT INTO revocations (session_id, revoked_at, until) VALUES ($1, $2, $3)`,
			id, ts(r.Now), ts(r.Until)); err != nil {
			return err
		}
		_, err = tx.Exec(ctx, `DELETE FROM clients WHERE id = $1`, id)
		return err
	})
	if err != nil {
		return nil, formatError("delete client", err)
	}
	return ids, nil
}

const consentColumns = `user_id, client_id, scopes, granted_at`

func scanConsent(row pgx.Row) (*baton.Consent, error) {
	var c baton.Consent
	var granted pgtype.Timestamptz
	err := row.Scan(&c.UserID, &c.ClientID, &c.Scopes, &granted)
	if isNoRows(err) {
		return nil, errConsentNotFound
	}
	if err != nil {
		return nil, err
	}
	c.Scopes, c.GrantedAt = fromList(c.Scopes), fromTS(granted)
	return &c, nil
}

// GrantConsent stores the consent, or adds its scopes to the user's
// consent for the client, in one statement: of concurrent grants each
// adds its scopes (the upsert's update sees the row the other committed).
// Scopes are kept sorted in byte order, without duplicates. ENotFound (the
// foreign keys) when the user or the client does not exist.
func (db *DB) GrantConsent(ctx context.Context, c *baton.Consent) error {
	_, err := db.update(ctx, `INSERT INTO consents (`+consentColumns+`)
		VALUES ($1, $2, ARRAY(SELECT DISTINCT x COLLATE "C" FROM unnest($3::text[]) u(x) ORDER BY 1), $4)
		ON CONFLICT (user_id, client_id) DO UPDATE SET
			scopes = ARRAY(SELECT DISTINCT x COLLATE "C" FROM unnest(consents.scopes || excluded.scopes) u(x) ORDER BY 1),
			granted_at = excluded.granted_at`,
		c.UserID, c.ClientID, list(c.Scopes), ts(c.GrantedAt))
	return formatError("grant consent", err)
}

// Consent returns the user's consent for the client, or ENotFound.
func (db *DB) Consent(ctx context.Context, userID, clientID string) (*baton.Consent, error) {
	var c *baton.Consent
	err := db.read(ctx, func() (err error) {
		c, err = scanConsent(db.pool.QueryRow(ctx, `SELECT `+consentColumns+` FROM consents
			WHERE user_id = $1 AND client_id = $2`, userID, clientID))
		return err
	})
	return c, formatError("consent", err)
}

// Consents lists the user's consents, most recently granted first (ties by
// client id).
func (db *DB) Consents(ctx context.Context, userID string, limit int) ([]*baton.Consent, error) {
	if limit <= 0 {
		return nil, nil
	}
	var out []*baton.Consent
	err := db.read(ctx, func() error {
		rows, err := db.pool.Query(ctx, `SELECT `+consentColumns+` FROM consents WHERE user_id = $1
			ORDER BY granted_at DESC, client_id LIMIT $2`, userID, limit)
		if err != nil {
			return err
		}
		out, err = collect(rows, func(row pgx.CollectableRow) (*baton.Consent, error) { return scanConsent(row) })
		return err
	})
	return out, formatError("list consents", err)
}

// DeleteConsent deletes the consent and revokes the user's sessions of the
// client, in one transaction. ENotFound.
func (db *DB) DeleteConsent(ctx context.Context, userID, clientID string, r baton.Revoke) ([]string, error) {
	var ids []string
	err := db.inTx(ctx, func(tx pgx.Tx) error {
		if err := lockRevocationFeed(ctx, tx); err != nil {
			return err
		}
		tag, err := tx.Exec(ctx, `DELETE FROM consents WHERE user_id = $1 AND client_id = $2`, userID, clientID)
		if err != nil {
			return err
		}
		if tag.RowsAffected() == 0 {
			return errConsentNotFound
		}
		ids, err = revokeSessions(ctx, tx, `client_id = $4 AND user_id = $5`, r, clientID, userID)
		return err
	})
	if err != nil {
		return nil, formatError("delete consent", err)
	}
	return ids, nil
}

// RevokeSessionTree revokes the session and the sessions it issued, in one
// transaction. ENotFound (nothing changes).
func (db *DB) RevokeSessionTree(ctx context.Context, id string, r baton.Revoke) ([]string, error) {
	var ids []string
	err := db.inTx(ctx, func(tx pgx.Tx) error {
		if err := lockRevocationFeed(ctx, tx); err != nil {
			return err
		}
		// The root's row locked first: a child CreateSession is making
		// under it either committed (and the revocation below, a
		// statement of its own, sees it) or waits and then finds the root
		// revoked.
		var one int
		if err := tx.QueryRow(ctx, `SELECT 1 FROM sessions WHERE id = $1 FOR UPDATE`, id).Scan(&one); isNoRows(err) {
			return baton.Errorf(baton.ENotFound, "session not found")
		} else if err != nil {
			return err
		}
		var err error
		// "parent <> ''" lets the planner use the partial index
		// sessions_parent_idx.
		ids, err = revokeSessions(ctx, tx, `(id = $4 OR (parent = $4 AND parent <> ''))`, r, id)
		return err
	})
	if err != nil {
		return nil, formatError("revoke session tree", err)
	}
	return ids, nil
}
