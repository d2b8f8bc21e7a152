package storetest

import (
	"testing"
	"time"

	"github.com/batonauth/baton"
)

// signingKey returns an unretired Ed25519 key record created at created.
func signingKey(id string, created time.Time) *baton.Key {
	return &baton.Key{
		ID:         id,
		Use:        baton.KeyUseSigning,
		Algorithm:  "EdDSA",
		Secret:     []byte("sealed-private-" + id),
		Public:     []byte("public-" + id),
		CreatedAt:  created,
		ActivateAt: created.Add(time.Hour),
	}
}

// hmacKey returns an unretired HMAC key record of use; it has no public
// part.
func hmacKey(id, use string, created time.Time) *baton.Key {
	return &baton.Key{
		ID:         id,
		Use:        use,
		Algorithm:  "HS256",
		Secret:     []byte("sealed-secret-" + id),
		CreatedAt:  created,
		ActivateAt: created,
	}
}

func mustInsertKey(t *testing.T, s baton.Store, k *baton.Key) {
	t.Helper()
	if err := s.InsertKey(ctx, k); err != nil {
		t.Fatalf("InsertKey(%q): got %v, want nil", k.ID, err)
	}
}

func mustKeys(t *testing.T, s baton.Store) []*baton.Key {
	t.Helper()
	keys, err := s.Keys(ctx)
	if err != nil {
		t.Fatalf("Keys: got %v, want nil", err)
	}
	for _, k := range keys {
		wantUTC(t, k)
	}
	return keys
}

func testInsertKeyRoundTrip(t *testing.T, s baton.Store) {
	retired := signingKey("sig-old", t0)
	retired.RetiredAt = t0.Add(24 * time.Hour)
	current := signingKey("sig-new", t0.Add(time.Hour))
	rotationKey := hmacKey("rot", baton.KeyUseRotation, t0.Add(2*time.Hour))
	csrf := hmacKey("csrf", baton.KeyUseCSRF, t0.Add(3*time.Hour))

	// Inserted newest first: Keys orders by age, not insertion.
	for _, k := range []*baton.Key{csrf, current, rotationKey, retired} {
		mustInsertKey(t, s, k)
	}
	want := []*baton.Key{retired, current, rotationKey, csrf}
	if d := diff(want, mustKeys(t, s)); d != "" {
		t.Errorf("Keys mismatch (-want +got):\n%s", d)
	}
}

func testInsertKeyConflict(t *testing.T, s baton.Store) {
	k := signingKey("k1", t0)
	mustInsertKey(t, s, k)
	wantCode(t, s.InsertKey(ctx, hmacKey("k1", baton.KeyUseCSRF, t0.Add(time.Hour))), baton.EConflict)
	if d := diff([]*baton.Key{k}, mustKeys(t, s)); d != "" {
		t.Errorf("Keys after conflicting insert mismatch (-want +got):\n%s", d)
	}
}

func testRetireKey(t *testing.T, s baton.Store) {
	k := signingKey("k1", t0)
	other := signingKey("k2", t0.Add(time.Hour))
	mustInsertKey(t, s, k)
	mustInsertKey(t, s, other)

	at := t0.Add(2 * time.Hour)
	if err := s.RetireKey(ctx, k.ID, at); err != nil {
		t.Fatalf("RetireKey: got %v, want nil", err)
	}
	// Retiring again keeps the first time: the key's publication window is
	// computed from it.
	if err := s.RetireKey(ctx, k.ID, at.Add(time.Hour)); err != nil {
		t.Fatalf("second RetireKey: got %v, want nil", err)
	}
	want := *k
	want.RetiredAt = at
	if d := diff([]*baton.Key{&want, other}, mustKeys(t, s)); d != "" {
		t.Errorf("Keys after RetireKey mismatch (-want +got):\n%s", d)
	}
}

func testRetireKeyNotFound(t *testing.T, s baton.Store) {
	wantCode(t, s.RetireKey(ctx, "nokey", t0), baton.ENotFound)
}

func testDeleteKey(t *testing.T, s baton.Store) {
	k := signingKey("k1", t0)
	other := signingKey("k2", t0.Add(time.Hour))
	mustInsertKey(t, s, k)
	mustInsertKey(t, s, other)
	if err := s.DeleteKey(ctx, k.ID); err != nil {
		t.Fatalf("DeleteKey: got %v, want nil", err)
	}
	if d := diff([]*baton.Key{other}, mustKeys(t, s)); d != "" {
		t.Errorf("Keys after DeleteKey mismatch (-want +got):\n%s", d)
	}
	wantCode(t, s.DeleteKey(ctx, k.ID), baton.ENotFound)
}

