package main

import (
	"context"
	"crypto/rand"
	"encoding/base32"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"path/filepath"
	"time"

	"github.com/batonauth/baton/internal/webauthntest"
	"github.com/jackc/pgx/v5"
	"github.com/pquerna/otp"
	"github.com/pquerna/otp/totp"
)

// The second-factor scenarios. Each op is one whole sign-in, from the
// first request to the token response, whatever number of requests it
// takes:
//
//	login-totp         POST /v1/login (403 mfa_required) → POST /v1/login/mfa {totp}
//	login-passkey-2fa  POST /v1/login (403) → POST /v1/passkeys/login/options {mfa_token}
//	                   → POST /v1/login/mfa {passkey}
//	passkey            POST /v1/passkeys/login/options {} → POST /v1/passkeys/login
//
// Every factor user is seeded by SQL before the server starts: the shared
// password hash, a confirmed TOTP secret stored in the clear (the bench
// server has no master key, and the engine reads an unsealed secret as
// is), or a passkey row made from a software authenticator of its own.

const (
	// benchRPID and benchOrigin are the relying party the started server
	// is configured with (BATON_WEBAUTHN_RP_ID, BATON_WEBAUTHN_ORIGINS).
	benchRPID   = "localhost"
	benchOrigin = "http://localhost:8080"
	totpPeriod  = 30
)

var totpOpts = totp.ValidateOpts{Period: totpPeriod, Digits: otp.DigitsSix, Algorithm: otp.AlgorithmSHA1}

// isMFAScenario reports whether the scenario signs in with a second factor
// (or a passkey alone); those also measure a plain login on the same
// server for the ratio.
func isMFAScenario(s string) bool {
	return s == "login-totp" || s == "login-passkey-2fa" || s == "passkey"
}

// factorUsers is how many users carry the scenario's factor: -users, or
// enough that no virtual user runs out of unused (user, TOTP step) pairs.
// A TOTP step's code works once per user, so in 30 s a user finishes at
// most one TOTP sign-in; 6,000 users allow 200 sign-ins/s, twice the
// argon2id bound of a 2-core machine. Passkey users need no such margin
// but get the same count, so the store holds as many rows in each case.
func factorUsers(o options) int {
	if o.users > 0 {
		return o.users
	}
	return 6000
}

// factorSeed is what the started server's store gets beside the users:
// for user i (bench-user-%06d), a TOTP secret or a passkey.
type factorSeed struct {
	totpSecrets []string // base32, as an authenticator app holds it
	passkeys    []passkeyRow
	// ssoFrom > 0 makes the virtual users' seeded sessions (seed's
	// vuTokens) from this index on browsers' single-sign-on sessions
	// (transport sso), whose tokens are baton_sso cookies.
	ssoFrom int
}

type passkeyRow struct {
	user         int
	credentialID []byte
	publicKey    []byte // COSE_Key, as go-webauthn stores it
}

// mfaRig is the client side of the factors: secrets and authenticators,
// indexed by user.
type mfaRig struct {
	scenario string
	users    int
	secrets  []string
	auths    []*webauthntest.Authenticator
}

// newMFARig makes the factors of n users for the scenario. Each passkey
// user gets an authenticator of its own: a usernameless sign-in lets the
// authenticator choose among its credentials for the RP ID (the newest),
// so a shared one would always answer for the same user; and one key per
// user is what a real population looks like to the server (n public keys
// parsed, not one).
func newMFARig(scenario string, n int) (*mfaRig, *factorSeed, error) {
	m := &mfaRig{scenario: scenario, users: n}
	seed := &factorSeed{}
	switch scenario {
	case "login-totp":
		m.secrets = make([]string, n)
		for i := range n {
			var raw [20]byte // RFC 4226 §4: 160 bits for HMAC-SHA-1
			if _, err := rand.Read(raw[:]); err != nil {
				return nil, nil, err
			}
			m.secrets[i] = base32.StdEncoding.WithPadding(base32.NoPadding).EncodeToString(raw[:])
		}
		seed.totpSecrets = m.secrets
	case "login-passkey-2fa", "passkey":
		m.auths = make([]*webauthntest.Authenticator, n)
		for i := range n {
			a := webauthntest.New(webauthntest.Options{Alg: webauthntest.AlgES256, Origin: benchOrigin, UV: true})
			if _, err := a.Register(creationOptions(i)); err != nil {
				return nil, nil, fmt.Errorf("authenticator of user %d: %w", i, err)
			}
			c := a.Credential()
			m.auths[i] = a
			seed.passkeys = append(seed.passkeys, passkeyRow{user: i, credentialID: c.ID, publicKey: c.COSEKey})
		}
	}
	return m, seed, nil
}

