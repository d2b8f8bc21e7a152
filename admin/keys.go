package admin

import (
	"context"
	"fmt"
	"time"

	"github.com/batonauth/baton"
	"github.com/batonauth/baton/seal"
	"github.com/batonauth/baton/session"
	"github.com/batonauth/baton/token"
)

// Key states, as `baton keys list` shows them.
const (
	KeySigning   = "signing"   // the signing key of its use a server picks at its next key reload
	KeyPending   = "pending"   // published, signs once ActivateAt has passed
	KeyPublished = "published" // active but superseded by a newer key; still published
	KeyRetired   = "retired"   // no longer signs; published until RemoveAfter
	KeySecret    = "secret"    // an HMAC key (rotation, csrf); never published
)

// KeyInfo describes a key without its secret.
type KeyInfo struct {
	ID         string    `json:"id"`
	Use        string    `json:"use"`
	Algorithm  string    `json:"algorithm"`
	State      string    `json:"state"`
	CreatedAt  time.Time `json:"created_at"`
	ActivateAt time.Time `json:"activate_at"`
	RetiredAt  time.Time `json:"retired_at,omitzero"`
	// RemoveAfter is when a retired signing key leaves the JWKS: every
	// token it can have signed has expired by then.
	RemoveAfter time.Time `json:"remove_after,omitzero"`
}

// RetiredKeyKeep is how long a retired signing key stays published: the
// longest access-token lifetime ever configured on the store (a token
// signed before BATON_ACCESS_TTL was lowered lives that long) and the
// verification leeway, plus one key-reload interval, because a server
// keeps signing with a key retired by another process until its next
// reload. The ID-token keys keep as long: an ID token lives no longer than
// the access token issued with it.
func RetiredKeyKeep(svc *session.Service) time.Duration {
	cfg := svc.Config()
	return svc.MaxAccessTTL() + cfg.Leeway + cfg.KeyReloadInterval
}

// Keys lists every key, oldest first, with its state at now.
func (a *Admin) Keys(ctx context.Context) ([]KeyInfo, error) {
	keys, err := a.store.Keys(ctx)
	if err != nil {
		return nil, err
	}
	return describeKeys(keys, a.svc.Now(), RetiredKeyKeep(a.svc)), nil
}

func describeKeys(keys []*baton.Key, now time.Time, keep time.Duration) []KeyInfo {
	out := make([]KeyInfo, 0, len(keys))
	for _, k := range keys {
		ki := KeyInfo{ID: k.ID, Use: k.Use, Algorithm: k.Algorithm, CreatedAt: k.CreatedAt,
			ActivateAt: k.ActivateAt, RetiredAt: k.RetiredAt}
		switch {
		case !token.IsSigningUse(k.Use):
			ki.State = KeySecret
			if !k.RetiredAt.IsZero() {
				ki.State = KeyRetired
			}
		case !k.RetiredAt.IsZero():
			ki.State = KeyRetired
			ki.RemoveAfter = k.RetiredAt.Add(keep)
		case k == token.SigningKey(keys, k.Use, now):
			ki.State = KeySigning
		case k.ActivateAt.After(now):
			ki.State = KeyPending
		default:
			ki.State = KeyPublished
		}
		out = append(out, ki)
	}
	return out
}

// RotateKey inserts a new Ed25519 signing key (RotateKeyFor with EdDSA).
func (a *Admin) RotateKey(ctx context.Context, prepublish time.Duration) (KeyInfo, error) {
	return a.RotateKeyFor(ctx, baton.AlgEdDSA, prepublish)
}

// RotateKeyFor inserts a new signing key for alg — baton.AlgEdDSA (access
// tokens and EdDSA ID tokens), AlgRS256 or AlgES256 (ID tokens) — that is
// published at once (servers publish it at their next key reload) and
// starts signing prepublish later, at the first key reload after that.
// prepublish should exceed the JWKS cache lifetime (max-age=300) plus the
// key-reload interval, so resource servers and relying parties have
// fetched the key before any token uses it. EInvalidRequest for another
// algorithm.
func (a *Admin) RotateKeyFor(ctx context.Context, alg string, prepublish time.Duration) (KeyInfo, error) {
	if prepublish < 0 {
		return KeyInfo{}, baton.Errorf(baton.EInvalidRequest, "the pre-publication delay must not be negative")
	}
	now := a.svc.Now()
	// AddKey seals the key with the master key when one is set.
	k, err := a.svc.AddKey(ctx, alg, now.Add(prepublish))
	if err != nil {
		return KeyInfo{}, err
	}
	a.emit(ctx, session.Event{Type: EventKeyRotate, Outcome: session.OutcomeOK,
		Detail: fmt.Sprintf("kid=%s alg=%s activate_at=%s", k.ID, k.Algorithm, fmtTime(k.ActivateAt))})
	keys, err := a.store.Keys(ctx)
	if err != nil {
		return KeyInfo{}, err
	}
	for _, ki := range describeKeys(keys, now, RetiredKeyKeep(a.svc)) {
		if ki.ID == k.ID {
			return ki, nil
		}
	}
	return KeyInfo{}, baton.Errorf(baton.EInternal, "the new key %s vanished", k.ID)
}

