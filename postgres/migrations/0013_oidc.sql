-- The OpenID provider (docs/oidc.md).
--
-- A session issued through the authorization code flow keeps the scope it
-- was granted, and the single-sign-on session that issued it (parent), so
-- ending that one at /oauth/logout ends its children. Every other session
-- has '' in both; a constant default is stored in the catalogue, so adding
-- the columns rewrites no row.
ALTER TABLE sessions
	ADD COLUMN scope text NOT NULL DEFAULT '',
	ADD COLUMN parent text NOT NULL DEFAULT '';

-- RevokeSessionTree's "children of the single-sign-on session". Partial:
-- nearly every session has no parent, and those need no entry. (The query
-- repeats "parent <> ''" so the planner sees the index applies, also to a
-- generic plan.)
CREATE INDEX sessions_parent_idx ON sessions (parent) WHERE parent <> '';
-- DeleteClient's "sessions of the client" (all users); DeleteConsent's
-- "sessions of the client of one user" uses it too.
CREATE INDEX sessions_client_id_idx ON sessions (client_id, user_id);

-- Registered clients. Lifetimes are microseconds (0: the server's);
-- secret_hash is the SHA-256 of the secret, NULL for a public client.
-- COLLATE "C": Clients pages by byte order, like Go and the SQLite backend.
CREATE TABLE clients (
	id                        text COLLATE "C" PRIMARY KEY,
	name                      text        NOT NULL,
	secret_hash               bytea,
	redirect_uris             text[]      NOT NULL DEFAULT '{}',
	post_logout_redirect_uris text[]      NOT NULL DEFAULT '{}',
	-- '' for none: no back-channel logout tokens are enqueued for the
	-- client's sessions.
	backchannel_logout_uri    text        NOT NULL DEFAULT '',
	first_party               boolean     NOT NULL DEFAULT false,
	require_par               boolean     NOT NULL DEFAULT false,
	scopes                    text[]      NOT NULL DEFAULT '{}',
	grant_types               text[]      NOT NULL DEFAULT '{}',
	id_token_alg              text        NOT NULL,
	access_ttl                bigint      NOT NULL DEFAULT 0,
	refresh_ttl               bigint      NOT NULL DEFAULT 0,
	refresh_idle_ttl          bigint      NOT NULL DEFAULT 0,
	created_at                timestamptz NOT NULL,
	updated_at                timestamptz NOT NULL
);

-- Consents users gave clients: one row per user and client, its scopes a
-- sorted array (byte order) that grows with each grant. Deleting the user
-- or the client deletes them. Consents are not pruned: they live until
-- withdrawn.
CREATE TABLE consents (
	user_id    text        NOT NULL REFERENCES users (id) ON DELETE CASCADE,
	client_id  text COLLATE "C" NOT NULL REFERENCES clients (id) ON DELETE CASCADE,
	scopes     text[]      NOT NULL,
	granted_at timestamptz NOT NULL,
	PRIMARY KEY (user_id, client_id)
);

-- The cascade from clients.
CREATE INDEX consents_client_id_idx ON consents (client_id);
