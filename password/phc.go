package password

import (
	"encoding/base64"
	"errors"
	"fmt"
	"strconv"
	"strings"
)

// ErrInvalidHash is wrapped by the errors of a stored hash that cannot be
// used: not argon2id version 19, malformed, not in canonical form, or with
// parameters out of bounds.
var ErrInvalidHash = errors.New("password: invalid hash")

// b64 is the PHC string format's base64: standard alphabet, no padding;
// strict, so each hash has one spelling.
var b64 = base64.RawStdEncoding.Strict()

// maxEncodedLen bounds what decode reads: the longest hash within bounds
// is under 200 bytes.
const maxEncodedLen = 256

// encode returns the PHC string
// $argon2id$v=19$m=<KiB>,t=<passes>,p=<threads>$<salt>$<key>.
func encode(p Params, salt, key []byte) string {
	b := make([]byte, 0, 64+b64.EncodedLen(len(salt))+b64.EncodedLen(len(key)))
	b = append(b, "$argon2id$v=19$m="...)
	b = strconv.AppendUint(b, uint64(p.Memory), 10)
	b = append(b, ",t="...)
	b = strconv.AppendUint(b, uint64(p.Time), 10)
	b = append(b, ",p="...)
	b = strconv.AppendUint(b, uint64(p.Threads), 10)
	b = append(b, '$')
	b = b64.AppendEncode(b, salt)
	b = append(b, '$')
	b = b64.AppendEncode(b, key)
	return string(b)
}

// decode parses a PHC string made by encode. It accepts only the canonical
// form encode produces, and only parameters within the bounds of
// Params.check: a stored hash is input like any other, and an altered one
// must not buy an attacker a gigabyte of memory per login attempt.
func decode(s string) (p Params, salt, key []byte, err error) {
	fail := func(why string) (Params, []byte, []byte, error) {
		return Params{}, nil, nil, fmt.Errorf("%w: %s", ErrInvalidHash, why)
	}
	if len(s) > maxEncodedLen {
		return fail("too long")
	}
	rest, ok := strings.CutPrefix(s, "$argon2id$v=19$m=")
	if !ok {
		return fail("not an argon2id v19 PHC string")
	}
	var m, t, threads uint64
	if m, rest, ok = cutNumber(rest, ",t="); !ok {
		return fail("bad m")
	}
	if t, rest, ok = cutNumber(rest, ",p="); !ok {
		return fail("bad t")
	}
	if threads, rest, ok = cutNumber(rest, "$"); !ok {
		return fail("bad p")
	}
	saltText, keyText, ok := strings.Cut(rest, "$")
	if !ok {
		return fail("no hash")
	}
	if salt, err = b64.DecodeString(saltText); err != nil {
		return fail("salt is not base64")
	}
	if key, err = b64.DecodeString(keyText); err != nil {
		return fail("hash is not base64")
	}
	if m > maxMemory || t > maxTime || threads > maxThreads {
		return fail("parameters out of bounds")
	}
	p = Params{Memory: uint32(m), Time: uint32(t), Threads: uint8(threads), SaltLen: uint32(len(salt)), KeyLen: uint32(len(key))}
	if err := p.check(); err != nil {
		return fail(err.Error())
	}
	// Base64 decoding ignores newlines, which encode never writes; what
	// round-trips is exactly what encode makes.
	if encode(p, salt, key) != s {
		return fail("not in canonical form")
	}
	return p, salt, key, nil
}

// cutNumber parses the decimal number at the start of s up to sep and
// returns it and what follows sep. Signs, leading zeros and numbers of more
// than 10 digits are refused.
func cutNumber(s, sep string) (n uint64, rest string, ok bool) {
	digits, rest, ok := strings.Cut(s, sep)
	if !ok || len(digits) == 0 || len(digits) > 10 || digits[0] == '0' {
		return 0, "", false
	}
	for i := 0; i < len(digits); i++ {
		if digits[i] < '0' || digits[i] > '9' {
			return 0, "", false
		}
	}
	n, err := strconv.ParseUint(digits, 10, 64)
	return n, rest, err == nil
}
