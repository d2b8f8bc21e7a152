package seal

import (
	"bytes"
	"errors"
	"testing"
	"time"

	"github.com/batonauth/baton"
)

func TestSealOpen(t *testing.T) {
	master := bytes.Repeat([]byte{7}, 32)
	k := &baton.Key{ID: "k1", Use: baton.KeyUseRotation, Secret: bytes.Repeat([]byte{1}, 32), CreatedAt: time.Unix(1, 0)}
	s, err := Seal(master, k)
	if err != nil {
		t.Fatal(err)
	}
	if !IsSealed(s) || bytes.Contains(s.Secret, k.Secret) || IsSealed(k) {
		t.Fatalf("sealed secret: %x", s.Secret)
	}
	o, err := Open(master, s)
	if err != nil || !bytes.Equal(o.Secret, k.Secret) {
		t.Fatalf("Open: %v %x", err, o.Secret)
	}
	tests := []struct {
		name   string
		master []byte
		mod    func(*baton.Key)
		want   error
	}{
		{"NoMasterKey", nil, nil, ErrNoMasterKey},
		{"WrongMasterKey", bytes.Repeat([]byte{8}, 32), nil, ErrWrongMasterKey},
		{"MovedToAnotherKey", master, func(k *baton.Key) { k.ID = "k2" }, ErrWrongMasterKey},
		{"OtherUse", master, func(k *baton.Key) { k.Use = baton.KeyUseCSRF }, ErrWrongMasterKey},
		{"Tampered", master, func(k *baton.Key) { k.Secret[len(k.Secret)-1] ^= 1 }, ErrWrongMasterKey},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := *s
			c.Secret = append([]byte(nil), s.Secret...)
			if tt.mod != nil {
				tt.mod(&c)
			}
			if _, err := Open(tt.master, &c); !errors.Is(err, tt.want) {
				t.Fatalf("got %v, want %v", err, tt.want)
			}
		})
	}
	// Without a master key nothing is sealed, and plaintext keys open as is.
	if p, _ := Seal(nil, k); p != k {
		t.Fatal("Seal without master key changed the key")
	}
	if p, err := Open(master, k); err != nil || p != k {
		t.Fatalf("Open of a plaintext key: %v", err)
	}
}
