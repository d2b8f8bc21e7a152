// Package session is baton's session engine: registration, login, refresh
// with rotation and reuse detection, logout, freshness and revocation. It
// owns the rules of docs/design.md; storage is a baton.Store, tokens
// come from package token and password hashing from package password. It
// knows nothing of HTTP.
package session

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/batonauth/baton"
	"github.com/batonauth/baton/password"
	"github.com/batonauth/baton/seal"
	"github.com/batonauth/baton/token"
	"github.com/go-webauthn/webauthn/webauthn"
)

// Config configures a Service. Zero durations take the contract's defaults
// except ReuseGrace and FreshTTL, where zero has a meaning of its own.
type Config struct {
	Issuer   string
	Audience string // defaults to Issuer

	AccessTTL  time.Duration // default 5m
	RefreshTTL time.Duration // absolute session lifetime, default 720h
	IdleTTL    time.Duration // sliding idle lifetime, default 168h
	// ReuseGrace is how long after its rotation a spent refresh token still
	// gets its successor again instead of revoking the session; 0 disables.
	ReuseGrace time.Duration
	// FreshTTL is how long after a password verification a fresh token
	// stays fresh; 0 means for the token's whole life.
	FreshTTL time.Duration
	// RowRefreshTokens makes new sessions keep their refresh tokens one
	// row each, in the form from before tokens named their session, which
	// instances of an older baton can refresh: for the length of a rolling
	// upgrade of a deployment that shares one database.
	RowRefreshTokens bool
	// Leeway is the clock skew tolerated on exp and nbf (default 5s).
	Leeway time.Duration
	// MaxSessionsPerUser bounds a user's live sessions: a login beyond it
	// revokes the least recently used. 0: unbounded.
	MaxSessionsPerUser int

	// VerifyTTL is how long a verification link works (default 72h).
	VerifyTTL time.Duration
	// ResetTTL is how long a password-reset link works (default 30m).
	ResetTTL time.Duration
	// RequireVerifiedEmail refuses a login with the right password while
	// the user's address is not verified (EEmailNotVerified).
	RequireVerifiedEmail bool
	// LinkTemplates maps a link purpose (baton.Link*) to its URL with
	// {token}; the default for verification is
	// <issuer>/account/verify-email#token={token}.
	LinkTemplates map[string]string
	// WebAuthn is the relying party of passkeys; passkeys are off when
	// its RPID is empty.
	WebAuthn WebAuthnConfig
	// TOTPIssuer names the service in authenticator apps (the otpauth
	// URI's issuer); default "baton".
	TOTPIssuer string
	// MailFrom is the sender address, whose domain ends every Message-ID.
	MailFrom string
	// WakeMail, when set, is called after a message is put in the outbox
	// (the mail dispatcher's Wake).
	WakeMail func()
	// AllowSend, when set, is asked before a message goes to an address
	// (canonical form); false holds it back (the per-recipient limit).
	AllowSend func(ctx context.Context, canonicalEmail string) bool

	// Hasher hashes passwords; required.
	Hasher *password.Hasher
	// MasterKey, when set (32 bytes), seals the keys the service stores
	// (AES-256-GCM) and opens sealed ones.
	MasterKey []byte
	// Now is the clock; tests inject a fake one. Default time.Now.
	Now func() time.Time
	// Logger receives structured events; default slog.Default().
	Logger *slog.Logger
	// Observer, when set, is told of every security event (for metrics and
	// the audit log).
	Observer func(Event)

	// SyncInterval is how often revocations made by other processes are
	// caught up from the store (default 500ms).
	SyncInterval time.Duration
	// KeyReloadInterval is how often keys are re-read from the store, to
	// pick up rotations made by another instance or the admin CLI (default
	// 30s).
	KeyReloadInterval time.Duration
}