// creationOptions are the registration options the server would send user
// i: the authenticator makes its credential from them without the server,
// and the row goes in by SQL.
func creationOptions(i int) []byte {
	var chal [32]byte
	_, _ = rand.Read(chal[:])
	uid := userID(i)
	b, _ := json.Marshal(map[string]any{
		"rp":               map[string]string{"id": benchRPID, "name": "baton"},
		"user":             map[string]string{"id": base64.RawURLEncoding.EncodeToString([]byte(uid)), "name": userName(i), "displayName": userName(i)},
		"challenge":        base64.RawURLEncoding.EncodeToString(chal[:]),
		"pubKeyCredParams": []map[string]any{{"type": "public-key", "alg": webauthntest.AlgES256}},
	})
	return b
}

// userID is the id of seeded user i (see seedSQLite).
func userID(i int) string { return fmt.Sprintf("bench-user-%06d", i) }

// assignUsers gives virtual user v of c the factor users v, v+c, v+2c, …:
// no two virtual users ever sign in as the same user at once, so a
// passkey's signature counter always arrives in order, and each keeps its
// own record of which TOTP step it used every user in.
func (m *mfaRig) assignUsers(vus []*vu) { assignUsers(vus, m.users) }

// assignUsers gives virtual user v of c the users v, v+c, v+2c, … below
// users, in round-robin order from the first.
func assignUsers(vus []*vu, users int) {
	c := len(vus)
	for _, v := range vus {
		v.pool = v.pool[:0]
		for u := v.id; u < users; u += c {
			v.pool = append(v.pool, u)
		}
		v.lastStep = make([]int64, len(v.pool))
		v.next = 0
	}
}

var errNoFreshUser = errors.New("no user left unused in this TOTP step: raise -users")

// nextUser returns v's next user in round-robin order; for TOTP, the next
// one not used in the current step (and marks it used).
func (v *vu) nextUser(step int64) (int, error) {
	for range len(v.pool) {
		k := v.next
		v.next = (v.next + 1) % len(v.pool)
		if step == 0 || v.lastStep[k] < step {
			if step != 0 {
				v.lastStep[k] = step
			}
			return v.pool[k], nil
		}
	}
	return 0, errNoFreshUser
}

// step returns the scenario's step.
func (m *mfaRig) step() step {
	switch m.scenario {
	case "login-totp":
		return m.loginTOTP
	case "login-passkey-2fa":
		return m.loginPasskey2FA
	}
	return m.passkeyLogin
}

type mfaRequired struct {
	Error    string `json:"error"`
	MFAToken string `json:"mfa_token"`
}

type flowResponse struct {
	FlowID  string          `json:"flow_id"`
	Options json.RawMessage `json:"options"`
}

// passwordStep is the first step: a 403 mfa_required with an mfa_token.
// Anything else fails the op (a 200 too: the second factor was skipped).
func (t *target) passwordStep(ctx context.Context, v *vu, user int) (string, int, error) {
	v.stage = "password"
	status, err := t.do(ctx, v, http.MethodPost, "/v1/login",
		`{"username":`+jsonString(userName(user))+`,"password":`+jsonString(benchPassword)+`}`, "")
	if err != nil || status != http.StatusForbidden {
		if err == nil && status < 300 {
			return "", 0, fmt.Errorf("password login of %s answered %d without asking for a second factor", userName(user), status)
		}
		return "", status, err
	}
	var r mfaRequired
	if json.Unmarshal(v.buf.Bytes(), &r) != nil || r.Error != "mfa_required" || r.MFAToken == "" {
		return "", status, nil
	}
	return r.MFAToken, status, nil
}

// finish posts the last request of a sign-in, which must answer 200
// with a token response.
func (t *target) finish(ctx context.Context, v *vu, stage, path, body string) (int, error) {
	v.stage = stage
	status, err := t.do(ctx, v, http.MethodPost, path, body, "")
	if err != nil || status != http.StatusOK {
		return status, err
	}
	var tr tokenResponse
	if json.Unmarshal(v.buf.Bytes(), &tr) != nil || tr.AccessToken == "" || tr.RefreshToken == "" {
		return 0, fmt.Errorf("%s: 200 without a token response", v.stage)
	}
	v.at, v.rt = tr.AccessToken, tr.RefreshToken
	v.stage = ""
	return status, nil
}

