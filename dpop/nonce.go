package dpop

import (
	"crypto/hmac"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/binary"
	"sync/atomic"
	"time"
)

// minNonceKeyBytes is the shortest NonceKey accepted: HMAC-SHA256's full
// strength needs 32 bytes.
const minNonceKeyBytes = 32

// nonces makes and checks server nonces (RFC 9449 §8) without state: the
// nonce of a time bucket (Unix time divided by the lifetime) is an HMAC of
// the bucket number, so any instance with the key can check any other's.
// A nonce proves the proof was made after the nonce was handed out, which
// bounds how long a stolen or pre-computed proof is good for, also across
// instances that do not share a replay cache.
type nonces struct {
	key      []byte
	lifetime int64 // nanoseconds
	leeway   int64 // nanoseconds
	// last caches the nonces of the most recent bucket asked about, so
	// that the HMACs are computed once per lifetime, not per request.
	last atomic.Pointer[nonceBucket]
}

// nonceBucket holds the nonces that are valid during bucket.
type nonceBucket struct {
	bucket              int64
	prev, current, next string
}

// nonceLabel separates these MACs from anything else the key might be
// misused for.
const nonceLabel = "baton dpop nonce v1\x00"

func newNonces(key []byte, lifetime, leeway time.Duration) *nonces {
	return &nonces{key: append([]byte(nil), key...), lifetime: int64(lifetime), leeway: int64(leeway)}
}

func (n *nonces) bucketOf(t int64) int64 {
	b := t / n.lifetime
	if t < 0 && t%n.lifetime != 0 {
		b-- // floor, for clocks before 1970
	}
	return b
}

// at returns the nonces for the bucket holding t.
func (n *nonces) at(t int64) *nonceBucket {
	b := n.bucketOf(t)
	if nb := n.last.Load(); nb != nil && nb.bucket == b {
		return nb
	}
	nb := &nonceBucket{bucket: b, prev: n.mac(b - 1), current: n.mac(b), next: n.mac(b + 1)}
	n.last.Store(nb) // a racing store of another bucket only costs a recomputation
	return nb
}

// mac returns the nonce of bucket b: 128 bits of HMAC-SHA256, base64url,
// which is within RFC 9449's NQCHAR set.
func (n *nonces) mac(b int64) string {
	m := hmac.New(sha256.New, n.key)
	var buf [len(nonceLabel) + 8]byte
	copy(buf[:], nonceLabel)
	binary.BigEndian.PutUint64(buf[len(nonceLabel):], uint64(b))
	m.Write(buf[:])
	var sum [sha256.Size]byte
	return base64.RawURLEncoding.EncodeToString(m.Sum(sum[:0])[:16])
}

func (n *nonces) current(now time.Time) string {
	return n.at(now.UnixNano()).current
}

// valid reports whether nonce is the current bucket's or the previous
// one's; or the next one's when now is within the leeway of its start,
// because another instance whose clock runs a little ahead may already
// hand it out.
func (n *nonces) valid(nonce string, now time.Time) bool {
	t := now.UnixNano()
	nb := n.at(t)
	ok := eq(nonce, nb.current) | eq(nonce, nb.prev)
	if n.bucketOf(t+n.leeway) != nb.bucket {
		ok |= eq(nonce, nb.next)
	}
	return ok == 1
}

// eq compares in constant time: a nonce is no secret once handed out, but
// the one of the next bucket is until then.
func eq(a, b string) int {
	return subtle.ConstantTimeCompare([]byte(a), []byte(b))
}