func (c *Config) setDefaults() error {
	if c.Issuer == "" {
		return errors.New("session: Config.Issuer is required")
	}
	if c.Hasher == nil {
		return errors.New("session: Config.Hasher is required")
	}
	if c.Audience == "" {
		c.Audience = c.Issuer
	}
	def := func(d *time.Duration, v time.Duration) {
		if *d <= 0 {
			*d = v
		}
	}
	def(&c.AccessTTL, 5*time.Minute)
	def(&c.RefreshTTL, 720*time.Hour)
	def(&c.IdleTTL, 168*time.Hour)
	def(&c.Leeway, 5*time.Second)
	def(&c.SyncInterval, 500*time.Millisecond)
	def(&c.KeyReloadInterval, 30*time.Second)
	def(&c.VerifyTTL, 72*time.Hour)
	def(&c.ResetTTL, 30*time.Minute)
	base := strings.TrimSuffix(c.Issuer, "/")
	links := map[string]string{
		baton.LinkVerifyEmail:   base + "/account/verify-email#token={token}",
		baton.LinkChangeEmail:   base + "/account/verify-email#token={token}",
		baton.LinkResetPassword: base + "/account/reset-password#token={token}",
	}
	for k, v := range c.LinkTemplates {
		links[k] = v
	}
	c.LinkTemplates = links
	if c.TOTPIssuer == "" {
		c.TOTPIssuer = "baton"
	}
	if c.MailFrom == "" {
		c.MailFrom = "noreply@localhost"
	}
	if c.ReuseGrace < 0 || c.FreshTTL < 0 {
		return errors.New("session: ReuseGrace and FreshTTL must not be negative")
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	return nil
}

// Client describes who is calling, for session records and the audit log.
type Client struct {
	IP        string
	UserAgent string
}

// Service is the session engine. It is safe for concurrent use.
type Service struct {
	cfg     Config
	store   baton.Store
	keys    *token.Keyring
	revoked *revokedSet
	// profiles caches what GET /v1/me shows.
	profiles *profileCache
	// verified caches verified access tokens.
	verified *verifiedCache
	// webauthn runs the passkey ceremonies; nil when passkeys are off.
	webauthn *webauthn.WebAuthn
	// keyIDs is the key set last loaded, to notice changes.
	keyIDs atomic.Pointer[string]
	// reloadMu serialises ReloadKeys, so a reload that read the store
	// earlier never replaces what a later one loaded.
	reloadMu sync.Mutex
	// ids signs ID tokens and logout tokens; its RSA and P-256 keys are
	// made on first need (IDSigner), under idKeysMu, which also guards
	// unstoredIDKeys: keys made whose storing failed, by algorithm.
	ids            *token.IDSigner
	idKeysMu       sync.Mutex
	unstoredIDKeys map[string]*baton.Key

	// secrets holds the HMAC keys read from the store.
	secrets atomic.Pointer[secrets]
	// revCursor is the Seq of the last revocation-feed entry applied.
	revCursor atomic.Int64
	// maxAccessTTL is the longest access-token lifetime any instance on
	// this store was ever configured with (see revokedUntil).
	maxAccessTTL atomic.Int64

	stopOnce sync.Once
	stop     chan struct{}
	done     sync.WaitGroup
}

type secrets struct {
	rotation []byte
	csrf     []byte
}

// New builds a Service on store: it creates the server's keys on first
// start and loads the revoked-session set. Call Start to run the background
// work (revocation sync, key reload) and Close to stop it.
func New(ctx context.Context, store baton.Store, cfg Config) (*Service, error) {
	if err := cfg.setDefaults(); err != nil {
		return nil, err
	}
	s := &Service{
		cfg:            cfg,
		store:          store,
		keys:           token.NewKeyring(token.Options{Issuer: cfg.Issuer, Audience: cfg.Audience, Leeway: cfg.Leeway}),
		ids:            token.NewIDSigner(),
		unstoredIDKeys: map[string]*baton.Key{},
		revoked:        newRevokedSet(),
		profiles:       newProfileCache(100_000),
		verified:       newVerifiedCache(50_000),
		stop:           make(chan struct{}),
	}
	wa, err := newWebAuthn(cfg.WebAuthn)
	if err != nil {
		return nil, err
	}
	s.webauthn = wa
	// Keys written before a master key was configured are sealed now.
	if n, err := seal.SealStored(ctx, store, cfg.MasterKey); err != nil {
		return nil, fmt.Errorf("seal stored keys: %w", err)
	} else if n > 0 {
		cfg.Logger.Warn("sealed keys that were stored in plaintext with BATON_MASTER_KEY", "keys", n)
	}
	if err := s.ensureKeys(ctx); err != nil {
		return nil, err
	}
	if err := s.raiseMaxAccessTTL(ctx); err != nil {
		return nil, err
	}
	if err := s.ReloadKeys(ctx); err != nil {
		return nil, err
	}
	if err := s.SyncRevocations(ctx); err != nil {
		return nil, fmt.Errorf("load revocations: %w", err)
	}
	return s, nil
}

// Keyring returns the keyring that signs and verifies access tokens (for
// the JWKS endpoint).
func (s *Service) Keyring() *token.Keyring { return s.keys }

// Config returns the effective configuration.
func (s *Service) Config() Config { return s.cfg }

// Now returns the service clock's current time, in UTC with microsecond
// precision (what every store keeps).
func (s *Service) Now() time.Time { return s.cfg.Now().UTC().Truncate(time.Microsecond) }

// ensureKeys creates the keys every server needs at once: the Ed25519
// signing key and the HMAC keys. The ID-token keys wait for IDSigner.
func (s *Service) ensureKeys(ctx context.Context) error {
	now := s.Now()
	sig, err := token.NewSigningKey(now, now)
	if err != nil {
		return err
	}
	if err := s.ensureKey(ctx, sig); err != nil {
		return err
	}
	for _, use := range []string{baton.KeyUseRotation, baton.KeyUseCSRF} {
		k, err := token.NewSecretKey(use, now)
		if err != nil {
			return err
		}
		if err := s.ensureKey(ctx, k); err != nil {
			return err
		}
	}
	return nil
}

// ensureKey stores k, sealed with the master key, unless the store has an
// unretired key of its use (baton.KeyStore.EnsureKey, atomic across
// processes).
func (s *Service) ensureKey(ctx context.Context, k *baton.Key) error {
	sealed, err := seal.Seal(s.cfg.MasterKey, k)
	if err != nil {
		return err
	}
	if _, err := s.store.EnsureKey(ctx, sealed); err != nil {
		return fmt.Errorf("ensure %s key: %w", k.Use, err)
	}
	return nil
}

// ReloadKeys re-reads the keys from the store: the access tokens' keyring
// and the ID signer both, so keys rotated by another instance or the admin
// CLI show up in each.
func (s *Service) ReloadKeys(ctx context.Context) error {
	s.reloadMu.Lock()
	defer s.reloadMu.Unlock()
	keys, err := s.store.Keys(ctx)
	if err != nil {
		return fmt.Errorf("load keys: %w", err)
	}
	for i, k := range keys {
		if keys[i], err = seal.Open(s.cfg.MasterKey, k); err != nil {
			return fmt.Errorf("load key %s: %w", k.ID, err)
		}
	}
	// The keyring publishes before the ID signer signs: a new key is in
	// the JWKS by the time an ID token names it.
	now := s.Now()
	if err := s.keys.SetKeys(keys, now); err != nil {
		return fmt.Errorf("load keys: %w", err)
	}
	if err := s.ids.SetKeys(keys, now); err != nil {
		return fmt.Errorf("load keys: %w", err)
	}
	// A changed key set empties the verified-token cache, so tokens of a
	// removed key stop working at once, as they would without the cache.
	var ids strings.Builder
	for _, k := range keys {
		ids.WriteString(k.ID)
		ids.WriteByte(',')
	}
	if idList := ids.String(); s.keyIDs.Load() == nil || *s.keyIDs.Load() != idList {
		s.verified.reset()
		s.keyIDs.Store(&idList)
	}
	var sec secrets
	// The oldest unretired HMAC key of each use wins, so every instance
	// derives the same successors and CSRF tokens.
	for _, k := range keys {
		if !k.RetiredAt.IsZero() {
			continue
		}
		switch {
		case k.Use == baton.KeyUseRotation && sec.rotation == nil:
			sec.rotation = k.Secret
		case k.Use == baton.KeyUseCSRF && sec.csrf == nil:
			sec.csrf = k.Secret
		}
	}
	if sec.rotation == nil || sec.csrf == nil {
		return errors.New("load keys: the store has no rotation or CSRF key")
	}
	s.secrets.Store(&sec)
	return nil
}

// AddSigningKey stores a new Ed25519 signing key (AddKey with EdDSA).
func (s *Service) AddSigningKey(ctx context.Context, activateAt time.Time) (*baton.Key, error) {
	return s.AddKey(ctx, baton.AlgEdDSA, activateAt)
}

// AddKey stores a new signing key for alg: baton.AlgEdDSA (the Ed25519
// key of access tokens and EdDSA ID tokens), AlgRS256 or AlgES256 (ID
// tokens); EInvalidRequest for another. The key is sealed with the master
// key when one is configured. It is published in the JWKS at once (after
// the next key reload of each instance) and signs from activateAt on, so
// resource servers and relying parties that cache the JWKS know it before
// they meet its tokens.
func (s *Service) AddKey(ctx context.Context, alg string, activateAt time.Time) (*baton.Key, error) {
	k, err := newKey(alg, s.Now(), activateAt.UTC().Truncate(time.Microsecond))
	if err != nil {
		return nil, err
	}
	sealed, err := seal.Seal(s.cfg.MasterKey, k)
	if err != nil {
		return nil, err
	}
	if err := s.store.InsertKey(ctx, sealed); err != nil {
		return nil, err
	}
	if err := s.ReloadKeys(ctx); err != nil {
		return nil, err
	}
	return k, nil
}

// Start runs the background work until Close: catching up revocations made
// by other processes, listening for them where the store can notify,
// dropping expired revoked-set entries and reloading keys.
func (s *Service) Start() {
	ctx, cancel := context.WithCancel(context.Background())
	go func() { <-s.stop; cancel() }()
	s.every(ctx, s.cfg.SyncInterval, func(ctx context.Context) {
		if err := s.SyncRevocations(ctx); err != nil && ctx.Err() == nil {
			s.cfg.Logger.Warn("revocation sync failed", "err", err)
		}
	})
	s.every(ctx, s.cfg.KeyReloadInterval, func(ctx context.Context) {
		// Sweeping takes the set's write lock for a full pass, so it runs
		// at this slower pace; an entry kept a little past its until is
		// harmless.
		s.revoked.expire(s.Now())
		if err := s.ReloadKeys(ctx); err != nil && ctx.Err() == nil {
			s.cfg.Logger.Warn("key reload failed", "err", err)
		}
		if err := s.raiseMaxAccessTTL(ctx); err != nil && ctx.Err() == nil {
			s.cfg.Logger.Warn("access TTL sync failed", "err", err)
		}
	})
	if w, ok := s.store.(baton.RevocationWatcher); ok {
		s.done.Add(1)
		go func() {
			defer s.done.Done()
			s.watch(ctx, w)
		}()
	}
}

func (s *Service) every(ctx context.Context, d time.Duration, f func(context.Context)) {
	s.done.Add(1)
	go func() {
		defer s.done.Done()
		t := time.NewTicker(d)
		defer t.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-t.C:
				f(ctx)
			}
		}
	}()
}