func (m *mfaRig) loginTOTP(ctx context.Context, t *target, v *vu) (op, int, error) {
	now := time.Now()
	user, err := v.nextUser(now.Unix() / totpPeriod)
	if err != nil {
		// Wait for the next step rather than spin; the error counts.
		time.Sleep(time.Until(time.Unix((now.Unix()/totpPeriod+1)*totpPeriod, 0)))
		v.stage = "user choice"
		return opLoginTOTP, 0, err
	}
	mfaToken, status, err := t.passwordStep(ctx, v, user)
	if mfaToken == "" {
		return opLoginTOTP, status, err
	}
	// The code of the step the user was taken in: when the password step
	// crossed into the next one, the server still takes the previous.
	code, err := totp.GenerateCodeCustom(m.secrets[user], now, totpOpts)
	if err != nil {
		return opLoginTOTP, 0, err
	}
	status, err = t.finish(ctx, v, "totp", "/v1/login/mfa",
		`{"mfa_token":`+jsonString(mfaToken)+`,"totp":`+jsonString(code)+`}`)
	return opLoginTOTP, status, err
}

// passkeyOptions asks for request options (with mfaToken for a second
// step, without for a usernameless sign-in).
func (t *target) passkeyOptions(ctx context.Context, v *vu, mfaToken string) (*flowResponse, int, error) {
	v.stage = "passkey options"
	body := `{}`
	if mfaToken != "" {
		body = `{"mfa_token":` + jsonString(mfaToken) + `}`
	}
	status, err := t.do(ctx, v, http.MethodPost, "/v1/passkeys/login/options", body, "")
	if err != nil || status != http.StatusOK {
		return nil, status, err
	}
	var f flowResponse
	if json.Unmarshal(v.buf.Bytes(), &f) != nil || f.FlowID == "" || len(f.Options) == 0 {
		return nil, 0, errors.New("passkey options: 200 without flow_id and options")
	}
	return &f, status, nil
}

// assertion asks for request options (for the second step of mfaToken,
// or usernameless without one) and has user's authenticator answer them.
func (m *mfaRig) assertion(ctx context.Context, t *target, v *vu, user int, mfaToken string) (string, []byte, int, error) {
	f, status, err := t.passkeyOptions(ctx, v, mfaToken)
	if f == nil {
		return "", nil, status, err
	}
	a, err := m.auths[user].Login(f.Options)
	if err != nil {
		return "", nil, 0, fmt.Errorf("authenticator: %w", err)
	}
	return f.FlowID, a, status, nil
}

func (m *mfaRig) loginPasskey2FA(ctx context.Context, t *target, v *vu) (op, int, error) {
	user, _ := v.nextUser(0)
	mfaToken, status, err := t.passwordStep(ctx, v, user)
	if mfaToken == "" {
		return opLoginPasskey2FA, status, err
	}
	_, assertion, status, err := m.assertion(ctx, t, v, user, mfaToken)
	if assertion == nil {
		return opLoginPasskey2FA, status, err
	}
	status, err = t.finish(ctx, v, "passkey second step", "/v1/login/mfa",
		`{"mfa_token":`+jsonString(mfaToken)+`,"passkey":`+string(assertion)+`}`)
	return opLoginPasskey2FA, status, err
}

func (m *mfaRig) passkeyLogin(ctx context.Context, t *target, v *vu) (op, int, error) {
	user, _ := v.nextUser(0)
	flowID, assertion, status, err := m.assertion(ctx, t, v, user, "")
	if assertion == nil {
		return opPasskey, status, err
	}
	status, err = t.finish(ctx, v, "passkey sign-in", "/v1/passkeys/login",
		`{"flow_id":`+jsonString(flowID)+`,"credential":`+string(assertion)+`}`)
	return opPasskey, status, err
}

