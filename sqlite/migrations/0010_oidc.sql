-- The OpenID provider (docs/oidc.md).
--
-- A session issued through the authorization code flow keeps the scope it
-- was granted, and the single-sign-on session that issued it (parent), so
-- ending that one at /oauth/logout ends its children. Every other session
-- has '' in both: a constant default rewrites no row.
ALTER TABLE sessions ADD COLUMN scope TEXT NOT NULL DEFAULT '';
ALTER TABLE sessions ADD COLUMN parent TEXT NOT NULL DEFAULT '';

-- RevokeSessionTree's "children of the single-sign-on session". Partial:
-- nearly every session has no parent, and those need no entry. (The query
-- repeats "parent <> ''" so the planner sees the index applies.)
CREATE INDEX sessions_parent ON sessions (parent) WHERE parent <> '';
-- DeleteClient's "sessions of the client" (all users); DeleteConsent's
-- "sessions of the client of one user" uses it too.
CREATE INDEX sessions_client_id ON sessions (client_id, user_id);

-- Registered clients. The lists are JSON arrays of strings; lifetimes are
-- microseconds (0: the server's); secret_hash is the SHA-256 of the secret,
-- NULL for a public client.
CREATE TABLE clients (
	id                        TEXT    PRIMARY KEY,
	name                      TEXT    NOT NULL,
	secret_hash               BLOB,
	redirect_uris             TEXT    NOT NULL DEFAULT '[]',
	post_logout_redirect_uris TEXT    NOT NULL DEFAULT '[]',
	-- '' for none: no back-channel logout tokens are enqueued for the
	-- client's sessions.
	backchannel_logout_uri    TEXT    NOT NULL DEFAULT '',
	first_party               INTEGER NOT NULL DEFAULT 0 CHECK (first_party IN (0, 1)),
	require_par               INTEGER NOT NULL DEFAULT 0 CHECK (require_par IN (0, 1)),
	scopes                    TEXT    NOT NULL DEFAULT '[]',
	grant_types               TEXT    NOT NULL DEFAULT '[]',
	id_token_alg              TEXT    NOT NULL,
	access_ttl                INTEGER NOT NULL DEFAULT 0,
	refresh_ttl               INTEGER NOT NULL DEFAULT 0,
	refresh_idle_ttl          INTEGER NOT NULL DEFAULT 0,
	created_at                INTEGER NOT NULL,
	updated_at                INTEGER NOT NULL
) STRICT;

-- Consents users gave clients: one row per user and client, its scopes a
-- sorted JSON array that grows with each grant. Deleting the user or the
-- client deletes them. Consents are not pruned: they live until withdrawn.
CREATE TABLE consents (
	user_id    TEXT    NOT NULL REFERENCES users (id) ON DELETE CASCADE,
	client_id  TEXT    NOT NULL REFERENCES clients (id) ON DELETE CASCADE,
	scopes     TEXT    NOT NULL,
	granted_at INTEGER NOT NULL,
	PRIMARY KEY (user_id, client_id)
) STRICT, WITHOUT ROWID;

-- The cascade from clients.
CREATE INDEX consents_client_id ON consents (client_id);