func testDeleteKeyNotFound(t *testing.T, s baton.Store) {
	wantCode(t, s.DeleteKey(ctx, "nokey"), baton.ENotFound)
}

func mustEnsureKey(t *testing.T, s baton.Store, k *baton.Key) *baton.Key {
	t.Helper()
	got, err := s.EnsureKey(ctx, k)
	if err != nil {
		t.Fatalf("EnsureKey(%q): got %v, want nil", k.ID, err)
	}
	wantUTC(t, got)
	return got
}

func testEnsureKeyEmpty(t *testing.T, s baton.Store) {
	k := signingKey("k1", t0)
	if d := diff(k, mustEnsureKey(t, s, k)); d != "" {
		t.Errorf("EnsureKey mismatch (-want +got):\n%s", d)
	}
	if d := diff([]*baton.Key{k}, mustKeys(t, s)); d != "" {
		t.Errorf("Keys mismatch (-want +got):\n%s", d)
	}
}

func testEnsureKeyExisting(t *testing.T, s baton.Store) {
	old := signingKey("old", t0)
	mustInsertKey(t, s, old)
	if d := diff(old, mustEnsureKey(t, s, signingKey("new", t0.Add(time.Hour)))); d != "" {
		t.Errorf("EnsureKey mismatch (-want +got):\n%s", d)
	}
	if d := diff([]*baton.Key{old}, mustKeys(t, s)); d != "" {
		t.Errorf("Keys mismatch (-want +got):\n%s", d)
	}
}

func testEnsureKeyOnlyRetired(t *testing.T, s baton.Store) {
	old := signingKey("old", t0)
	old.RetiredAt = t0.Add(time.Hour)
	mustInsertKey(t, s, old)
	k := signingKey("new", t0.Add(2*time.Hour))
	if d := diff(k, mustEnsureKey(t, s, k)); d != "" {
		t.Errorf("EnsureKey mismatch (-want +got):\n%s", d)
	}
	if d := diff([]*baton.Key{old, k}, mustKeys(t, s)); d != "" {
		t.Errorf("Keys mismatch (-want +got):\n%s", d)
	}
}

func testEnsureKeyOtherUse(t *testing.T, s baton.Store) {
	csrf := hmacKey("csrf", baton.KeyUseCSRF, t0)
	mustInsertKey(t, s, csrf)
	k := hmacKey("rot", baton.KeyUseRotation, t0.Add(time.Hour))
	if d := diff(k, mustEnsureKey(t, s, k)); d != "" {
		t.Errorf("EnsureKey mismatch (-want +got):\n%s", d)
	}
	if d := diff([]*baton.Key{csrf, k}, mustKeys(t, s)); d != "" {
		t.Errorf("Keys mismatch (-want +got):\n%s", d)
	}
}

// testEnsureKeyConcurrent is instances starting together on an empty store:
// they must agree on one key, or tokens signed by one would not verify on
// another.
func testEnsureKeyConcurrent(t *testing.T, s baton.Store) {
	const n = 16
	got := make([]*baton.Key, n)
	errs := concurrently(n, func(i int) (err error) {
		got[i], err = s.EnsureKey(ctx, hmacKey(name("rot", i), baton.KeyUseRotation, t0.Add(time.Duration(i)*time.Second)))
		return err
	})
	if c := codes(errs); !mapsEqual(c, map[string]int{"": n}) {
		t.Fatalf("outcomes by code: got %v, want all nil (errors: %v)", c, errs)
	}
	for i := range got {
		if d := diff(got[0], got[i]); d != "" {
			t.Errorf("EnsureKey %d returned another key than call 0 (-call 0 +call %d):\n%s", i, i, d)
		}
	}
	var unretired []*baton.Key
	for _, k := range mustKeys(t, s) {
		if k.Use == baton.KeyUseRotation && k.RetiredAt.IsZero() {
			unretired = append(unretired, k)
		}
	}
	if d := diff([]*baton.Key{got[0]}, unretired); d != "" {
		t.Errorf("unretired rotation keys mismatch (-want +got):\n%s", d)
	}
}

// secretChanges returns the changes giving each key a secret of its own,
// prefixed with tag.
func secretChanges(tag string, keys ...*baton.Key) []baton.KeySecret {
	var cs []baton.KeySecret
	for _, k := range keys {
		cs = append(cs, baton.KeySecret{ID: k.ID, Old: k.Secret, New: []byte(tag + "-" + k.ID)})
	}
	return cs
}