// seedFactors inserts the factor rows of f, after seed made the users and
// before the server starts. TOTP rows are confirmed (enabled_at set, no
// pending secret); passkey rows carry what a registration through the API
// would store for this authenticator: its COSE public key, counter 0, the
// zero AAGUID of "none" attestation, and flags 1 (user verified).
func seedFactors(ctx context.Context, b *backend, f *factorSeed) error {
	if f == nil || (len(f.totpSecrets) == 0 && len(f.passkeys) == 0 && f.ssoFrom == 0) {
		return nil
	}
	// The session ids are the tool's own, zero-padded: their order is
	// their index's.
	ssoFrom, _ := vuSession(f.ssoFrom, 1)
	markSSO := `UPDATE sessions SET transport = 'sso' WHERE id LIKE 'bench-sess-%' AND id >= '` + ssoFrom + `'`
	now := time.Now().UTC().Truncate(time.Microsecond)
	aaguid := make([]byte, 16)
	if b.store == "postgres" {
		conn, err := pgx.Connect(ctx, b.pgURL)
		if err != nil {
			return err
		}
		defer conn.Close(context.Background())
		ids, secrets := make([]string, len(f.totpSecrets)), make([][]byte, len(f.totpSecrets))
		for i, s := range f.totpSecrets {
			ids[i], secrets[i] = userID(i), []byte(s)
		}
		if _, err := conn.Exec(ctx, `INSERT INTO totp (user_id, secret, enabled_at)
			SELECT u, s, $3::timestamptz FROM unnest($1::text[], $2::bytea[]) AS t(u, s)`, ids, secrets, now); err != nil {
			return fmt.Errorf("seed totp: %w", err)
		}
		pids, uids := make([]string, len(f.passkeys)), make([]string, len(f.passkeys))
		cids, keys := make([][]byte, len(f.passkeys)), make([][]byte, len(f.passkeys))
		for i, p := range f.passkeys {
			pids[i], uids[i], cids[i], keys[i] = fmt.Sprintf("bench-pk-%06d", p.user), userID(p.user), p.credentialID, p.publicKey
		}
		if _, err := conn.Exec(ctx, `INSERT INTO passkeys (id, user_id, credential_id, public_key, sign_count, aaguid, transports, flags, name, created_at)
			SELECT id, u, c, k, 0, $5::bytea, '', 1, 'bench', $6::timestamptz FROM unnest($1::text[], $2::text[], $3::bytea[], $4::bytea[]) AS t(id, u, c, k)`,
			pids, uids, cids, keys, aaguid, now); err != nil {
			return fmt.Errorf("seed passkeys: %w", err)
		}
		if f.ssoFrom > 0 {
			if _, err := conn.Exec(ctx, markSSO); err != nil {
				return fmt.Errorf("seed single-sign-on sessions: %w", err)
			}
		}
		_, err = conn.Exec(ctx, `ANALYZE totp, passkeys`)
		return err
	}
	db, tx, err := beginSeedSQLite(ctx, filepath.Join(b.dataDir, "baton.db"))
	if err != nil {
		return err
	}
	defer db.Close()
	defer tx.Rollback()
	us := now.UnixMicro()
	for i, s := range f.totpSecrets {
		if _, err := tx.ExecContext(ctx, `INSERT INTO totp (user_id, secret, enabled_at) VALUES (?, ?, ?)`, userID(i), []byte(s), us); err != nil {
			return fmt.Errorf("seed totp: %w", err)
		}
	}
	for _, p := range f.passkeys {
		if _, err := tx.ExecContext(ctx, `INSERT INTO passkeys (id, user_id, credential_id, public_key, sign_count, aaguid, transports, flags, name, created_at)
			VALUES (?, ?, ?, ?, 0, ?, '', 1, 'bench', ?)`,
			fmt.Sprintf("bench-pk-%06d", p.user), userID(p.user), p.credentialID, p.publicKey, aaguid, us); err != nil {
			return fmt.Errorf("seed passkeys: %w", err)
		}
	}
	if f.ssoFrom > 0 {
		if _, err := tx.ExecContext(ctx, markSSO); err != nil {
			return fmt.Errorf("seed single-sign-on sessions: %w", err)
		}
	}
	return commitSeedSQLite(ctx, db, tx)
}

// runMFA runs a second-factor scenario o.runs times on one server, each
// run followed by a plain login run by c users without a factor (on the
// same server, so the ratio compares like with like) and a hello run.
func runMFA(ctx context.Context, o options) (*scenarioResult, error) {
	n := factorUsers(o)
	if n < o.c {
		return nil, fmt.Errorf("-users %d: want at least one per virtual user (-c %d)", n, o.c)
	}
	m, factors, err := newMFARig(o.scenario, n)
	if err != nil {
		return nil, err
	}
	// Users 0..n-1 have the factor; n..n+c-1 are the plain login's.
	r, err := newRig(ctx, o, n+o.c, nil, factors)
	if err != nil {
		return nil, err
	}
	defer r.close()
	res := &scenarioResult{o: o}
	vus, err := setupVUs(ctx, r.target(), o.c, n, nil, false)
	if err != nil {
		return nil, err
	}
	m.assignUsers(vus)
	plain := make([]*vu, o.c)
	for i := range plain {
		plain[i] = &vu{id: i, user: userName(n + i)}
	}
	if res.runs, err = r.runBeside(ctx, vus, m.step(), plain, opLogin); err != nil {
		return nil, err
	}
	return res, nil
}
