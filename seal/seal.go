// Package seal encrypts the server's keys at rest with the operator's
// master key (BATON_MASTER_KEY, AES-256-GCM), so a copy of the database
// alone does not let anyone mint tokens or derive refresh-token successors.
// The key's id and use are authenticated with it, so a sealed secret cannot
// be moved to another key row.
package seal

import (
	"bytes"
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"errors"

	"github.com/batonauth/baton"
)

// magic marks a sealed secret; version 1 is AES-256-GCM with a random
// 96-bit nonce.
var magic = []byte("bsk1")

const nonceSize = 12

// ErrNoMasterKey means a key is sealed but no master key was given.
var ErrNoMasterKey = errors.New("the stored keys are encrypted: set BATON_MASTER_KEY")

// ErrWrongMasterKey means the master key does not open a sealed key.
var ErrWrongMasterKey = errors.New("BATON_MASTER_KEY does not decrypt the stored keys")

// IsSealed reports whether k's secret is sealed.
func IsSealed(k *baton.Key) bool {
	return len(k.Secret) > len(magic)+nonceSize && bytes.HasPrefix(k.Secret, magic)
}

func aead(master []byte) (cipher.AEAD, error) {
	if len(master) != 32 {
		return nil, errors.New("seal: the master key must be 32 bytes")
	}
	b, err := aes.NewCipher(master)
	if err != nil {
		return nil, err
	}
	return cipher.NewGCM(b)
}

func additionalData(k *baton.Key) []byte {
	return []byte("baton-key\x00" + k.ID + "\x00" + k.Use)
}

// Seal returns a copy of k with its secret encrypted under master. A nil
// master returns k unchanged (keys stay in plaintext).
func Seal(master []byte, k *baton.Key) (*baton.Key, error) {
	if master == nil || IsSealed(k) {
		return k, nil
	}
	sealed, err := SealBytes(master, k.Secret, additionalData(k))
	if err != nil {
		return nil, err
	}
	out := *k
	out.Secret = sealed
	return &out, nil
}

// Open returns a copy of k with its secret decrypted. A plaintext key is
// returned unchanged; a sealed one needs the master key it was sealed with.
func Open(master []byte, k *baton.Key) (*baton.Key, error) {
	if !IsSealed(k) {
		return k, nil
	}
	plain, err := OpenBytes(master, k.Secret, additionalData(k))
	if err != nil {
		return nil, err
	}
	out := *k
	out.Secret = plain
	return &out, nil
}

// SealBytes encrypts secret under master, authenticating ad (which names
// what the secret belongs to, so it cannot be moved to another row). A nil
// master returns secret unchanged.
func SealBytes(master, secret, ad []byte) ([]byte, error) {
	if master == nil {
		return secret, nil
	}
	a, err := aead(master)
	if err != nil {
		return nil, err
	}
	buf := make([]byte, len(magic)+nonceSize, len(magic)+nonceSize+len(secret)+a.Overhead())
	copy(buf, magic)
	if _, err := rand.Read(buf[len(magic):]); err != nil {
		return nil, err
	}
	return a.Seal(buf, buf[len(magic):], secret, ad), nil
}

// OpenBytes decrypts what SealBytes sealed with the same ad. A value that
// is not sealed is returned unchanged.
func OpenBytes(master, sealed, ad []byte) ([]byte, error) {
	if len(sealed) <= len(magic)+nonceSize || !bytes.HasPrefix(sealed, magic) {
		return sealed, nil
	}
	if master == nil {
		return nil, ErrNoMasterKey
	}
	a, err := aead(master)
	if err != nil {
		return nil, err
	}
	nonce := sealed[len(magic) : len(magic)+nonceSize]
	plain, err := a.Open(nil, nonce, sealed[len(magic)+nonceSize:], ad)
	if err != nil {
		return nil, ErrWrongMasterKey
	}
	return plain, nil
}