// watch keeps a notification listener running; the periodic sync covers
// whatever it misses while reconnecting.
func (s *Service) watch(ctx context.Context, w baton.RevocationWatcher) {
	const minBackoff = 100 * time.Millisecond
	backoff := minBackoff
	for ctx.Err() == nil {
		started := time.Now()
		err := w.WatchRevocations(ctx, func(sid string) {
			s.revoked.add(sid, s.revokedUntil(s.Now()))
		})
		if ctx.Err() != nil {
			return
		}
		// A listener that ran for a while was healthy: start over from a
		// short wait, so rare failures never leave it waiting long.
		if time.Since(started) > time.Minute {
			backoff = minBackoff
		}
		s.cfg.Logger.Warn("revocation listener stopped; restarting", "err", err)
		select {
		case <-ctx.Done():
			return
		case <-time.After(backoff):
		}
		backoff = min(backoff*2, 5*time.Second)
	}
}

// settingMaxAccessTTL names the longest access-token lifetime, in
// microseconds, that any instance on the store was configured with.
const settingMaxAccessTTL = "max_access_ttl_us"

// raiseMaxAccessTTL records this instance's access TTL in the store and
// learns the longest one configured so far. Revocations must outlive every
// access token that could still be alive: after BATON_ACCESS_TTL is
// lowered, tokens minted under the old, longer lifetime are still out
// there, and a revoked-set entry sized by the new one would let them work
// again once it expired. Instances running together learn each other's
// lifetimes here too (at start and every key reload).
func (s *Service) raiseMaxAccessTTL(ctx context.Context) error {
	v, err := s.store.RaiseSetting(ctx, settingMaxAccessTTL, s.cfg.AccessTTL.Microseconds())
	if err != nil {
		return fmt.Errorf("record access TTL: %w", err)
	}
	s.maxAccessTTL.Store(int64(time.Duration(v) * time.Microsecond))
	return nil
}