// withSecrets returns copies of keys with the New secrets of changes.
func withSecrets(keys []*baton.Key, changes []baton.KeySecret) []*baton.Key {
	out := make([]*baton.Key, 0, len(keys))
	for _, k := range keys {
		c := *k
		for _, ch := range changes {
			if ch.ID == k.ID {
				c.Secret = ch.New
			}
		}
		out = append(out, &c)
	}
	return out
}

// mustInsertHMACKeys stores a rotation and a CSRF key, as a server's
// first start does.
func mustInsertHMACKeys(t *testing.T, s baton.Store) (rot, csrf *baton.Key) {
	t.Helper()
	rot = hmacKey("rot", baton.KeyUseRotation, t0)
	csrf = hmacKey("csrf", baton.KeyUseCSRF, t0.Add(time.Hour))
	mustInsertKey(t, s, rot)
	mustInsertKey(t, s, csrf)
	return rot, csrf
}

// testReplaceKeySecrets: every named secret changes, nothing else does
// (retired_at included), and an empty list is a no-op.
func testReplaceKeySecrets(t *testing.T, s baton.Store) {
	sig := signingKey("sig", t0)
	sig.RetiredAt = t0.Add(day)
	rot := hmacKey("rot", baton.KeyUseRotation, t0.Add(time.Hour))
	csrf := hmacKey("csrf", baton.KeyUseCSRF, t0.Add(2*time.Hour))
	for _, k := range []*baton.Key{sig, rot, csrf} {
		mustInsertKey(t, s, k)
	}
	if err := s.ReplaceKeySecrets(ctx, nil); err != nil {
		t.Fatalf("ReplaceKeySecrets(nil): got %v, want nil", err)
	}
	changes := secretChanges("sealed", sig, csrf)
	if err := s.ReplaceKeySecrets(ctx, changes); err != nil {
		t.Fatalf("ReplaceKeySecrets: got %v, want nil", err)
	}
	if d := diff(withSecrets([]*baton.Key{sig, rot, csrf}, changes), mustKeys(t, s)); d != "" {
		t.Errorf("Keys after ReplaceKeySecrets mismatch (-want +got):\n%s", d)
	}
}

// testReplaceKeySecretsConflict: one key whose secret is no longer Old
// fails the whole call, and the keys before it in the list keep their
// secrets too.
func testReplaceKeySecretsConflict(t *testing.T, s baton.Store) {
	rot, csrf := mustInsertHMACKeys(t, s)
	changes := secretChanges("sealed", rot, csrf)
	changes[1].Old = []byte("not-its-secret")
	wantCode(t, s.ReplaceKeySecrets(ctx, changes), baton.EConflict)
	if d := diff([]*baton.Key{rot, csrf}, mustKeys(t, s)); d != "" {
		t.Errorf("Keys after a conflict mismatch (-want +got):\n%s", d)
	}
}

func testReplaceKeySecretsNotFound(t *testing.T, s baton.Store) {
	rot := hmacKey("rot", baton.KeyUseRotation, t0)
	mustInsertKey(t, s, rot)
	changes := append(secretChanges("sealed", rot), baton.KeySecret{ID: "nokey", Old: []byte("x"), New: []byte("y")})
	wantCode(t, s.ReplaceKeySecrets(ctx, changes), baton.ENotFound)
	if d := diff([]*baton.Key{rot}, mustKeys(t, s)); d != "" {
		t.Errorf("Keys after ENotFound mismatch (-want +got):\n%s", d)
	}
}

// testReplaceKeySecretsConcurrent is instances starting together, each
// sealing the same plaintext keys: exactly one wins, the others conflict,
// and the stored secrets are all the winner's.
func testReplaceKeySecretsConcurrent(t *testing.T, s baton.Store) {
	rot, csrf := mustInsertHMACKeys(t, s)
	const n = 8
	errs := concurrently(n, func(i int) error {
		return s.ReplaceKeySecrets(ctx, secretChanges(name("instance", i), rot, csrf))
	})
	if c := codes(errs); !mapsEqual(c, map[string]int{"": 1, baton.EConflict: n - 1}) {
		t.Fatalf("outcomes by code: got %v, want one nil and %d conflicts (errors: %v)", c, n-1, errs)
	}
	for i, err := range errs {
		if err == nil {
			want := withSecrets([]*baton.Key{rot, csrf}, secretChanges(name("instance", i), rot, csrf))
			if d := diff(want, mustKeys(t, s)); d != "" {
				t.Errorf("Keys are not all the winner's (-want +got):\n%s", d)
			}
		}
	}
}