// RetireKey retires a signing key (of access tokens or ID tokens): it
// stops signing (at each server's next key reload) and stays published
// until RemoveAfter, when housekeeping deletes it (PurgeRetiredKeys).
// Retiring the last unretired key of its use, or leaving only keys of that
// use that are not active yet, is refused unless force: rotate first. (An
// ID-token key retired with force is replaced by a new one, active at
// once, at the next need.) ENotFound for an unknown id or a key that is
// not a signing key.
func (a *Admin) RetireKey(ctx context.Context, id string, force bool) (KeyInfo, error) {
	keys, err := a.store.Keys(ctx)
	if err != nil {
		return KeyInfo{}, err
	}
	now := a.svc.Now()
	var target *baton.Key
	for _, k := range keys {
		if k.ID == id && token.IsSigningUse(k.Use) {
			target = k
		}
	}
	if target == nil {
		return KeyInfo{}, baton.Errorf(baton.ENotFound, "no signing key %q", id)
	}
	others, activeOthers := 0, 0
	for _, k := range keys {
		if k.Use != target.Use || k == target {
			continue
		}
		if k.RetiredAt.IsZero() {
			others++
			if !k.ActivateAt.After(now) {
				activeOthers++
			}
		}
	}
	if !target.RetiredAt.IsZero() {
		return KeyInfo{}, baton.Errorf(baton.EConflict, "key %s is already retired", id)
	}
	if !force {
		if others == 0 {
			return KeyInfo{}, baton.Errorf(baton.EInvalidRequest, "key %s is the only %s signing key: run `baton keys rotate --alg %s` first", id, target.Algorithm, target.Algorithm)
		}
		if activeOthers == 0 {
			return KeyInfo{}, baton.Errorf(baton.EInvalidRequest, "no other signing key is active yet, so the pending one would sign before resource servers fetched it: wait for its activation (or use --force)")
		}
	}
	if err := a.store.RetireKey(ctx, id, now); err != nil {
		return KeyInfo{}, err
	}
	if err := a.svc.ReloadKeys(ctx); err != nil {
		return KeyInfo{}, err
	}
	keep := RetiredKeyKeep(a.svc)
	a.emit(ctx, session.Event{Type: EventKeyRetire, Outcome: session.OutcomeOK,
		Detail: fmt.Sprintf("kid=%s remove_after=%s", id, fmtTime(now.Add(keep)))})
	target.RetiredAt = now
	return describeKeys([]*baton.Key{target}, now, keep)[0], nil
}

// PurgeRetiredKeys deletes the signing keys (of access tokens and ID
// tokens) retired more than keep before now — every token they signed has
// expired — so they leave the JWKS at
// each server's next key reload. It returns the ids it deleted. HMAC keys
// are never deleted here.
func PurgeRetiredKeys(ctx context.Context, store baton.KeyStore, now time.Time, keep time.Duration) ([]string, error) {
	keys, err := store.Keys(ctx)
	if err != nil {
		return nil, err
	}
	var gone []string
	for _, k := range keys {
		if !token.IsSigningUse(k.Use) || k.RetiredAt.IsZero() || !now.After(k.RetiredAt.Add(keep)) {
			continue
		}
		if err := store.DeleteKey(ctx, k.ID); err != nil && baton.ErrorCode(err) != baton.ENotFound {
			return gone, fmt.Errorf("delete retired key %s: %w", k.ID, err)
		}
		gone = append(gone, k.ID)
	}
	return gone, nil
}

// PurgeRetiredKeys deletes this store's expired retired signing keys,
// reports each deletion, and reloads the keyring when one went.
func (a *Admin) PurgeRetiredKeys(ctx context.Context) ([]string, error) {
	gone, err := PurgeRetiredKeys(ctx, a.store, a.svc.Now(), RetiredKeyKeep(a.svc))
	for _, id := range gone {
		a.emit(ctx, session.Event{Type: EventKeyDelete, Outcome: session.OutcomeOK, Detail: "kid=" + id})
	}
	if len(gone) > 0 {
		if rerr := a.svc.ReloadKeys(ctx); rerr != nil && err == nil {
			err = rerr
		}
	}
	return gone, err
}

// ResealKeys re-seals every stored key under newMaster for a master-key
// rotation: keys sealed under oldMaster (or stored in plaintext) are sealed
// under newMaster, all in one transaction; a key that neither master key
// opens fails the whole call (seal.ErrWrongMasterKey) and nothing changes.
// It returns how many keys it changed, and reports the attempt to
// opt.Observer (the audit log), failed or not.
//
// It works on the store alone, because the session engine cannot start
// while the stored keys and its master key disagree. Servers still running
// with oldMaster keep their keys in memory but fail every key reload until
// they restart with newMaster.
func ResealKeys(ctx context.Context, store baton.KeyStore, oldMaster, newMaster []byte, opt Options) (int, error) {
	opt = opt.withDefaults()
	n, err := seal.ResealStored(ctx, store, oldMaster, newMaster)
	e := session.Event{Type: EventKeyReseal, Outcome: session.OutcomeOK, Detail: fmt.Sprintf("resealed=%d", n)}
	if err != nil {
		e.Outcome, e.Detail = session.OutcomeFailed, "nothing changed"
	}
	opt.emit(ctx, e)
	return n, err
}