// Close stops the background work. It does not close the store.
func (s *Service) Close() {
	s.stopOnce.Do(func() { close(s.stop) })
	s.done.Wait()
}

// SyncRevocations applies the revocation-feed entries after the cursor; it
// runs at start and periodically, and tests call it to skip the wait.
func (s *Service) SyncRevocations(ctx context.Context) error {
	const page = 1000
	for {
		now := s.Now()
		revs, err := s.store.Revocations(ctx, s.revCursor.Load(), now, page)
		if err != nil {
			return err
		}
		for _, r := range revs {
			s.revoked.add(r.SessionID, r.Until)
			s.revCursor.Store(r.Seq)
		}
		if len(revs) < page {
			return nil
		}
	}
}

// RevokedCount is the number of revoked sessions held in memory.
func (s *Service) RevokedCount() int { return s.revoked.len() }

// newID returns a random UUID (version 4) string.
func newID() string {
	var b [16]byte
	if _, err := rand.Read(b[:]); err != nil {
		panic(fmt.Sprintf("crypto/rand failed: %v", err)) // cannot happen on Linux
	}
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	var out [36]byte
	hex.Encode(out[0:8], b[0:4])
	out[8] = '-'
	hex.Encode(out[9:13], b[4:6])
	out[13] = '-'
	hex.Encode(out[14:18], b[6:8])
	out[18] = '-'
	hex.Encode(out[19:23], b[8:10])
	out[23] = '-'
	hex.Encode(out[24:], b[10:])
	return string(out[:])
}
